//! A run folder's whole life in one place: created (or refused), its config, manifest and
//! metrics written, its checkpoints saved and found, its leftovers cleaned on resume.
//!
//! ```text
//! RUN/config.toml        the resolved config, written first
//! RUN/manifest.json      rewritten atomically after every epoch
//! RUN/metrics.jsonl      one line per epoch
//! RUN/checkpoints/epoch-NNNN/   the newest two, each hash-checked
//! RUN/replay/            the first steps, with --record-steps
//! ```

use super::checkpoint::{self, CheckpointError, CheckpointState};
use crate::config::{ConfigError, TrainConfig};
use crate::fsutil::{is_leftover, remove_leftovers, write_atomic};
use crate::manifest::{self, EpochRecord, Manifest, ManifestError};
use crate::model::Model;
use crate::optim::Optimizer;
use std::path::{Path, PathBuf};
use tch::Tensor;

/// A run folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    path: PathBuf,
}

/// A run folder that cannot be made or written.
#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    #[error(
        "{} exists and is not empty; pass --overwrite to replace it, or choose another --out",
        .0.display()
    )]
    Occupied(PathBuf),
    #[error(
        "{} is not a cifar-repro run folder (no manifest.json or run config.toml); refusing to replace it",
        .0.display()
    )]
    NotARun(PathBuf),
    #[error("{}: not a run folder to resume", .0.display())]
    NotResumable(PathBuf),
    #[error("cannot clear {}: {source}", path.display())]
    Clear {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create the run folder {}: {source}", path.display())]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Config(#[from] ConfigError),
}

impl RunDir {
    /// A new run at `path`. A folder holding anything but the leftovers of interrupted
    /// writes is refused, unless `overwrite` and it is a run folder, which is then cleared.
    pub fn create(path: &Path, overwrite: bool) -> Result<Self, RunDirError> {
        let occupied = std::fs::read_dir(path).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| !is_leftover(&e.file_name().to_string_lossy()))
        });
        if occupied {
            if !overwrite {
                return Err(RunDirError::Occupied(path.to_owned()));
            }
            // A manifest, or at least the config a run writes first (a run killed before
            // its first manifest has only that).
            let is_run = path.join("manifest.json").is_file()
                || std::fs::read_to_string(path.join("config.toml"))
                    .is_ok_and(|text| TrainConfig::from_toml(&text).is_ok());
            if !is_run {
                return Err(RunDirError::NotARun(path.to_owned()));
            }
        }
        let path_buf = || path.to_owned();
        if overwrite && path.exists() {
            std::fs::remove_dir_all(path).map_err(|source| RunDirError::Clear {
                path: path_buf(),
                source,
            })?;
        }
        std::fs::create_dir_all(path).map_err(|source| RunDirError::Create {
            path: path_buf(),
            source,
        })?;
        Ok(Self::open(path))
    }

    /// An existing run folder, to resume, evaluate or read.
    pub fn open(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the resolved config (`config.toml`), which is what a resume reads.
    pub fn write_config(&self, config: &TrainConfig) -> Result<(), RunDirError> {
        let path = self.path.join("config.toml");
        write_atomic(&path, config.to_toml()?.as_bytes())
            .map_err(|source| RunDirError::Io { path, source })
    }

    /// The config a run was started with, to resume it.
    pub fn config_source(&self) -> Result<PathBuf, RunDirError> {
        let path = self.path.join("config.toml");
        if path.is_file() {
            Ok(path)
        } else {
            Err(RunDirError::NotResumable(path))
        }
    }

    pub fn manifest(&self) -> Result<Manifest, ManifestError> {
        Manifest::read(&self.path)
    }

    pub fn write_manifest(&self, manifest: &Manifest) -> Result<(), ManifestError> {
        manifest.write(&self.path)
    }

    pub fn append_metrics(&self, record: &EpochRecord) -> Result<(), ManifestError> {
        manifest::append_metrics(&self.path, record)
    }

    pub fn rewrite_metrics(&self, epochs: &[EpochRecord]) -> Result<(), ManifestError> {
        manifest::rewrite_metrics(&self.path, epochs)
    }

    /// Removes what interrupted atomic writes left in the folder and its checkpoints.
    pub fn clean_leftovers(&self) {
        remove_leftovers(&self.path);
        remove_leftovers(&self.path.join("checkpoints"));
    }

    /// The newest complete checkpoint folder (unchecked).
    pub fn newest_checkpoint(&self) -> Option<PathBuf> {
        checkpoint::list(&self.path).pop()
    }

    /// The newest checkpoint that passes its hash check and whose epochs the manifest
    /// records (`recorded_epochs`); each one passed over is told to `note`, with why.
    pub fn newest_valid_checkpoint(
        &self,
        recorded_epochs: usize,
        note: &mut dyn FnMut(&str),
    ) -> Result<(PathBuf, CheckpointState), CheckpointError> {
        checkpoint::newest_valid(&self.path, recorded_epochs, note)
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
            &self.path,
            model,
            optimizer,
            params,
            epochs_done,
            global_step,
            kept,
        )
    }
}
