//! Optimisers with PyTorch's exact update rules, whose state saves and restores exactly,
//! and learning-rate schedules as pure functions of the step.

mod optimizer;
mod schedule;

pub use optimizer::{OptimConfig, OptimKind, Optimizer, StateMismatch};
pub use schedule::Schedule;
