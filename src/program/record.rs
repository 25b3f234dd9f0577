//! A program's run folder: running a replicate into it, its record (`command.json`), and
//! comparing two runs of one seed.

use super::spawn::{self, Ended, Interrupted};
use super::spec::{ProgramRun, fill};
use super::{ProgramError, io, metrics::read_metrics};
use crate::fsutil::write_atomic;
use crate::hash::sha256_hex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The record's file name in a run folder.
pub const RECORD_FILE: &str = "command.json";

/// The environment variables recorded (when set) besides those the runner sets.
const RECORDED_ENV: [&str; 9] = [
    "PATH",
    "PYTHONPATH",
    "PYTHONHASHSEED",
    "CUDA_VISIBLE_DEVICES",
    "CUBLAS_WORKSPACE_CONFIG",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "LD_LIBRARY_PATH",
    "VIRTUAL_ENV",
];

/// The lines of stderr a failure quotes.
const STDERR_TAIL_LINES: usize = 5;

/// A file and its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    /// The path, as the spec or the run names it.
    pub path: String,
    /// Its SHA-256 in hex.
    pub sha256: String,
}

/// Where a program's run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProgramStatus {
    /// Started and not ended (or cifar-repro died): rerun from the start.
    Running,
    /// Exited 0 with every metric read.
    Completed,
    /// A non-zero exit, a signal, a timeout, or a missing or non-numeric metric: a failed
    /// seed.
    Failed,
}

/// The interpreter of a Python program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PythonInfo {
    /// `python --version`.
    pub version: String,
    /// `python -m pip freeze`, in this file of the run folder (or why it could not run).
    pub pip_freeze: String,
}

/// What a program's run was and did (`command.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgramRecord {
    /// Where the run stands.
    pub status: ProgramStatus,
    /// The run it is, as planned: the runner, its spec, the inputs' digests, seed, device.
    pub run: ProgramRun,
    /// The command, placeholders filled in.
    pub argv: Vec<String>,
    /// Where it ran.
    pub workdir: PathBuf,
    /// The environment variables recorded: those the runner sets and a fixed list.
    pub env: BTreeMap<String, String>,
    /// The interpreter, when the program is a Python one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python: Option<PythonInfo>,
    /// The process group, while it runs (so a rerun after a crash can kill what is left).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pgid: Option<i32>,
    /// The exit status, when it exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The signal that ended it, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// Killed for running past its timeout.
    #[serde(default)]
    pub timed_out: bool,
    /// Seconds from start to exit.
    pub wall_seconds: f64,
    /// The file in the run folder holding its stdout.
    pub stdout: String,
    /// The file in the run folder holding its stderr.
    pub stderr: String,
    /// The final metrics read, by cifar-repro's names.
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    /// The digests of the files it wrote (the spec's `outputs`).
    #[serde(default)]
    pub outputs: Vec<FileDigest>,
    /// Why the seed failed, with the end of stderr.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// The record in `folder`, if one is there and readable.
fn read_record(folder: &Path) -> Option<ProgramRecord> {
    ProgramRecord::read(folder).ok()
}

impl ProgramRecord {
    /// The record of the program run in `folder`; an error naming the file when it is
    /// absent or not a record.
    pub fn read(folder: &Path) -> Result<Self, ProgramError> {
        let path = folder.join(RECORD_FILE);
        let text = crate::fsutil::read_capped(&path, 64 << 20).map_err(io(&path))?;
        serde_json::from_str(&text).map_err(|e| {
            ProgramError::Metrics(format!(
                "{}: not a program run's record ({e})",
                path.display()
            ))
        })
    }
}

/// Whether `folder` holds a program run that ended (completed or failed).
pub fn finished(folder: &Path) -> bool {
    read_record(folder).is_some_and(|r| r.status != ProgramStatus::Running)
}

impl ProgramRun {
    /// The record of this run in `folder` when it ended; none when nothing (or a run that
    /// did not end) is there, or the folder holds another run (then an error).
    pub fn found(&self, folder: &Path) -> Result<Option<ProgramRecord>, ProgramError> {
        let Some(record) = read_record(folder) else {
            return Ok(None);
        };
        if record.run.key_text() != self.key_text() {
            return Err(ProgramError::Spec {
                runner: self.runner.clone(),
                message: format!(
                    "{} holds another run than its key names; refusing to reuse or replace it",
                    folder.display()
                ),
            });
        }
        Ok((record.status != ProgramStatus::Running).then_some(record))
    }

    /// Runs the program into `folder` from the start (what an interrupted run left is
    /// killed and removed first) and records it; a failed seed is a record too.
    pub fn run_in(&self, folder: &Path) -> Result<ProgramRecord, ProgramError> {
        clear(folder)?;
        let values = self.values(folder);
        let env: BTreeMap<String, String> = self
            .spec
            .env
            .iter()
            .map(|(k, v)| (k.clone(), fill(v, &values).unwrap_or_else(|_| v.clone())))
            .collect();
        let argv = self.argv(folder);
        let mut record = ProgramRecord {
            status: ProgramStatus::Running,
            run: self.clone(),
            env: recorded_env(&env),
            python: python_info(&argv[0], &self.workdir, folder),
            workdir: self.workdir.clone(),
            argv,
            pgid: None,
            exit_code: None,
            signal: None,
            timed_out: false,
            wall_seconds: 0.0,
            stdout: "stdout.txt".into(),
            stderr: "stderr.txt".into(),
            metrics: BTreeMap::new(),
            outputs: Vec::new(),
            failure: None,
        };
        write_record(folder, &record)?;
        let mut child_env = env.clone();
        child_env.insert(spawn::RUN_VARIABLE.to_owned(), run_marker(folder));
        let ended = self.spawn(folder, &child_env, &mut record)?;
        record.pgid = None;
        record.exit_code = ended.exit_code;
        record.signal = ended.signal;
        record.timed_out = ended.timed_out;
        record.wall_seconds = ended.wall_seconds;
        self.conclude(folder, &mut record);
        write_record(folder, &record)?;
        Ok(record)
    }

    fn spawn(
        &self,
        folder: &Path,
        env: &BTreeMap<String, String>,
        record: &mut ProgramRecord,
    ) -> Result<Ended, ProgramError> {
        let open = |name: &str| {
            let path = folder.join(name);
            std::fs::File::create(&path).map_err(io(&path))
        };
        let files = (open("stdout.txt")?, open("stderr.txt")?);
        let mut write_error = None;
        let argv = record.argv.clone();
        let mut started = |pgid: i32| {
            record.pgid = Some(pgid);
            write_error = write_record(folder, record).err();
        };
        let timeout = Duration::from_secs(self.spec.timeout_s);
        let ended =
            spawn::run(&argv, &self.workdir, env, files, timeout, &mut started).map_err(|e| {
                ProgramError::Spec {
                    runner: self.runner.clone(),
                    message: format!("cannot start {:?}: {e}", argv[0]),
                }
            })?;
        if let Some(e) = write_error {
            return Err(e);
        }
        ended.map_err(|Interrupted| ProgramError::Interrupted)
    }

    /// Sets the record's status, metrics, outputs and failure from how the program ended.
    fn conclude(&self, folder: &Path, record: &mut ProgramRecord) {
        let values = self.values(folder);
        let failure = if record.timed_out {
            Some(format!(
                "timed out after {} s; its process group was killed",
                self.spec.timeout_s
            ))
        } else if record.exit_code != Some(0) {
            Some(match (record.exit_code, record.signal) {
                (Some(code), _) => format!("exited with status {code}"),
                (None, Some(signal)) => format!("killed by signal {signal}"),
                _ => "ended without a status".into(),
            })
        } else {
            let path = self
                .workdir
                .join(fill(&self.spec.metrics.file, &values).unwrap_or_default());
            match read_metrics(&self.spec.metrics, &path) {
                Ok(metrics) => {
                    record.metrics = metrics;
                    None
                }
                Err(e) => Some(format!("its metrics: {e}")),
            }
        };
        record.outputs = self
            .spec
            .outputs
            .iter()
            .map(|template| {
                let path = fill(template, &values).unwrap_or_else(|_| template.clone());
                let digest = std::fs::read(self.workdir.join(&path))
                    .map_or_else(|e| format!("unreadable: {e}"), |b| sha256_hex(&b));
                FileDigest {
                    path: template.clone(),
                    sha256: digest,
                }
            })
            .collect();
        record.status = match failure {
            None => ProgramStatus::Completed,
            Some(_) => ProgramStatus::Failed,
        };
        record.failure = failure.map(|why| match stderr_tail(&folder.join("stderr.txt")) {
            tail if tail.is_empty() => why,
            tail => format!("{why}; stderr ends: {tail}"),
        });
    }
}

/// Kills what an interrupted run in `folder` left running and empties the folder; a
/// folder that holds files but no record is not a program run and is refused.
fn clear(folder: &Path) -> Result<(), ProgramError> {
    let occupied = std::fs::read_dir(folder).is_ok_and(|mut entries| entries.next().is_some());
    if occupied {
        let Some(record) = read_record(folder) else {
            return Err(ProgramError::Io {
                path: folder.to_owned(),
                source: std::io::Error::other(
                    "holds files but no command.json: not a program run, so it is left alone",
                ),
            });
        };
        let run = run_marker(folder);
        if let Some(pgid) = record.pgid.filter(|p| spawn::group_of_run_alive(*p, &run)) {
            spawn::kill_group(pgid);
        }
        std::fs::remove_dir_all(folder).map_err(io(folder))?;
    }
    let out = folder.join("out");
    std::fs::create_dir_all(&out).map_err(io(&out))
}

/// What [`spawn::RUN_VARIABLE`] holds for a run in `folder`.
fn run_marker(folder: &Path) -> String {
    std::path::absolute(folder)
        .unwrap_or_else(|_| folder.to_owned())
        .display()
        .to_string()
}

fn write_record(folder: &Path, record: &ProgramRecord) -> Result<(), ProgramError> {
    let path = folder.join(RECORD_FILE);
    let json =
        serde_json::to_vec_pretty(record).map_err(|e| ProgramError::Metrics(e.to_string()))?;
    write_atomic(&path, &json).map_err(io(&path))
}

/// The runner's variables and those of a fixed list that are set.
fn recorded_env(set: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut env = set.clone();
    for name in RECORDED_ENV {
        if let (false, Ok(value)) = (env.contains_key(name), std::env::var(name)) {
            env.insert(name.to_owned(), value);
        }
    }
    env
}

/// For a Python program (its argv[0] named python...): its version, and `pip freeze` into
/// `pip-freeze.txt`.
fn python_info(program: &str, workdir: &Path, folder: &Path) -> Option<PythonInfo> {
    let name = Path::new(program)
        .file_name()?
        .to_string_lossy()
        .into_owned();
    if !name.starts_with("python") {
        return None;
    }
    let output = |args: &[&str]| {
        std::process::Command::new(program)
            .args(args)
            .current_dir(workdir)
            .stdin(std::process::Stdio::null())
            .output()
    };
    let version = match output(&["--version"]) {
        Ok(o) => String::from_utf8_lossy(if o.stdout.is_empty() {
            &o.stderr
        } else {
            &o.stdout
        })
        .trim()
        .to_owned(),
        Err(e) => format!("unknown ({e})"),
    };
    let pip_freeze = match output(&["-m", "pip", "freeze", "--all"]) {
        Ok(o)
            if o.status.success()
                && std::fs::write(folder.join("pip-freeze.txt"), &o.stdout).is_ok() =>
        {
            "pip-freeze.txt".into()
        }
        Ok(o) => format!(
            "pip freeze failed: {}",
            crate::text::shorten(String::from_utf8_lossy(&o.stderr).trim(), 200)
        ),
        Err(e) => format!("pip freeze failed: {e}"),
    };
    Some(PythonInfo {
        version,
        pip_freeze,
    })
}

/// The last lines of a stderr file, joined with " | ".
fn stderr_tail(path: &Path) -> String {
    let text = crate::fsutil::read_capped(path, 16 << 20).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = &lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..];
    crate::text::shorten(&tail.join(" | "), 1_000)
}

/// The first difference between two runs of one seed: an output file by SHA-256, else a
/// metric compared exactly; with the helper's logs, the first divergent epoch too.
pub fn compare_runs(
    a: &ProgramRecord,
    b: &ProgramRecord,
    folders: (&Path, &Path),
) -> Option<String> {
    let short = |d: &str| d[..d.len().min(16)].to_owned();
    let file = a
        .outputs
        .iter()
        .zip(&b.outputs)
        .find(|(x, y)| x.sha256 != y.sha256)
        .map(|(x, y)| {
            format!(
                "output {} differs (SHA-256 {} vs {})",
                x.path,
                short(&x.sha256),
                short(&y.sha256)
            )
        });
    let metric = || {
        a.metrics.iter().find_map(|(name, x)| {
            let y = b.metrics.get(name).copied().unwrap_or(f64::NAN);
            (x.to_bits() != y.to_bits()).then(|| format!("metric {name} differs ({x} vs {y})"))
        })
    };
    let epoch = a.run.spec.epoch_log.as_ref().and_then(|log| {
        let (la, lb) = (log_path(a, log, folders.0), log_path(b, log, folders.1));
        super::epochs::compare_files(&la, &lb).ok().flatten()
    });
    match (file.or_else(metric), epoch) {
        (None, None) => None,
        (Some(first), None) => Some(first),
        (None, Some(e)) => Some(format!("the epoch logs differ: {}", e.describe())),
        (Some(first), Some(e)) => Some(format!(
            "{first}; the epoch logs first differ at {}",
            e.describe()
        )),
    }
}

/// Where a run's per-epoch log is.
pub fn log_path(record: &ProgramRecord, template: &str, folder: &Path) -> PathBuf {
    let values = record.run.values(folder);
    record
        .workdir
        .join(fill(template, &values).unwrap_or_default())
}
