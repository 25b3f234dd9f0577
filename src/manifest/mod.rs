//! What a run writes about itself: `manifest.json` (rewritten atomically after every
//! epoch) and `metrics.jsonl` (one line per epoch); comparing two runs (`compare`).

pub mod compare;

use crate::config::{ConfigError, TrainConfig};
use crate::data::{Cifar10, FileSummary, SourceKind};
use crate::determinism::{Flags, NumericsClass, SeedTree, stream_names};
use crate::fsutil::write_atomic;
use crate::hash::sha256_hex;
use crate::metrics::Metrics;
use crate::runtime::RuntimeInfo;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Completed,
    Diverged,
}

/// The data a run read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataRecord {
    pub path: PathBuf,
    pub kind: SourceKind,
    pub full: bool,
    pub train_records: usize,
    /// Training images actually used (`loop.train_limit`).
    pub train_used: usize,
    pub test_records: usize,
    pub files: Vec<FileSummary>,
}

/// The seed tree: the root and how every stream is named.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedRecord {
    pub root: u64,
    /// Stream names, with E for the epoch and B for the batch.
    pub streams: Vec<String>,
    /// The seed libtorch's generator got just before the initial weights were drawn (the
    /// `init` stream's value): `cifar-repro weights init --torch-seed` with it, or
    /// `torch.manual_seed` with it before building the torchvision model, gives the same
    /// initial weights. Absent in manifests older than the torchvision initialisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_torch_seed: Option<i64>,
}

/// Loss and a cheap weights digest at one step, to find a divergence inside an epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TracePoint {
    /// Global optimiser step (1-based: after this many updates).
    pub step: usize,
    pub loss: f64,
    pub weights_digest: String,
}

/// One epoch's fingerprints and metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    /// SHA-256 of the epoch's data order (little-endian u64 indices).
    pub order_sha256: String,
    /// SHA-256 of every batch's augmentation parameters (their JSON, in order).
    pub augment_sha256: String,
    /// SHA-256 of every variable after the epoch.
    pub weights_sha256: String,
    /// Learning rate of the epoch's last step.
    pub lr: f64,
    pub steps: usize,
    pub train: Metrics,
    pub test: Metrics,
    pub seconds: f64,
    /// Wall time of the training pass (batches and steps, not the evaluation): the gap
    /// to `step_seconds` is time spent waiting for input that prefetching did not hide.
    #[serde(default)]
    pub train_seconds: f64,
    /// Time spent inside training steps (forward, backward, update).
    pub step_seconds: f64,
    pub trace: Vec<TracePoint>,
}

/// The run a two-stage run started from (`init_from`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InitRecord {
    /// Its folder, as given.
    pub run: PathBuf,
    pub config_sha256: String,
    /// Its final weights' SHA-256, which this run's `initial_weights_sha256` equals.
    pub final_weights_sha256: String,
}

/// Where and how a run diverged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diverged {
    pub epoch: usize,
    pub step: usize,
    pub loss: f64,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub status: RunStatus,
    pub config: TrainConfig,
    /// SHA-256 of the resolved config's TOML.
    pub config_sha256: String,
    pub seeds: SeedRecord,
    pub runtime: RuntimeInfo,
    /// The numerics class the run trained in (absent in manifests older than the probe).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numerics: Option<crate::determinism::NumericsClass>,
    pub device: String,
    /// The determinism mode and every flag as read back from libtorch.
    pub determinism: crate::determinism::Flags,
    pub data: DataRecord,
    /// The run whose final weights this one started from (two-stage training).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<InitRecord>,
    /// SHA-256 of every variable before the first step (absent in older manifests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_weights_sha256: Option<String>,
    pub epochs: Vec<EpochRecord>,
    /// Epochs finished when the run was resumed, once per resume.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resumed_at_epochs: Vec<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_test: Option<Metrics>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diverged: Option<Diverged>,
    pub wall_seconds: f64,
}

/// A run directory that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a cifar-repro manifest ({message})")]
    Parse { path: PathBuf, message: String },
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
        let tree = SeedTree::new(config.run.seed);
        Ok(Self {
            status: RunStatus::Running,
            config: config.clone(),
            config_sha256: sha256_hex(config.to_toml()?.as_bytes()),
            seeds: SeedRecord {
                root: config.run.seed,
                streams: stream_names::recorded(),
                init_torch_seed: Some(tree.seed(stream_names::INIT)),
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
        })
    }

    /// Writes `dir/manifest.json` atomically.
    pub fn write(&self, dir: &Path) -> Result<(), ManifestError> {
        let path = dir.join("manifest.json");
        let text = serde_json::to_string_pretty(self).map_err(|e| ManifestError::Parse {
            path: path.clone(),
            message: e.to_string(),
        })?;
        write_atomic(&path, text.as_bytes()).map_err(|source| ManifestError::Io { path, source })
    }

    /// The manifest of `dir` when it is a run that completed; none for a missing,
    /// unreadable, running or diverged one.
    pub fn read_completed(dir: &Path) -> Option<Self> {
        Self::read(dir)
            .ok()
            .filter(|m| m.status == RunStatus::Completed)
    }

    /// Reads `dir/manifest.json`.
    pub fn read(dir: &Path) -> Result<Self, ManifestError> {
        let path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&path).map_err(|source| ManifestError::Io {
            path: path.clone(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|e| ManifestError::Parse {
            path,
            message: e.to_string(),
        })
    }
}

fn metrics_line(record: &EpochRecord) -> String {
    serde_json::json!({
        "epoch": record.epoch, "lr": record.lr, "steps": record.steps, "seconds": record.seconds,
        "train_seconds": record.train_seconds, "step_seconds": record.step_seconds,
        "train": record.train, "test": record.test,
    })
    .to_string()
}

/// Adds one epoch's line to `dir/metrics.jsonl`, atomically (the whole file is rewritten
/// through a temporary: a crash leaves the old file or the new one, never half a line).
pub fn append_metrics(dir: &Path, record: &EpochRecord) -> Result<(), ManifestError> {
    let path = dir.join("metrics.jsonl");
    let io = |source| ManifestError::Io {
        path: path.clone(),
        source,
    };
    let mut text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(io(e)),
    };
    text.push_str(&metrics_line(record));
    text.push('\n');
    write_atomic(&path, text.as_bytes()).map_err(io)
}

/// Rewrites `dir/metrics.jsonl` atomically to hold exactly `epochs` (on resume).
pub fn rewrite_metrics(dir: &Path, epochs: &[EpochRecord]) -> Result<(), ManifestError> {
    let path = dir.join("metrics.jsonl");
    let text: String = epochs.iter().map(|e| metrics_line(e) + "\n").collect();
    write_atomic(&path, text.as_bytes()).map_err(|source| ManifestError::Io { path, source })
}
