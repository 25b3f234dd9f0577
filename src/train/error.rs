//! Why a run cannot start or stopped early: the training module's one error type, which
//! the loop and evaluation share.

use crate::augment::AugmentError;
use crate::config::ConfigError;
use crate::data::DataError;
use crate::manifest::Diverged;
use crate::model::ModelError;
use crate::run_dir::{CheckpointError, RunDirError};
use std::path::PathBuf;

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Augment(#[from] AugmentError),
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    #[error(transparent)]
    Data(#[from] DataError),

    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(
        "the run diverged {}: its manifest is marked diverged; lower the learning rate",
        .0.describe()
    )]
    Diverged(Diverged),
    #[error(
        "{}: the run diverged {}; a diverged run cannot be continued: train it again with a lower learning rate",
        dir.display(), diverged.describe()
    )]
    ResumeDiverged { dir: PathBuf, diverged: Diverged },
    #[error(
        "{}: the data given now differ from the data the run trained on (their files' SHA-256); resume with the run's own data",
        .0.display()
    )]
    DataChanged(PathBuf),
    #[error(
        "{}: its weights are not the weights the manifest records after epoch {epoch}",
        dir.display()
    )]
    CheckpointMismatch { dir: PathBuf, epoch: usize },
    #[error("{}: has a checkpoint but no manifest.json; the folder is not whole", .0.display())]
    NoManifest(PathBuf),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(
        "this run starts from the final weights of a run of {spec} with the same seed ({seed}) and data (init_from): train one (cifar-repro train --config {spec} --seed {seed}) and pass its folder with --init-from RUN_DIR; an audit trains it itself"
    )]
    NeedsPrerequisite { spec: String, seed: u64 },
    #[error("--init-from: the config has no init_from, so it starts from no other run")]
    NoInitFrom,
    #[error("{}: the run to start from is not usable: {why}", dir.display())]
    Prerequisite { dir: PathBuf, why: String },

    #[error("{images} training images make no full batch of {batch_size}")]
    NoFullBatch { images: usize, batch_size: usize },

    #[error("reading a tensor back from libtorch: {0}")]
    Tensor(#[from] tch::TchError),
    #[error(
        "this run needs about {needed_gib:.1} GiB at its peak, {what} (model.width {width}, {side}x{side} images), but the machine has {available_gib:.1} GiB available; lower model.width, the batch or the image size"
    )]
    TooBig {
        needed_gib: f64,
        available_gib: f64,
        width: i64,
        side: i64,
        what: String,
    },
    #[error(transparent)]
    Record(#[from] super::replay::RecordError),
    #[error(
        "cannot serialise a batch's augmentation parameters for the manifest's fingerprint: {0}"
    )]
    Fingerprint(serde_json::Error),
    #[error("the numerics probe failed: {0}")]
    Probe(tch::TchError),
}
