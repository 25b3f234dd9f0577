//! What a run records about itself (the manifest, sealed by a digest of its content, and
//! the line per epoch of its metrics log), and comparing two runs (`compare`). Where these
//! live on disk is the run folder's business (`run_dir`).

pub mod compare;

use crate::config::{ConfigError, TrainConfig};
use crate::data::{Cifar10, FileSummary, SourceKind};
use crate::determinism::{Flags, NumericsClass, SeedTree, stream_names};
use crate::hash::sha256_hex;
use crate::metrics::Metrics;
use crate::runtime::RuntimeInfo;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Training, or killed while training: `train --resume` continues it.
    Running,
    /// Every epoch trained and the final test metrics recorded.
    Completed,
    /// Stopped at a loss that was not finite.
    Diverged,
}

/// The data a run read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataRecord {
    /// The data's path.
    pub path: PathBuf,
    /// A folder or an archive.
    pub kind: SourceKind,
    /// Whether it is the whole official set (50,000 + 10,000).
    pub full: bool,
    /// Training records in the source.
    pub train_records: usize,
    /// Training images actually used (`loop.train_limit`).
    pub train_used: usize,
    /// Test records in the source.
    pub test_records: usize,
    /// Every file, with its SHA-256.
    pub files: Vec<FileSummary>,
}

/// The seed tree: the root and how every stream is named.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedRecord {
    /// The root seed.
    pub root: u64,
    /// Stream names, with E for the epoch and B for the batch.
    pub streams: Vec<String>,
    /// The seed libtorch's generator got just before the initial weights were drawn (the
    /// `init` stream's value): `cifar-repro weights init --torch-seed` with it, or
    /// `torch.manual_seed` with it before building the torchvision model, gives the same
    /// initial weights. Absent in manifests older than the torchvision initialisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_torch_seed: Option<i64>,
    /// Sources whose streams drew from a root of their own (a variance study's arm).
    #[serde(
        default,
        skip_serializing_if = "crate::determinism::SourceRoots::is_empty"
    )]
    pub sources: crate::determinism::SourceRoots,
    /// The one weight a numerics poke multiplied, and by what.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poke: Option<Poke>,
}

/// A numerics "poke": one weight multiplied by `factor` right after initialisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Poke {
    /// The tensor's name.
    pub tensor: String,
    /// The element's index in the tensor, flattened.
    pub index: i64,
    /// What the element was multiplied by.
    pub factor: f64,
}

/// Loss and a cheap weights digest at one step, to find a divergence inside an epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TracePoint {
    /// Global optimiser step (1-based: after this many updates).
    pub step: usize,
    /// The step's training loss.
    #[serde(with = "crate::metrics::float")]
    pub loss: f64,
    /// A cheap digest of the weights after the step.
    pub weights_digest: String,
}

/// One epoch's fingerprints and metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// The epoch, 0-based.
    pub epoch: usize,
    /// SHA-256 of the epoch's data order (little-endian u64 indices).
    pub order_sha256: String,
    /// SHA-256 of every batch's augmentation parameters (their JSON, in order), Mixup and
    /// CutMix left out.
    pub augment_sha256: String,
    /// SHA-256 of what the augmentation streams drew, without the images' indices (so the
    /// data order does not move it) and without the mix (absent in older manifests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draws_sha256: Option<String>,
    /// SHA-256 of every batch's Mixup or CutMix parameters, when the run mixes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mix_sha256: Option<String>,
    /// SHA-256 of every variable after the epoch.
    pub weights_sha256: String,
    /// Learning rate of the epoch's last step.
    pub lr: f64,
    /// Optimiser steps taken in the epoch.
    pub steps: usize,
    /// Metrics of the epoch's training batches, as trained.
    pub train: Metrics,
    /// Metrics of the test split after the epoch.
    pub test: Metrics,
    /// Wall time of the epoch, evaluation included.
    pub seconds: f64,
    /// Wall time of the training pass (batches and steps, not the evaluation): the gap
    /// to `step_seconds` is time spent waiting for input that prefetching did not hide.
    #[serde(default)]
    pub train_seconds: f64,
    /// Time spent inside training steps (forward, backward, update).
    pub step_seconds: f64,
    /// Every `loop.trace_every`-th step.
    pub trace: Vec<TracePoint>,
}

/// The run a two-stage run started from (`init_from`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InitRecord {
    /// Its folder, as given.
    pub run: PathBuf,
    /// Its config's SHA-256.
    pub config_sha256: String,
    /// Its final weights' SHA-256, which this run's `initial_weights_sha256` equals.
    pub final_weights_sha256: String,
}

/// What a run was doing when its loss stopped being finite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// A training step's loss.
    #[default]
    Training,
    /// The test split's loss after an epoch.
    Evaluation,
}

/// Where and how a run diverged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diverged {
    /// The epoch (0-based, as `EpochRecord::epoch`) and the optimiser steps taken.
    pub epoch: usize,
    /// Optimiser steps taken before it.
    pub step: usize,
    /// The loss that was not finite.
    #[serde(with = "crate::metrics::float")]
    pub loss: f64,
    /// Training or evaluation.
    #[serde(default)]
    pub phase: Phase,
}

impl Diverged {
    /// "at epoch 2, step 14 (loss NaN in training)".
    pub fn describe(&self) -> String {
        let phase = match self.phase {
            Phase::Training => "in training",
            Phase::Evaluation => "on the test split",
        };
        format!(
            "at epoch {}, step {} (loss {} {phase})",
            self.epoch + 1,
            self.step,
            self.loss
        )
    }
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Where the run stands.
    pub status: RunStatus,
    /// The resolved config it trained with.
    pub config: TrainConfig,
    /// SHA-256 of the resolved config's TOML.
    pub config_sha256: String,
    /// Its seed tree.
    pub seeds: SeedRecord,
    /// cifar-repro, libtorch, CUDA and threads.
    pub runtime: RuntimeInfo,
    /// The numerics class the run trained in (absent in manifests older than the probe).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numerics: Option<crate::determinism::NumericsClass>,
    /// The device it trained on.
    pub device: String,
    /// The determinism mode and every flag as read back from libtorch.
    pub determinism: crate::determinism::Flags,
    /// The data it read.
    pub data: DataRecord,
    /// The run whose final weights this one started from (two-stage training).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<InitRecord>,
    /// SHA-256 of every variable before the first step (absent in older manifests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_weights_sha256: Option<String>,
    /// Each finished epoch.
    pub epochs: Vec<EpochRecord>,
    /// Epochs finished when the run was resumed, once per resume.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resumed_at_epochs: Vec<usize>,
    /// The final test metrics, once completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_test: Option<Metrics>,
    /// Where it diverged, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diverged: Option<Diverged>,
    /// Wall time of the whole run so far.
    pub wall_seconds: f64,
    /// SHA-256 of this manifest's JSON without this field, set when written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// A manifest that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not JSON of a manifest.
    #[error("not a cifar-repro manifest ({0})")]
    Parse(String),
    /// No content digest.
    #[error(
        "has no digest of its content: written by a cifar-repro older than 0.2, or edited; remove the run folder to train it again"
    )]
    Unsealed,
    /// The content digest does not match.
    #[error("does not match the digest of its content: it was edited after cifar-repro wrote it")]
    Tampered,
}

impl Manifest {
    /// The manifest of a run about to start: its config, seeds, runtime, numerics class,
    /// device, determinism flags and data; no epochs yet.
    pub fn start(
        config: &TrainConfig,
        data: &Cifar10,
        train_used: usize,
        device: tch::Device,
        determinism: Flags,
        numerics: NumericsClass,
    ) -> Result<Self, ConfigError> {
        let tree = SeedTree::with_sources(config.loop_.seed, config.loop_.sources);
        Ok(Self {
            status: RunStatus::Running,
            config: config.clone(),
            config_sha256: sha256_hex(config.to_toml()?.as_bytes()),
            seeds: SeedRecord {
                root: config.loop_.seed,
                streams: stream_names::recorded(),
                init_torch_seed: Some(tree.seed(stream_names::INIT)),
                sources: config.loop_.sources,
                poke: None,
            },
            runtime: RuntimeInfo::current(),
            numerics: Some(numerics),
            device: format!("{device:?}"),
            determinism,
            data: DataRecord {
                path: data.path.clone(),
                kind: data.kind,
                full: data.is_full(),
                train_records: data.train.len(),
                train_used,
                test_records: data.test.len(),
                files: data.files.clone(),
            },
            init_from: None,
            initial_weights_sha256: None,
            epochs: Vec::new(),
            resumed_at_epochs: Vec::new(),
            final_test: None,
            diverged: None,
            wall_seconds: 0.0,
            digest: None,
        })
    }

    /// The manifest as JSON, sealed: `digest` set to the SHA-256 of the manifest's JSON
    /// without it, so that an edit anywhere is found on reading.
    pub fn to_sealed_json(&mut self) -> Result<String, ManifestError> {
        self.digest = Some(self.content_digest()?);
        serde_json::to_string_pretty(self).map_err(|e| ManifestError::Parse(e.to_string()))
    }

    /// A manifest from sealed JSON; refused when it does not parse, has no digest, or its
    /// content does not match its digest.
    pub fn from_sealed_json(text: &str) -> Result<Self, ManifestError> {
        let manifest: Self =
            serde_json::from_str(text).map_err(|e| ManifestError::Parse(e.to_string()))?;
        match &manifest.digest {
            None => Err(ManifestError::Unsealed),
            Some(digest) if *digest != manifest.content_digest()? => Err(ManifestError::Tampered),
            Some(_) => Ok(manifest),
        }
    }

    fn content_digest(&self) -> Result<String, ManifestError> {
        let unsealed = Self {
            digest: None,
            ..self.clone()
        };
        let bytes =
            serde_json::to_vec(&unsealed).map_err(|e| ManifestError::Parse(e.to_string()))?;
        Ok(sha256_hex(&bytes))
    }
}

/// One epoch's line of `metrics.jsonl`: what a plotting tool reads, derived from the
/// manifest's record of the epoch.
pub fn metrics_line(record: &EpochRecord) -> String {
    serde_json::json!({
        "epoch": record.epoch, "lr": record.lr, "steps": record.steps, "seconds": record.seconds,
        "train_seconds": record.train_seconds, "step_seconds": record.step_seconds,
        "train": record.train, "test": record.test,
    })
    .to_string()
}
