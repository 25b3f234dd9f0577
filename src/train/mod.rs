//! Training: the loop (`Trainer`) into a run folder, evaluation, and step recordings for a
//! PyTorch replay.

mod error;
mod evaluate;
mod poke;
mod released;
pub mod replay;
mod trainer;

pub use crate::run_dir::{RunDir, RunDirError};
pub use error::TrainError;
pub use evaluate::{Recomputed, eval_augment, evaluate, evaluate_test, recompute};
pub use poke::{POKE_FACTOR, poke};
pub use released::{ReleasedEval, ReleasedKind, evaluate_released, kind_of};
pub use trainer::{
    Finished, Hooks, Observer, Prerequisite, Start, Trainer, check_memory, preflight, train,
};
