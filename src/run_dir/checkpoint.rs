//! Checkpoints, both halves of the format: `checkpoints/epoch-NNNN/` with
//! `model.safetensors`, `optim.safetensors` and `state.json` (positions and the two files'
//! SHA-256), written into a hidden folder and renamed into place whole; read back only
//! after the hashes pass.

use crate::model::{Model, ModelError};
use crate::optim::Optimizer;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::Tensor;

const MODEL: &str = "model.safetensors";
const OPTIM: &str = "optim.safetensors";
const STATE: &str = "state.json";

/// Positions a checkpoint records besides the tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Epochs finished.
    pub epochs_done: usize,
    /// Optimiser steps taken.
    pub global_step: usize,
    /// The optimiser's own step count.
    pub optimizer_step: u64,
    /// SHA-256 of the model file.
    pub model_sha256: String,
    /// SHA-256 of the optimiser-state file.
    pub optim_sha256: String,
}

/// A checkpoint that cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// A file cannot be written or read.
    #[error("{}: {message}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A file whose SHA-256 is not the recorded one.
    #[error(
        "{}: {file} fails its SHA-256 check (expected {expected}, found {found}); the checkpoint is damaged",
        path.display()
    )]
    Hash {
        /// The checkpoint.
        path: PathBuf,
        /// The file.
        file: String,
        /// The recorded SHA-256.
        expected: String,
        /// The file's.
        found: String,
    },
    /// No checkpoint is whole.
    #[error("{}: no complete checkpoint", .0.display())]
    None(PathBuf),
    /// The weights do not load into the model.
    #[error("{}: the model's weights do not load: {source}", path.display())]
    Model {
        /// The checkpoint.
        path: PathBuf,
        /// Why.
        #[source]
        source: ModelError,
    },
    /// The optimiser state does not fit the parameters.
    #[error("{}: the optimiser state does not fit the model ({message})", path.display())]
    Optimizer {
        /// The checkpoint.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

fn io(path: &Path) -> impl Fn(String) -> CheckpointError + '_ {
    move |message| CheckpointError::Io {
        path: path.to_owned(),
        message,
    }
}

/// A checkpoint whose files passed their hash check.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// Its folder.
    pub dir: PathBuf,
    /// What it records besides the tensors.
    pub state: CheckpointState,
}

impl Checkpoint {
    /// Reads a checkpoint's state and checks both tensor files against their SHA-256.
    pub fn open(dir: &Path) -> Result<Self, CheckpointError> {
        let err = io(dir);
        let text = crate::fsutil::read_capped(&dir.join(STATE), 1 << 20)
            .map_err(|e| err(format!("{STATE}: {e}")))?;
        let state: CheckpointState =
            serde_json::from_str(&text).map_err(|e| err(format!("{STATE}: {e}")))?;
        for (file, expected) in [(MODEL, &state.model_sha256), (OPTIM, &state.optim_sha256)] {
            let found = crate::hash::sha256_file(&dir.join(file))
                .map_err(|e| err(format!("{file}: {e}")))?;
            if &found != expected {
                return Err(CheckpointError::Hash {
                    path: dir.to_owned(),
                    file: file.into(),
                    expected: expected.clone(),
                    found,
                });
            }
        }
        Ok(Self {
            dir: dir.to_owned(),
            state,
        })
    }

    /// Copies the checkpoint's weights into `model` (same architecture, matched by name).
    pub fn load_model(&self, model: &mut Model) -> Result<(), CheckpointError> {
        model
            .load(&self.dir.join(MODEL), false)
            .map_err(|source| CheckpointError::Model {
                path: self.dir.clone(),
                source,
            })
    }

    /// Restores `optimizer`'s state for `params` from the checkpoint.
    pub fn load_optimizer(
        &self,
        optimizer: &mut Optimizer,
        params: &[(String, Tensor)],
    ) -> Result<(), CheckpointError> {
        let path = self.dir.join(OPTIM);
        let fail = |message: String| CheckpointError::Optimizer {
            path: path.clone(),
            message,
        };
        crate::fsutil::ensure_regular(&path).map_err(|e| fail(e.to_string()))?;
        let saved: HashMap<String, Tensor> = Tensor::read_safetensors(&path)
            .map_err(|e| fail(crate::runtime::tch_message(&e)))?
            .into_iter()
            .collect();
        optimizer
            .load_state(self.state.optimizer_step, &saved, params)
            .map_err(|e| fail(e.to_string()))
    }
}

/// The folder of the checkpoint after `epochs_done` epochs in `checkpoints`.
fn checkpoint_dir(checkpoints: &Path, epochs_done: usize) -> PathBuf {
    checkpoints.join(format!("epoch-{epochs_done:04}"))
}

/// Writes a checkpoint into `checkpoints` and keeps only the newest `keep`.
pub(super) fn save(
    checkpoints: &Path,
    model: &Model,
    optimizer: &Optimizer,
    params: &[(String, Tensor)],
    (epochs_done, global_step): (usize, usize),
    keep: usize,
) -> Result<PathBuf, CheckpointError> {
    let final_dir = checkpoint_dir(checkpoints, epochs_done);
    let staging = checkpoints.join(format!(".epoch-{epochs_done:04}.partial"));
    let err = io(&staging);
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|e| err(e.to_string()))?;
    if let Err(e) = fill_staging(
        &staging,
        model,
        optimizer,
        params,
        (epochs_done, global_step),
    ) {
        // A full disk must not keep the half-written copy (it holds the space it lacks).
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    retire(&final_dir);
    crate::fsutil::kill_point(&final_dir);
    std::fs::rename(&staging, &final_dir).map_err(|e| err(e.to_string()))?;
    for old in list(checkpoints).into_iter().rev().skip(keep) {
        retire(&old);
    }
    Ok(final_dir)
}

/// Writes a checkpoint's three files into `staging` and syncs them.
fn fill_staging(
    staging: &Path,
    model: &Model,
    optimizer: &Optimizer,
    params: &[(String, Tensor)],
    (epochs_done, global_step): (usize, usize),
) -> Result<(), CheckpointError> {
    let err = io(staging);
    let (model_path, optim_path) = (staging.join(MODEL), staging.join(OPTIM));
    // safetensors holds plain row-major tensors: channels-last ones are written as such
    // (`contiguous` is the tensor itself when it already is).
    let write = |tensors: Vec<(String, Tensor)>, path: &Path| {
        let tensors: Vec<(String, Tensor)> = tensors
            .into_iter()
            .map(|(n, t)| (n, t.contiguous()))
            .collect();
        Tensor::write_safetensors(&tensors, path).map_err(|e| err(crate::runtime::tch_message(&e)))
    };
    write(model.vs.variables().into_iter().collect(), &model_path)?;
    write(optimizer.state_tensors(params), &optim_path)?;
    let digest = |p: &Path| crate::hash::sha256_file(p).map_err(|e| err(e.to_string()));
    let state = CheckpointState {
        epochs_done,
        global_step,
        optimizer_step: optimizer.step,
        model_sha256: digest(&model_path)?,
        optim_sha256: digest(&optim_path)?,
    };
    let text = serde_json::to_string_pretty(&state).map_err(|e| err(e.to_string()))?;
    crate::fsutil::create_new(&staging.join(STATE))
        .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
        .map_err(|e| err(e.to_string()))?;
    for file in [MODEL, OPTIM, STATE] {
        crate::fsutil::open_file(&staging.join(file))
            .and_then(|f| f.sync_all())
            .map_err(|e| err(e.to_string()))?;
    }
    Ok(())
}

/// Complete checkpoint folders in `checkpoints`, oldest first.
pub(super) fn list(checkpoints: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(checkpoints)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("epoch-"))
                && p.join(STATE).is_file()
        })
        .collect();
    dirs.sort();
    dirs
}

/// Removes a checkpoint folder so that no half-deleted checkpoint is ever visible: it is
/// first renamed to a hidden `.NAME.retired`, then deleted.
fn retire(dir: &Path) {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let hidden = dir.with_file_name(format!(".{name}.retired"));
    if std::fs::rename(dir, &hidden).is_ok() {
        let _ = std::fs::remove_dir_all(hidden);
    }
}

/// The newest checkpoint in `checkpoints` that passes its hash check and whose epochs the
/// manifest records (`recorded_epochs` of them); each one passed over is told to `note`.
pub(super) fn newest_valid(
    checkpoints: &Path,
    recorded_epochs: usize,
    note: &mut dyn FnMut(&str),
) -> Result<Checkpoint, CheckpointError> {
    for dir in list(checkpoints).into_iter().rev() {
        match Checkpoint::open(&dir) {
            Ok(c) if c.state.epochs_done > recorded_epochs => note(&format!(
                "skipping checkpoint {}: the manifest records only {recorded_epochs} epochs",
                dir.display()
            )),
            Ok(c) => return Ok(c),
            Err(e) => note(&format!(
                "refusing checkpoint: {e}; trying the previous one"
            )),
        }
    }
    Err(CheckpointError::None(checkpoints.to_owned()))
}
