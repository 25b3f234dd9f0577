//! Training: the loop, checkpoints, step recordings.

pub mod checkpoint;
pub mod replay;
mod run;

pub use run::{
    Finished, Observer, TrainError, TrainOptions, check_memory, eval_augment, evaluate,
    evaluate_test, order_stream, train,
};
