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
    /// The model cannot be built or its weights loaded.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The pipeline failed on a batch.
    #[error(transparent)]
    Augment(#[from] AugmentError),
    /// The run folder cannot be made, read or written.
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    /// The data cannot be read.
    #[error(transparent)]
    Data(#[from] DataError),

    /// A checkpoint cannot be written or read back.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The loss stopped being finite.
    #[error(
        "the run diverged {}: its manifest is marked diverged; lower the learning rate",
        .0.describe()
    )]
    Diverged(Diverged),
    /// A diverged run asked to resume.
    #[error(
        "{}: the run diverged {}; a diverged run cannot be continued: train it again with a lower learning rate",
        dir.display(), diverged.describe()
    )]
    ResumeDiverged {
        /// The run folder.
        dir: PathBuf,
        /// Where it diverged.
        diverged: Diverged,
    },
    /// Resuming on other data than the run trained on.
    #[error(
        "{}: the data given now differ from the data the run trained on (their files' SHA-256); resume with the run's own data",
        .0.display()
    )]
    DataChanged(PathBuf),
    /// A checkpoint whose weights the manifest does not record.
    #[error(
        "{}: its weights are not the weights the manifest records after epoch {epoch}",
        dir.display()
    )]
    CheckpointMismatch {
        /// The checkpoint.
        dir: PathBuf,
        /// The epoch it was written after.
        epoch: usize,
    },
    /// A checkpoint in a folder with no manifest.
    #[error("{}: has a checkpoint but no manifest.json; the folder is not whole", .0.display())]
    NoManifest(PathBuf),
    /// The config cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A two-stage run given no run to start from.
    #[error(
        "this run starts from the final weights of a run of {spec} with the same seed ({seed}) and data (init_from): train one (cifar-repro train --config {spec} --seed {seed}) and pass its folder with --init-from RUN_DIR; an audit trains it itself"
    )]
    NeedsPrerequisite {
        /// The `init_from` run's preset or file.
        spec: String,
        /// The seed it must have.
        seed: u64,
    },
    /// `--init-from` for a config without `init_from`.
    #[error("--init-from: the config has no init_from, so it starts from no other run")]
    NoInitFrom,
    /// The run to start from is unfinished or of another recipe.
    #[error("{}: the run to start from is not usable: {why}", dir.display())]
    Prerequisite {
        /// Its folder.
        dir: PathBuf,
        /// What is wrong with it.
        why: String,
    },

    /// Fewer training images than one batch.
    #[error("{images} training images make no full batch of {batch_size}")]
    NoFullBatch {
        /// The training images used.
        images: usize,
        /// The batch size.
        batch_size: usize,
    },

    /// A released checkpoint that cannot be evaluated.
    #[error("{}: cannot evaluate this checkpoint: {why}", path.display())]
    Released {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// libtorch failed.
    #[error("reading a tensor back from libtorch: {0}")]
    Tensor(#[from] tch::TchError),
    /// The run's estimated peak memory is above what the machine has.
    #[error(
        "this run needs about {needed_gib:.1} GiB at its peak, {what} (model.width {width}, {side}x{side} images), but the machine has {available_gib:.1} GiB available; lower model.width, the batch or the image size"
    )]
    TooBig {
        /// The estimate.
        needed_gib: f64,
        /// What is available.
        available_gib: f64,
        /// The model's width.
        width: i64,
        /// The image side.
        side: i64,
        /// The step the peak comes in: a training step or an evaluation batch.
        what: String,
    },
    /// The step recording cannot be written.
    #[error(transparent)]
    Record(#[from] super::replay::RecordError),
    /// A batch's parameters cannot be serialised.
    #[error(
        "cannot serialise a batch's augmentation parameters for the manifest's fingerprint: {0}"
    )]
    Fingerprint(serde_json::Error),
    /// The numerics probe failed.
    #[error("the numerics probe failed: {0}")]
    Probe(tch::TchError),
}
