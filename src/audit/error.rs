//! Why a claim cannot be judged. Each becomes the reason of a NOT RUN verdict.

use super::results::ResultsError;
use crate::config::ConfigError;
use crate::data::DataError;
use crate::train::{RunDirError, TrainError};
use std::path::PathBuf;
use std::rc::Rc;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Results(#[from] ResultsError),
    #[error("needs CUDA, and libtorch sees no CUDA device")]
    NeedsCuda,
    #[error(
        "needs pretrained weights at {} (torchvision's ImageNet file; see the README)",
        .0.display()
    )]
    NeedsPretrained(PathBuf),
    #[error(
        "needs the full CIFAR-10 ({} holds {train} + {test} records): run `cifar-repro data fetch` and pass --data data/cifar-10-binary.tar.gz",
        path.display()
    )]
    NeedsFullData {
        path: PathBuf,
        train: usize,
        test: usize,
    },
    /// The data could not be read (shared by every run on the same path).
    #[error("cannot read its data: {0}")]
    Data(Rc<DataError>),
    /// The run would not fit this machine.
    #[error(transparent)]
    TooBig(TrainError),
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    #[error("a run failed: {0}")]
    RunFailed(TrainError),
    #[error("a finished run without epochs")]
    NoEpochs,
    #[error("{0} of its runs are in none of the merged folders (did every shard finish?)")]
    NotMerged(usize),
    #[error("{0} of its runs are left to other shards")]
    LeftToShards(usize),
}
