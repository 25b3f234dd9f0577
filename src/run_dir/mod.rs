//! A run folder, as one type: the only owner of every file name in it, of both halves of
//! the checkpoint format, and the only way anything reaches those files. A run folder is
//! cifar-repro's own record: it is whole and true, or it is refused by name.
//!
//! ```text
//! RUN/.cifar-repro        the marker: cifar-repro made this folder (written first)
//! RUN/.lock               locked (flock) by the one process writing the folder
//! RUN/config.toml         the resolved config
//! RUN/manifest.json       rewritten atomically after every epoch, sealed by a digest
//! RUN/metrics.jsonl       one line per epoch, derived from the manifest
//! RUN/checkpoints/epoch-NNNN/   the newest loop.checkpoints_kept, each hash-checked
//! RUN/replay/             the first steps, with --record-steps
//! RUN/report.html, curves.svg, confusion.svg, misclassified.{png,json,safetensors}
//! ```

pub mod checkpoint;
mod error;

pub use checkpoint::{Checkpoint, CheckpointError, CheckpointState};
pub use error::RunDirError;

use crate::config::TrainConfig;
use crate::fsutil::{FolderLock, LOCK_FILE, MARKER, is_leftover, remove_leftovers, write_atomic};
use crate::manifest::{EpochRecord, Manifest, RunStatus, metrics_line};
use crate::model::Model;
use crate::optim::Optimizer;
use std::path::{Path, PathBuf};
use tch::Tensor;

const CONFIG: &str = "config.toml";
const MANIFEST: &str = "manifest.json";
const METRICS: &str = "metrics.jsonl";
const CHECKPOINTS: &str = "checkpoints";
const REPLAY: &str = "replay";

/// The largest manifest read (a run of 100,000 epochs with a trace every step would be
/// larger; any real one is far smaller).
const MAX_MANIFEST_BYTES: u64 = 256 << 20;

/// The files of a run's report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFile {
    /// `report.html`.
    Html,
    /// `curves.svg`, the learning curves.
    Curves,
    /// `confusion.svg`, the test confusion matrix.
    Confusion,
    /// `misclassified.png`, a grid of misclassified test images.
    MisclassifiedPng,
    /// The misclassified examples' labels, for re-rendering.
    MisclassifiedJson,
    /// Their images, for re-rendering.
    MisclassifiedImages,
}

impl ReportFile {
    const ALL: [ReportFile; 6] = [
        ReportFile::Html,
        ReportFile::Curves,
        ReportFile::Confusion,
        ReportFile::MisclassifiedPng,
        ReportFile::MisclassifiedJson,
        ReportFile::MisclassifiedImages,
    ];

    fn name(self) -> &'static str {
        match self {
            ReportFile::Html => "report.html",
            ReportFile::Curves => "curves.svg",
            ReportFile::Confusion => "confusion.svg",
            ReportFile::MisclassifiedPng => "misclassified.png",
            ReportFile::MisclassifiedJson => "misclassified.json",
            ReportFile::MisclassifiedImages => "misclassified.safetensors",
        }
    }
}

/// Whether `name`, an entry directly in a run folder, is one cifar-repro writes there.
fn is_ours(name: &str) -> bool {
    [
        MARKER,
        LOCK_FILE,
        CONFIG,
        MANIFEST,
        METRICS,
        CHECKPOINTS,
        REPLAY,
    ]
    .contains(&name)
        || ReportFile::ALL.iter().any(|f| f.name() == name)
        || is_leftover(name)
}

/// A run folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// A new run at `path`, locked for this process until the lock returned is dropped. A
    /// folder holding anything but the leftovers of interrupted writes is refused, unless
    /// `overwrite`, it carries cifar-repro's marker and holds only files cifar-repro
    /// writes, and no other process holds it: then those are removed (nothing else ever
    /// is).
    pub fn create(path: &Path, overwrite: bool) -> Result<(Self, FolderLock), RunDirError> {
        let io = |source| RunDirError::Io {
            path: path.to_owned(),
            source,
        };
        // A path that cannot be listed (absent, or not a folder) is left to create_dir_all,
        // whose error says why.
        let entries: Vec<String> = std::fs::read_dir(path)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !is_leftover(n))
                    .collect()
            })
            .unwrap_or_default();
        let dir = Self::open(path);
        if !entries.is_empty() {
            dir.check_clearable(&entries, overwrite)?;
        }
        std::fs::create_dir_all(path).map_err(|source| RunDirError::Create {
            path: path.to_owned(),
            source,
        })?;
        write_atomic(&path.join(MARKER), b"a run folder of cifar-repro\n").map_err(io)?;
        let lock = dir.lock()?;
        dir.clear(&entries)?;
        dir.clean_leftovers();
        Ok((dir, lock))
    }

    /// Locks the folder for writing (training, resuming), or names the process that
    /// holds it.
    pub fn lock(&self) -> Result<FolderLock, RunDirError> {
        Ok(crate::fsutil::lock_folder(&self.path)?)
    }

    /// Whether an existing run's files may be removed before a new run, or why not.
    fn check_clearable(&self, entries: &[String], overwrite: bool) -> Result<(), RunDirError> {
        if !overwrite {
            return Err(RunDirError::Occupied(self.path.clone()));
        }
        if !self.path.join(MARKER).is_file() {
            return Err(RunDirError::NotARun(self.path.clone()));
        }
        let foreign: Vec<String> = entries.iter().filter(|n| !is_ours(n)).cloned().collect();
        if !foreign.is_empty() {
            return Err(RunDirError::Foreign {
                path: self.path.clone(),
                files: foreign.join(", "),
            });
        }
        Ok(())
    }

    /// Removes an existing run's files (checked by [`Self::check_clearable`]), but for
    /// its marker and the lock this process holds.
    fn clear(&self, entries: &[String]) -> Result<(), RunDirError> {
        for name in entries
            .iter()
            .filter(|n| ![MARKER, LOCK_FILE].contains(&n.as_str()))
        {
            let entry = self.path.join(name);
            std::fs::remove_dir_all(&entry)
                .or_else(|_| std::fs::remove_file(&entry))
                .map_err(|source| RunDirError::Clear {
                    path: entry.clone(),
                    source,
                })?;
        }
        Ok(())
    }

    /// An existing run folder, to resume, evaluate or read.
    pub fn open(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
        }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the resolved config (`config.toml`), which is what a resume reads.
    pub fn write_config(&self, config: &TrainConfig) -> Result<(), RunDirError> {
        let path = self.path.join(CONFIG);
        write_atomic(&path, config.to_toml()?.as_bytes())
            .map_err(|source| RunDirError::Io { path, source })
    }

    /// The config file a run was started with, to resume it.
    pub fn config_source(&self) -> Result<PathBuf, RunDirError> {
        let path = self.path.join(CONFIG);
        if path.is_file() {
            Ok(path)
        } else {
            Err(RunDirError::NotResumable(self.path.clone()))
        }
    }

    /// The run's manifest, checked: its digest matches its content, `config.toml` is the
    /// config it records, and `metrics.jsonl` holds exactly its epochs (a running run's may
    /// hold one more, written just before a crash). A folder that fails is refused,
    /// naming the file.
    pub fn manifest(&self) -> Result<Manifest, RunDirError> {
        let path = self.path.join(MANIFEST);
        let text = crate::fsutil::read_capped(&path, MAX_MANIFEST_BYTES).map_err(|source| {
            RunDirError::Io {
                path: path.clone(),
                source,
            }
        })?;
        let manifest =
            Manifest::from_sealed_json(&text).map_err(|source| RunDirError::Manifest {
                path: path.clone(),
                source,
            })?;
        self.check_config(&manifest)?;
        self.check_metrics(&manifest)?;
        Ok(manifest)
    }

    /// The manifest, or none when the run has not written one yet.
    pub fn manifest_if_written(&self) -> Result<Option<Manifest>, RunDirError> {
        if !self.path.join(MANIFEST).exists() {
            return Ok(None);
        }
        self.manifest().map(Some)
    }

    /// Whether the folder holds a run that completed (checked as [`RunDir::manifest`]).
    pub fn completed(&self) -> bool {
        self.manifest()
            .is_ok_and(|m| m.status == RunStatus::Completed)
    }

    fn check_config(&self, manifest: &Manifest) -> Result<(), RunDirError> {
        let path = self.path.join(CONFIG);
        let found = crate::hash::sha256_file(&path).ok();
        if found.as_deref() != Some(manifest.config_sha256.as_str()) {
            return Err(RunDirError::Tampered {
                path,
                why: "it is not the config the manifest records (its SHA-256 differs, or it is missing)".into(),
            });
        }
        Ok(())
    }

    fn check_metrics(&self, manifest: &Manifest) -> Result<(), RunDirError> {
        let path = self.path.join(METRICS);
        let found = crate::fsutil::read_capped(&path, MAX_MANIFEST_BYTES).unwrap_or_default();
        let expected: String = manifest
            .epochs
            .iter()
            .map(|e| metrics_line(e) + "\n")
            .collect();
        let crashed_after_append = manifest.status == RunStatus::Running
            && found.starts_with(&expected)
            && found[expected.len()..].lines().count() <= 1;
        if found != expected && !crashed_after_append {
            return Err(RunDirError::Tampered {
                path,
                why: format!(
                    "it does not hold the {} epochs the manifest records",
                    manifest.epochs.len()
                ),
            });
        }
        Ok(())
    }

    /// Seals and writes the manifest atomically.
    pub fn write_manifest(&self, manifest: &mut Manifest) -> Result<(), RunDirError> {
        let path = self.path.join(MANIFEST);
        let text = manifest
            .to_sealed_json()
            .map_err(|source| RunDirError::Manifest {
                path: path.clone(),
                source,
            })?;
        write_atomic(&path, text.as_bytes()).map_err(|source| RunDirError::Io { path, source })
    }

    /// Adds one epoch's line to `metrics.jsonl`, atomically (the whole file is rewritten
    /// through a temporary: a crash leaves the old file or the new one, never half a line).
    pub fn append_metrics(&self, record: &EpochRecord) -> Result<(), RunDirError> {
        let path = self.path.join(METRICS);
        let io = |source| RunDirError::Io {
            path: path.clone(),
            source,
        };
        let mut text = match crate::fsutil::read_capped(&path, MAX_MANIFEST_BYTES) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io(e)),
        };
        text.push_str(&metrics_line(record));
        text.push('\n');
        write_atomic(&path, text.as_bytes()).map_err(io)
    }

    /// Rewrites `metrics.jsonl` atomically to hold exactly `epochs` (on resume).
    pub fn rewrite_metrics(&self, epochs: &[EpochRecord]) -> Result<(), RunDirError> {
        let path = self.path.join(METRICS);
        let text: String = epochs.iter().map(|e| metrics_line(e) + "\n").collect();
        write_atomic(&path, text.as_bytes()).map_err(|source| RunDirError::Io { path, source })
    }

    /// Removes what interrupted atomic writes left in the folder and its checkpoints.
    pub fn clean_leftovers(&self) {
        remove_leftovers(&self.path);
        remove_leftovers(&self.path.join(CHECKPOINTS));
    }

    /// Where one of the report's files goes.
    pub fn report_file(&self, file: ReportFile) -> PathBuf {
        self.path.join(file.name())
    }

    /// The folder a step recording (`--record-steps`) goes into.
    pub fn replay_dir(&self) -> PathBuf {
        self.path.join(REPLAY)
    }

    /// The newest complete checkpoint (unchecked).
    pub fn newest_checkpoint(&self) -> Option<PathBuf> {
        checkpoint::list(&self.path.join(CHECKPOINTS)).pop()
    }

    /// The newest checkpoint, checked: its files pass their SHA-256.
    pub fn final_checkpoint(&self) -> Result<Checkpoint, CheckpointError> {
        let dir = self
            .newest_checkpoint()
            .ok_or_else(|| CheckpointError::None(self.path.join(CHECKPOINTS)))?;
        Checkpoint::open(&dir)
    }

    /// The newest checkpoint that passes its hash check and whose epochs the manifest
    /// records (`recorded_epochs`); each one passed over is told to `note`, with why.
    pub fn newest_valid_checkpoint(
        &self,
        recorded_epochs: usize,
        note: &mut dyn FnMut(&str),
    ) -> Result<Checkpoint, CheckpointError> {
        checkpoint::newest_valid(&self.path.join(CHECKPOINTS), recorded_epochs, note)
    }

    /// Saves a checkpoint after `epochs_done` epochs and keeps the newest `kept`.
    pub fn save_checkpoint(
        &self,
        model: &Model,
        optimizer: &Optimizer,
        params: &[(String, Tensor)],
        (epochs_done, global_step): (usize, usize),
        kept: usize,
    ) -> Result<PathBuf, CheckpointError> {
        checkpoint::save(
            &self.path.join(CHECKPOINTS),
            model,
            optimizer,
            params,
            (epochs_done, global_step),
            kept,
        )
    }
}
