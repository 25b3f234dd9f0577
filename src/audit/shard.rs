//! Scale-out: what one shard of an audit ran (`shard.json` in its folder), and gathering
//! the shards' runs into one folder for `audit merge`.

use crate::fsutil::write_atomic;
use crate::manifest::Manifest;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The record's file name in a shard's audit folder.
pub const SHARD_FILE: &str = "shard.json";

/// One shard's settings and the runs it finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardRecord {
    /// The claim file as given on the command line, and its SHA-256: a merge reads it from
    /// the same place and refuses it if it changed.
    pub claims: PathBuf,
    pub claims_sha256: String,
    pub seeds: usize,
    pub only: Option<Vec<String>>,
    pub data: Option<PathBuf>,
    pub index: usize,
    pub count: usize,
    /// The run folders this shard finished, relative to its audit folder (`runs/KEY`).
    pub runs: Vec<PathBuf>,
    /// The run folders this shard must finish. The record is written when the shard
    /// starts and again when it ends, so a shard killed midway names what it left undone.
    #[serde(default)]
    pub planned: Vec<PathBuf>,
}

impl ShardRecord {
    /// Sets `runs` to the planned runs finished in the shard's audit folder `dir`.
    pub fn note_finished(&mut self, dir: &Path) {
        self.runs = self
            .planned
            .iter()
            .filter(|run| Manifest::read_completed(&dir.join(run)).is_some())
            .cloned()
            .collect();
    }

    /// The planned runs this shard has not finished.
    pub fn unfinished(&self) -> Vec<&Path> {
        self.planned
            .iter()
            .filter(|run| !self.runs.contains(run))
            .map(PathBuf::as_path)
            .collect()
    }
}

/// Why shards cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a shard record ({message}); was it made by `audit --shard I/N`?")]
    Bad { path: PathBuf, message: String },
    #[error("{0}")]
    Mismatch(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ShardError + '_ {
    move |source| ShardError::Io {
        path: path.to_owned(),
        source,
    }
}

impl ShardRecord {
    /// Writes `dir/shard.json` atomically.
    pub fn write(&self, dir: &Path) -> Result<(), ShardError> {
        let path = dir.join(SHARD_FILE);
        let json = serde_json::to_vec_pretty(self).map_err(|e| ShardError::Bad {
            path: path.clone(),
            message: e.to_string(),
        })?;
        write_atomic(&path, &json).map_err(io(&path))
    }

    /// Reads `dir/shard.json`.
    pub fn read(dir: &Path) -> Result<Self, ShardError> {
        let path = dir.join(SHARD_FILE);
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        serde_json::from_slice(&bytes).map_err(|e| ShardError::Bad {
            path,
            message: e.to_string(),
        })
    }

    /// The settings every shard of one audit shares.
    fn settings(&self) -> (&str, usize, &Option<Vec<String>>, &Option<PathBuf>, usize) {
        (
            &self.claims_sha256,
            self.seeds,
            &self.only,
            &self.data,
            self.count,
        )
    }
}

/// Checks that `records` are the parts 0 to N-1 of one audit, each once.
pub fn check_complete(records: &[(PathBuf, ShardRecord)]) -> Result<(), ShardError> {
    let Some((first_dir, first)) = records.first() else {
        return Err(ShardError::Mismatch("no shard folders given".into()));
    };
    let mut seen: Vec<Option<&Path>> = vec![None; first.count];
    for (dir, record) in records {
        if record.settings() != first.settings() {
            return Err(ShardError::Mismatch(format!(
                "{} and {} are shards of different audits (claim file, --seeds, --only, --data or N differ)",
                first_dir.display(),
                dir.display()
            )));
        }
        match seen.get_mut(record.index) {
            Some(Some(other)) => {
                return Err(ShardError::Mismatch(format!(
                    "{} and {} are both shard {}/{}",
                    other.display(),
                    dir.display(),
                    record.index,
                    record.count
                )));
            }
            Some(slot) => *slot = Some(dir.as_path()),
            None => {
                return Err(ShardError::Mismatch(format!(
                    "{}: shard {}/{} is out of range",
                    dir.display(),
                    record.index,
                    record.count
                )));
            }
        }
    }
    let missing: Vec<String> = (0..first.count)
        .filter(|&i| seen[i].is_none())
        .map(|i| format!("{i}/{}", first.count))
        .collect();
    if !missing.is_empty() {
        return Err(ShardError::Mismatch(format!(
            "shard {} missing: give every shard's folder",
            missing.join(", ")
        )));
    }
    for (dir, record) in records {
        let unfinished = record.unfinished();
        if !unfinished.is_empty() {
            let names: Vec<String> = unfinished.iter().map(|r| r.display().to_string()).collect();
            return Err(ShardError::Mismatch(format!(
                "{}: shard {}/{} did not finish {} of its {} runs ({}); run that shard again (it reuses what it finished), then merge",
                dir.display(),
                record.index,
                record.count,
                unfinished.len(),
                record.planned.len(),
                names.join(", ")
            )));
        }
    }
    Ok(())
}

/// Copies the finished runs of a shard folder into `out` (each through a hidden folder
/// renamed when whole); a run already finished in `out` is kept. Returns how many it copied.
pub fn collect_runs(
    shard_dir: &Path,
    record: &ShardRecord,
    out: &Path,
) -> Result<usize, ShardError> {
    let mut copied = 0;
    for run in &record.runs {
        let dest = out.join(run);
        if Manifest::read_completed(&dest).is_some() {
            continue;
        }
        let source = shard_dir.join(run);
        if Manifest::read_completed(&source).is_none() {
            return Err(ShardError::Mismatch(format!(
                "{}: the shard record lists this run, but it is not a finished run",
                source.display()
            )));
        }
        let Some(name) = dest.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            return Err(ShardError::Bad {
                path: shard_dir.join(SHARD_FILE),
                message: format!("{} names no run folder", run.display()),
            });
        };
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let staging = dest.with_file_name(format!(".{name}.partial"));
        let _ = std::fs::remove_dir_all(&staging);
        copy_dir(&source, &staging)?;
        let _ = std::fs::remove_dir_all(&dest);
        std::fs::rename(&staging, &dest).map_err(io(&dest))?;
        copied += 1;
    }
    Ok(copied)
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), ShardError> {
    std::fs::create_dir_all(to).map_err(io(to))?;
    for entry in std::fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let target = to.join(entry.file_name());
        if entry.file_type().map_err(io(from))?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target).map_err(io(&target))?;
        }
    }
    Ok(())
}
