//! Why a claim cannot be judged. Each becomes the reason of a NOT RUN verdict (FAILED in
//! a rehearsal), naming the step.

use super::rehearse::StandInError;
use super::results::ResultsError;
use crate::config::ConfigError;
use crate::data::DataError;
use crate::train::{RunDirError, TrainError};
use std::path::PathBuf;
use std::rc::Rc;
use tch::Device;

/// Why a claim could not be judged, or an audit could not go on.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The claim itself cannot be judged as written.
    #[error("{0}")]
    Claim(String),
    /// Its run's config cannot be resolved.
    #[error("resolving its run: {0}")]
    Config(#[from] ConfigError),
    /// The `--results` file has no usable values for it.
    #[error(transparent)]
    Results(#[from] ResultsError),
    /// It requires CUDA.
    #[error("needs CUDA, and libtorch sees no CUDA device")]
    NeedsCuda,
    /// It requires more device memory than there is.
    #[error("needs {needed} GiB of memory on the training device; {device} has {has:.1} GiB")]
    NeedsMemory {
        /// GiB required.
        needed: f64,
        /// The training device.
        device: String,
        /// GiB it has.
        has: f64,
    },
    /// Its pretrained weights file is absent.
    #[error(
        "needs pretrained weights at {} (torchvision's ImageNet file: cifar-repro weights fetch resnet50)",
        .0.display()
    )]
    NeedsPretrained(PathBuf),
    /// It requires the full data set, and the data given is not.
    #[error(
        "needs the full CIFAR-10 ({} holds {train} + {test} records): run `cifar-repro data fetch` and pass --data data/cifar-10-binary.tar.gz",
        path.display()
    )]
    NeedsFullData {
        /// The data given.
        path: PathBuf,
        /// Its training records.
        train: usize,
        /// Its test records.
        test: usize,
    },
    /// The data could not be read (shared by every run on the same path).
    #[error("reading its data: {0}")]
    Data(Rc<DataError>),
    /// The run would not fit this machine.
    #[error(transparent)]
    TooBig(TrainError),
    /// A run folder cannot be made or read.
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    /// A rehearsal's stand-in weights cannot be made.
    #[error(transparent)]
    StandIn(#[from] StandInError),
    /// A run stopped with an error.
    #[error("{0}")]
    Train(TrainError),
    /// A run it depends on failed (named).
    #[error("{0}")]
    RunFailed(String),
    /// A run's manifest cannot be read.
    #[error("reading a run's manifest: {0}")]
    Manifest(String),
    /// `at_epoch` or `since_epoch` beyond the run's epochs.
    #[error("the claim reads epoch {epoch}, but its run has {epochs}")]
    NoEpoch {
        /// The epoch the claim reads.
        epoch: usize,
        /// The run's epochs.
        epochs: usize,
    },
    /// A program's recorded seeds are not the audit's.
    #[error("the seed check failed: {0}")]
    SeedCheck(String),
    /// After a merge, this many of its runs are in no shard.
    #[error("{0} of its runs are in none of the merged folders (did every shard finish?)")]
    NotMerged(usize),
    /// In a shard, this many of its runs belong to other shards.
    #[error("{0} of its runs are left to other shards")]
    LeftToShards(usize),
    /// A program's run failed to start or be read.
    #[error(transparent)]
    Program(#[from] crate::program::ProgramError),
    /// It runs a command, and `--allow-commands` was not given.
    #[error(
        "runs the command of runner {0}, and commands run only with --allow-commands (a claim file that runs commands is code: read it first)"
    )]
    CommandsNotAllowed(String),
    /// It runs a command, which a rehearsal cannot scale down.
    #[error(
        "runs the command of runner {0}; a rehearsal cannot cut a program's scale, so audit it without --rehearse"
    )]
    NoProgramRehearsal(String),
}

impl AuditError {
    /// Whether this is a requirement the machine or the data at hand lacks (CUDA, memory,
    /// the full set, the weights, a shard's share), rather than something wrong.
    pub fn is_requirement(&self) -> bool {
        matches!(
            self,
            AuditError::NeedsCuda
                | AuditError::NeedsMemory { .. }
                | AuditError::NeedsPretrained(_)
                | AuditError::NeedsFullData { .. }
                | AuditError::TooBig(_)
                | AuditError::LeftToShards(_)
        )
    }
}

/// The error when `device` has less than `gib` GiB of memory; none when it has enough or
/// its memory cannot be read (then the requirement is only noted in the claim file).
pub fn memory_shortfall(gib: f64, device: Device) -> Option<AuditError> {
    let has = crate::runtime::device_memory_bytes(device)? as f64 / (1u64 << 30) as f64;
    (has < gib).then(|| AuditError::NeedsMemory {
        needed: gib,
        device: crate::runtime::device_name(device),
        has,
    })
}
