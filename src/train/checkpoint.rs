//! Checkpoints: `checkpoints/epoch-NNNN/` with `model.safetensors`, `optim.safetensors` and
//! `state.json` (positions and the two files' SHA-256), written into a hidden folder and
//! renamed into place whole.

use crate::hash::sha256_hex;
use crate::model::Model;
use crate::optim::Optimizer;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::Tensor;

/// Positions a checkpoint records besides the tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Epochs finished.
    pub epochs_done: usize,
    /// Optimiser steps taken.
    pub global_step: usize,
    pub optimizer_step: u64,
    pub model_sha256: String,
    pub optim_sha256: String,
}

/// A checkpoint that cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error(
        "{path}: {file} fails its SHA-256 check (expected {expected}, found {found}); the checkpoint is damaged"
    )]
    Hash {
        path: PathBuf,
        file: String,
        expected: String,
        found: String,
    },
}

fn io(path: &Path) -> impl Fn(String) -> CheckpointError + '_ {
    move |message| CheckpointError::Io {
        path: path.to_owned(),
        message,
    }
}

/// The folder of the checkpoint after `epochs_done` epochs.
pub fn checkpoint_dir(run: &Path, epochs_done: usize) -> PathBuf {
    run.join("checkpoints")
        .join(format!("epoch-{epochs_done:04}"))
}

/// Writes a checkpoint and keeps only the newest `keep`.
pub fn save(
    run: &Path,
    model: &Model,
    optimizer: &Optimizer,
    params: &[(String, Tensor)],
    epochs_done: usize,
    global_step: usize,
    keep: usize,
) -> Result<PathBuf, CheckpointError> {
    let final_dir = checkpoint_dir(run, epochs_done);
    let staging = run
        .join("checkpoints")
        .join(format!(".epoch-{epochs_done:04}.partial"));
    let err = io(&staging);
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|e| err(e.to_string()))?;
    let model_path = staging.join("model.safetensors");
    let optim_path = staging.join("optim.safetensors");
    // safetensors holds plain row-major tensors: channels-last ones are written as such
    // (`contiguous` is the tensor itself when it already is).
    let write = |tensors: Vec<(String, Tensor)>, path: &Path| {
        let tensors: Vec<(String, Tensor)> = tensors
            .into_iter()
            .map(|(n, t)| (n, t.contiguous()))
            .collect();
        Tensor::write_safetensors(&tensors, path).map_err(|e| err(e.to_string()))
    };
    write(model.vs.variables().into_iter().collect(), &model_path)?;
    write(optimizer.state_tensors(params), &optim_path)?;
    let digest = |p: &Path| {
        std::fs::read(p)
            .map(|b| sha256_hex(&b))
            .map_err(|e| err(e.to_string()))
    };
    let state = CheckpointState {
        epochs_done,
        global_step,
        optimizer_step: optimizer.step,
        model_sha256: digest(&model_path)?,
        optim_sha256: digest(&optim_path)?,
    };
    let text = serde_json::to_string_pretty(&state).map_err(|e| err(e.to_string()))?;
    std::fs::write(staging.join("state.json"), text).map_err(|e| err(e.to_string()))?;
    for file in ["model.safetensors", "optim.safetensors", "state.json"] {
        std::fs::File::open(staging.join(file))
            .and_then(|f| f.sync_all())
            .map_err(|e| err(e.to_string()))?;
    }
    retire(&final_dir);
    crate::fsutil::kill_point(&final_dir);
    std::fs::rename(&staging, &final_dir).map_err(|e| err(e.to_string()))?;
    for old in list(run).into_iter().rev().skip(keep) {
        retire(&old);
    }
    Ok(final_dir)
}

/// Complete checkpoint folders, oldest first.
pub fn list(run: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(run.join("checkpoints"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("epoch-"))
                && p.join("state.json").is_file()
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

/// Reads a checkpoint's state and checks both tensor files against their SHA-256.
pub fn verify(dir: &Path) -> Result<CheckpointState, CheckpointError> {
    let err = io(dir);
    let text = std::fs::read_to_string(dir.join("state.json")).map_err(|e| err(e.to_string()))?;
    let state: CheckpointState =
        serde_json::from_str(&text).map_err(|e| err(format!("state.json: {e}")))?;
    for (file, expected) in [
        ("model.safetensors", &state.model_sha256),
        ("optim.safetensors", &state.optim_sha256),
    ] {
        let found = std::fs::read(dir.join(file))
            .map(|b| sha256_hex(&b))
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
    Ok(state)
}

/// The newest checkpoint of `run` that passes its hash check and whose epochs the manifest
/// records (`recorded_epochs` of them); each one passed over is told to `note`, with why.
pub fn newest_valid(
    run: &Path,
    recorded_epochs: usize,
    note: &mut dyn FnMut(&str),
) -> Result<(PathBuf, CheckpointState), CheckpointError> {
    for dir in list(run).into_iter().rev() {
        match verify(&dir) {
            Ok(state) if state.epochs_done > recorded_epochs => note(&format!(
                "skipping checkpoint {}: the manifest records only {recorded_epochs} epochs",
                dir.display()
            )),
            Ok(state) => return Ok((dir, state)),
            Err(e) => note(&format!(
                "refusing checkpoint: {e}; trying the previous one"
            )),
        }
    }
    Err(CheckpointError::Io {
        path: run.join("checkpoints"),
        message: "no complete checkpoint to resume from".into(),
    })
}
