//! Training: a run folder (`RunDir`), the loop (`Trainer`), evaluation, checkpoints and
//! step recordings.

pub mod checkpoint;
mod evaluate;
pub mod replay;
mod run_dir;
mod trainer;

pub use evaluate::{Recomputed, eval_augment, evaluate, evaluate_test, recompute};
pub use run_dir::{RunDir, RunDirError};
pub use trainer::{
    Finished, Hooks, Observer, Prerequisite, Start, TrainError, Trainer, check_memory, preflight,
    train,
};
