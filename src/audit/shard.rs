//! Scale-out: what one shard of an audit ran (`shard.json` in its folder), and gathering
//! the shards' runs into one folder for `audit merge`.

use super::auditor::Audit;
use super::options::AuditOptions;
use crate::fsutil::write_atomic;
use crate::hash::sha256_hex;
use crate::run_dir::RunDir;
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
    /// The record of part `index` of `count` of `audit`, an audit of the claim file
    /// `claims` with `options`: the runs it must finish, those finished already noted.
    pub fn start(
        claims: &Path,
        options: &AuditOptions,
        audit: &Audit,
        (index, count): (usize, usize),
    ) -> Result<Self, ShardError> {
        let text = std::fs::read(claims).map_err(io(claims))?;
        let mut record = ShardRecord {
            claims: claims.to_owned(),
            claims_sha256: sha256_hex(&text),
            seeds: options.seeds,
            only: options.only.clone(),
            data: options.data.clone(),
            index,
            count,
            runs: Vec::new(),
            planned: audit.shard_runs(index, count),
        };
        record.note_finished(&options.out);
        Ok(record)
    }

    /// Sets `runs` to the planned runs finished in the shard's audit folder `dir`.
    pub fn note_finished(&mut self, dir: &Path) {
        self.runs = self
            .planned
            .iter()
            .filter(|run| RunDir::open(&dir.join(run)).completed())
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

/// Checks that `dirs` hold every shard of one audit, each finished, whose claim file is
/// unchanged, and copies their runs into `out`; returns the first shard's record, whose
/// settings the merged audit uses, and what was copied from each folder.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<(ShardRecord, Vec<usize>), ShardError> {
    let records = dirs
        .iter()
        .map(|dir| Ok((dir.clone(), ShardRecord::read(dir)?)))
        .collect::<Result<Vec<_>, ShardError>>()?;
    check_complete(&records)?;
    let first = records[0].1.clone();
    let text = std::fs::read(&first.claims).map_err(|e| {
        ShardError::Mismatch(format!(
            "{}: the shards' claim file ({e}); run merge where the shards ran",
            first.claims.display()
        ))
    })?;
    if sha256_hex(&text) != first.claims_sha256 {
        return Err(ShardError::Mismatch(format!(
            "{} has changed since the shards ran; its verdicts would not match their runs",
            first.claims.display()
        )));
    }
    std::fs::create_dir_all(out).map_err(io(out))?;
    let copied = records
        .iter()
        .map(|(dir, record)| collect_runs(dir, record, out))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((first, copied))
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
        if RunDir::open(&dest).completed() {
            continue;
        }
        let source = shard_dir.join(run);
        if !RunDir::open(&source).completed() {
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
