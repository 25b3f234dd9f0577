//! Training: the run config and presets, the loop, checkpoints.

pub mod checkpoint;
mod config;
pub mod replay;
mod run;

pub use config::{
    ConfigError, Determinism, DeviceChoice, LoopConfig, MAX_WIDTH, Preprocess, TRAIN_PRESETS,
    TooManyThreads, TrainConfig, check_threads,
};
pub use run::{
    Finished, Observer, TrainError, TrainOptions, check_memory, eval_augment, evaluate,
    evaluate_test, order_stream, train,
};
