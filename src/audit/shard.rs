//! Scale-out: what one shard of an audit or a variance study ran (`shard.json` in its
//! folder), and gathering the shards' runs into one folder for `audit merge` (or
//! `variance merge`).

use super::options::AuditOptions;
use crate::config::RunSpec;
use crate::fsutil::write_atomic;
use crate::run_dir::RunDir;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The record's file name in a shard's audit folder.
pub const SHARD_FILE: &str = "shard.json";

/// One shard's settings and the runs it finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardRecord {
    /// The claim file (a variance study: its run) as given on the command line, and the
    /// SHA-256 of what it holds (a study: of its runs' configs): a merge reads it from the
    /// same place and refuses it if it changed.
    #[serde(alias = "claims")]
    pub source: PathBuf,
    /// See `source`.
    #[serde(alias = "claims_sha256")]
    pub source_sha256: String,
    /// A variance study's run and arms; absent for an audit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub study: Option<StudyRecord>,
    /// Seeds per run.
    pub seeds: usize,
    /// The claims selected (`--only`).
    pub only: Option<Vec<String>>,
    /// The `--data` every run used.
    pub data: Option<PathBuf>,
    /// This shard, 0-based.
    pub index: usize,
    /// How many shards.
    pub count: usize,
    /// The run folders this shard finished, relative to its audit folder (`runs/KEY`).
    pub runs: Vec<PathBuf>,
    /// The run folders this shard must finish. The record is written when the shard
    /// starts and again when it ends, so a shard killed midway names what it left undone.
    #[serde(default)]
    pub planned: Vec<PathBuf>,
}

/// What a variance study's shards share besides the audit's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyRecord {
    /// The run studied.
    pub run: RunSpec,
    /// The arms, by name.
    pub arms: Vec<String>,
}

/// The SHA-256 of a claim file's bytes.
pub fn file_sha256(path: &Path) -> Result<String, ShardError> {
    crate::hash::sha256_file(path).map_err(io(path))
}

impl ShardRecord {
    /// The record of part `index` of `count` of an audit (or study) of `source`, whose
    /// content has digest `source_sha256`, with `options`: the runs it must finish
    /// (`planned`), those finished already noted.
    pub fn start(
        (source, source_sha256): (&Path, String),
        study: Option<StudyRecord>,
        options: &AuditOptions,
        planned: Vec<PathBuf>,
        (index, count): (usize, usize),
    ) -> Self {
        let mut record = ShardRecord {
            source: source.to_owned(),
            source_sha256,
            study,
            seeds: options.seeds,
            only: options.only.clone(),
            data: options.data.clone(),
            index,
            count,
            runs: Vec::new(),
            planned,
        };
        record.note_finished(&options.out);
        record
    }

    /// Sets `runs` to the planned runs finished in the shard's audit folder `dir`.
    pub fn note_finished(&mut self, dir: &Path) {
        self.runs = self
            .planned
            .iter()
            .filter(|run| run_finished(&dir.join(run)))
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
    /// The folder merged into cannot be used.
    #[error(transparent)]
    Output(#[from] crate::fsutil::OutputFolderError),
    /// A record or run folder cannot be read or copied.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Not a shard record.
    #[error(
        "{path}: not a shard record ({message}); was it made by `audit --shard I/N` or `variance --shard I/N`?"
    )]
    Bad {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Shards of different audits, a changed claim file, or a shard missing.
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

    /// Reads `dir/shard.json`; a run it names outside `runs/` (`../x`, an absolute path)
    /// is refused, so a merge never copies from or deletes outside the two folders.
    pub fn read(dir: &Path) -> Result<Self, ShardError> {
        let path = dir.join(SHARD_FILE);
        let bytes = crate::fsutil::read_bytes_capped(&path, 1 << 20).map_err(io(&path))?;
        let bad = |message: String| ShardError::Bad {
            path: path.clone(),
            message,
        };
        let record: Self = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        let outside = record.runs.iter().chain(&record.planned).find(|run| {
            !run.starts_with("runs")
                || !run
                    .components()
                    .all(|c| matches!(c, std::path::Component::Normal(_)))
        });
        match outside {
            Some(run) => Err(bad(format!(
                "{} is not a folder under runs/; a shard record names only its own runs",
                run.display()
            ))),
            None => Ok(record),
        }
    }

    /// The settings every shard of one audit shares.
    #[allow(clippy::type_complexity)]
    fn settings(
        &self,
    ) -> (
        &str,
        &Option<StudyRecord>,
        usize,
        &Option<Vec<String>>,
        &Option<PathBuf>,
        usize,
    ) {
        (
            &self.source_sha256,
            &self.study,
            self.seeds,
            &self.only,
            &self.data,
            self.count,
        )
    }
}

/// Checks that `records` are the parts 0 to N-1 of one audit, each once, and finished.
pub fn check_complete(records: &[(PathBuf, ShardRecord)]) -> Result<(), ShardError> {
    let Some((_, first)) = records.first() else {
        return Err(ShardError::Mismatch("no shard folders given".into()));
    };
    let seen = check_parts(records)?;
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
    records
        .iter()
        .try_for_each(|(dir, record)| check_finished(dir, record))
}

/// Each record's folder by shard index, refusing records of another audit, a shard given
/// twice and an index out of range. `records` is not empty.
fn check_parts(records: &[(PathBuf, ShardRecord)]) -> Result<Vec<Option<&Path>>, ShardError> {
    let (first_dir, first) = &records[0];
    let mut seen: Vec<Option<&Path>> = vec![None; first.count];
    for (dir, record) in records {
        if record.settings() != first.settings() {
            return Err(ShardError::Mismatch(format!(
                "{} and {} are shards of different audits (claim file or run, --sources, --seeds, --only, --data or N differ)",
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
    Ok(seen)
}

/// Refuses a shard that did not finish its planned runs, naming them.
fn check_finished(dir: &Path, record: &ShardRecord) -> Result<(), ShardError> {
    let unfinished = record.unfinished();
    if unfinished.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = unfinished.iter().map(|r| r.display().to_string()).collect();
    Err(ShardError::Mismatch(format!(
        "{}: shard {}/{} did not finish {} of its {} runs ({}); run that shard again (it reuses what it finished), then merge",
        dir.display(),
        record.index,
        record.count,
        unfinished.len(),
        record.planned.len(),
        names.join(", ")
    )))
}

/// Checks that `dirs` hold every shard of one audit, each finished, whose source is
/// unchanged (`digest` gives its digest now), then (and only then) makes `out` ready and
/// locked for the files `outputs` names ([`crate::fsutil::prepare_output_folder`]) and
/// copies their runs into it; returns the first shard's record, whose settings the merged
/// audit uses, what was copied from each folder, and the lock on `out`.
pub fn merge(
    dirs: &[PathBuf],
    (out, outputs): (&Path, &[&str]),
    digest: &dyn Fn(&ShardRecord) -> Result<String, String>,
) -> Result<(ShardRecord, Vec<usize>, crate::fsutil::FolderLock), ShardError> {
    let records = dirs
        .iter()
        .map(|dir| Ok((dir.clone(), ShardRecord::read(dir)?)))
        .collect::<Result<Vec<_>, ShardError>>()?;
    check_complete(&records)?;
    let first = records[0].1.clone();
    let now = digest(&first).map_err(|e| {
        ShardError::Mismatch(format!(
            "{}: the shards' source ({e}); run merge where the shards ran",
            first.source.display()
        ))
    })?;
    if now != first.source_sha256 {
        return Err(ShardError::Mismatch(format!(
            "{} has changed since the shards ran; its results would not match their runs",
            first.source.display()
        )));
    }
    let lock = crate::fsutil::prepare_output_folder(out, "a merged folder", outputs)?;
    let copied = records
        .iter()
        .map(|(dir, record)| collect_runs(dir, record, out))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((first, copied, lock))
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
        if run_finished(&dest) {
            continue;
        }
        let source = shard_dir.join(run);
        if !run_finished(&source) {
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

/// Whether `folder` holds a finished run: cifar-repro's own, or a program's that ended.
fn run_finished(folder: &Path) -> bool {
    RunDir::open(folder).completed() || crate::program::finished(folder)
}

/// Copies a run folder's files and folders; a symlink (which no run folder of
/// cifar-repro holds) is refused, so a merge never copies a file from elsewhere, and the
/// shard's lock file is left behind.
fn copy_dir(from: &Path, to: &Path) -> Result<(), ShardError> {
    std::fs::create_dir_all(to).map_err(io(to))?;
    for entry in std::fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type().map_err(io(from))?;
        if kind.is_symlink() {
            return Err(ShardError::Mismatch(format!(
                "{}: a symlink in a shard's run folder, which cifar-repro never writes; refusing to copy it",
                entry.path().display()
            )));
        } else if entry.file_name() == crate::fsutil::LOCK_FILE {
            continue;
        } else if kind.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            let mut from = crate::fsutil::open_file(&entry.path()).map_err(io(&entry.path()))?;
            let mut to = crate::fsutil::create_new(&target).map_err(io(&target))?;
            std::io::copy(&mut from, &mut to).map_err(io(&target))?;
        }
    }
    Ok(())
}
