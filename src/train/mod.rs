//! Training: the run config and presets, the loop, checkpoints.

pub mod checkpoint;
mod config;
mod run;

pub use config::{
    ConfigError, Determinism, DeviceChoice, LoopConfig, Preprocess, TRAIN_PRESETS, TrainConfig,
};
pub use run::{
    Finished, Observer, TrainError, eval_augment, evaluate, evaluate_test, order_stream, train,
};
