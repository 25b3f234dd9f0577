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
    /// When the group's leader started (clock ticks since boot), while it runs: tells the
    /// run's group from a later one that reused its id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pgid_started: Option<u64>,
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
    /// Bytes cut from the middle of its stdout and stderr (each log keeps its first and
    /// last 16 MiB, with a line where the cut is).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub output_cut: u64,
    /// The final metrics read, by cifar-repro's names (a diverged run's NaN or infinity
    /// written as the strings "NaN", "inf", "-inf", which JSON numbers cannot hold).
    #[serde(default, with = "non_finite_as_text")]
    pub metrics: BTreeMap<String, f64>,
    /// The digests of the files it wrote (the spec's `outputs`; a folder hashed as a tree
    /// of names and bytes); for one missing or unreadable, why, in place of the digest.
    #[serde(default)]
    pub outputs: Vec<FileDigest>,
    /// Why the seed failed, with the end of stderr.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// The SHA-256 of the record's JSON without this field, set when it is written: an
    /// edit anywhere is found on reading (a seal against accidents and edits; anyone
    /// holding the tool can reseal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The record in `folder`, if one is there and readable.
fn read_record(folder: &Path) -> Option<ProgramRecord> {
    ProgramRecord::read(folder).ok()
}

impl ProgramRecord {
    /// The record of the program run in `folder`; an error naming the file when it is
    /// absent, not a record, or not the record cifar-repro sealed (edited since).
    pub fn read(folder: &Path) -> Result<Self, ProgramError> {
        let path = folder.join(RECORD_FILE);
        let text = crate::fsutil::read_capped(&path, 64 << 20).map_err(io(&path))?;
        let record: Self = serde_json::from_str(&text).map_err(|e| {
            ProgramError::Metrics(format!(
                "{}: not a program run's record ({e})",
                path.display()
            ))
        })?;
        match &record.digest {
            Some(digest) if *digest == record.content_digest()? => Ok(record),
            Some(_) => Err(ProgramError::Tampered(path)),
            None => Err(ProgramError::Unsealed(path)),
        }
    }

    /// The record as JSON, sealed: `digest` set to the SHA-256 of its content.
    pub fn to_sealed_json(&self) -> Result<Vec<u8>, ProgramError> {
        let sealed = Self {
            digest: Some(self.content_digest()?),
            ..self.clone()
        };
        serde_json::to_vec_pretty(&sealed).map_err(|e| ProgramError::Metrics(e.to_string()))
    }

    /// The SHA-256 of the record's JSON without its digest.
    fn content_digest(&self) -> Result<String, ProgramError> {
        let unsealed = Self {
            digest: None,
            ..self.clone()
        };
        let json =
            serde_json::to_vec(&unsealed).map_err(|e| ProgramError::Metrics(e.to_string()))?;
        Ok(sha256_hex(&json))
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
        let record = match ProgramRecord::read(folder) {
            Ok(record) => record,
            Err(ProgramError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Ok(None);
            }
            Err(e @ (ProgramError::Tampered(_) | ProgramError::Unsealed(_))) => return Err(e),
            Err(_) => return Ok(None),
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
        let env = self.environment(folder)?;
        let argv = self.argv(folder);
        let mut record = ProgramRecord {
            status: ProgramStatus::Running,
            run: self.clone(),
            env: recorded_env(&env),
            python: python_info(&argv[0], &self.cwd(folder), folder),
            workdir: self.workdir.clone(),
            argv,
            pgid: None,
            pgid_started: None,
            exit_code: None,
            signal: None,
            timed_out: false,
            wall_seconds: 0.0,
            stdout: "stdout.txt".into(),
            stderr: "stderr.txt".into(),
            output_cut: 0,
            metrics: BTreeMap::new(),
            outputs: Vec::new(),
            failure: None,
            digest: None,
        };
        write_record(folder, &record)?;
        let ended = self.spawn(folder, &env, &mut record)?;
        record.pgid = None;
        record.pgid_started = None;
        record.exit_code = ended.exit_code;
        record.signal = ended.signal;
        record.timed_out = ended.timed_out;
        record.wall_seconds = ended.wall_seconds;
        record.output_cut = ended.output_cut;
        self.conclude(folder, &mut record);
        write_record(folder, &record)?;
        Ok(record)
    }

    /// The variables the program gets over the inherited environment: the runner's, and
    /// with `seed_python` the start-up hook's (written into `folder/hook/`).
    fn environment(&self, folder: &Path) -> Result<BTreeMap<String, String>, ProgramError> {
        let values = self.values(folder);
        let mut env: BTreeMap<String, String> = self
            .spec
            .env
            .iter()
            .map(|(k, v)| (k.clone(), fill(v, &values).unwrap_or_else(|_| v.clone())))
            .collect();
        if self.spec.seed_python {
            let hook = super::hook::write(folder)?;
            env.extend(super::hook::variables(
                &hook,
                self.seed,
                env.get("PYTHONPATH"),
            ));
        }
        Ok(env)
    }

    fn spawn(
        &self,
        folder: &Path,
        env: &BTreeMap<String, String>,
        record: &mut ProgramRecord,
    ) -> Result<Ended, ProgramError> {
        let open = |name: &str| {
            let path = folder.join(name);
            crate::fsutil::create_owned(&path).map_err(io(&path))
        };
        let output = match self.spec.terminal {
            true => spawn::Output::Terminal(open("stdout.txt")?),
            false => spawn::Output::Files(open("stdout.txt")?, open("stderr.txt")?),
        };
        if self.spec.terminal {
            open("stderr.txt")?;
        }
        let mut write_error = None;
        let argv = record.argv.clone();
        let mut started = |pgid: i32, ticks: Option<u64>| {
            record.pgid = Some(pgid);
            record.pgid_started = ticks;
            write_error = write_record(folder, record).err();
        };
        let timeout = Duration::from_secs(self.spec.timeout_s);
        let unset = unset_variables(env);
        let cwd = self.cwd(folder);
        let ended =
            spawn::run(&argv, (&cwd, env, &unset), output, timeout, &mut started).map_err(|e| {
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

    /// Where the metrics are read: the program's stdout or stderr in `folder`, or its
    /// metrics file.
    pub fn metrics_source(&self, folder: &Path) -> PathBuf {
        let metrics = &self.spec.metrics;
        match (&metrics.file, metrics.stdout) {
            (Some(file), _) => self.file(file, folder),
            (None, true) => folder.join("stdout.txt"),
            (None, false) => folder.join("stderr.txt"),
        }
    }

    /// Sets the record's status, metrics, outputs and failure from how the program ended.
    fn conclude(&self, folder: &Path, record: &mut ProgramRecord) {
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
            let path = self.metrics_source(folder);
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
            .map(|template| FileDigest {
                path: template.clone(),
                sha256: super::digest::output_digest(&self.file(template, folder)),
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
        let alive = |pgid: &i32| spawn::group_alive(*pgid, record.pgid_started.unwrap_or(0));
        if let Some(pgid) = record.pgid.filter(alive) {
            spawn::kill_group(pgid);
        }
        std::fs::remove_dir_all(folder).map_err(io(folder))?;
    }
    let out = folder.join("out");
    std::fs::create_dir_all(&out).map_err(io(&out))
}

fn write_record(folder: &Path, record: &ProgramRecord) -> Result<(), ProgramError> {
    let path = folder.join(RECORD_FILE);
    let json = record.to_sealed_json()?;
    write_atomic(&path, &json).map_err(io(&path))
}

/// The runner's variables and those of a fixed list that the program inherits.
fn recorded_env(set: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut env = set.clone();
    let unset = unset_variables(set);
    for name in RECORDED_ENV.iter().filter(|n| !unset.contains(n)) {
        if let (false, Ok(value)) = (env.contains_key(*name), std::env::var(name)) {
            env.insert((*name).to_owned(), value);
        }
    }
    env
}

/// The variables cifar-repro set for itself that the program must not inherit: all of
/// them but those the runner sets.
fn unset_variables(set: &BTreeMap<String, String>) -> Vec<&'static str> {
    crate::determinism::flags::variables_set_here()
        .into_iter()
        .filter(|name| !set.contains_key(*name))
        .collect()
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
                && crate::fsutil::write_atomic(&folder.join("pip-freeze.txt"), &o.stdout)
                    .is_ok() =>
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

/// Metrics as JSON: finite values as numbers, NaN and the infinities as strings (serde_json
/// would write them as `null`, which does not read back as a number).
mod non_finite_as_text {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Value {
        Number(f64),
        Text(String),
    }

    pub fn serialize<S: Serializer>(map: &BTreeMap<String, f64>, s: S) -> Result<S::Ok, S::Error> {
        let shown: BTreeMap<&String, Value> = map
            .iter()
            .map(|(k, v)| match v.is_finite() {
                true => (k, Value::Number(*v)),
                false => (k, Value::Text(v.to_string())),
            })
            .collect();
        shown.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, f64>, D::Error> {
        let read: BTreeMap<String, Value> = BTreeMap::deserialize(d)?;
        read.into_iter()
            .map(|(k, v)| match v {
                Value::Number(x) => Ok((k, x)),
                Value::Text(t) => t
                    .parse()
                    .map(|x| (k, x))
                    .map_err(|_| serde::de::Error::custom(format!("metric {t:?} is not a number"))),
            })
            .collect()
    }
}

/// The first difference between two program runs: first in what was run (the runner,
/// its command and spec, the seed, the inputs, the environment), then an output file by
/// SHA-256 (one missing or unreadable in either run is a difference, never equal), then
/// a metric compared exactly (one that a run lacks is missing); with the helper's logs,
/// the first divergent epoch too.
pub fn compare_runs(
    a: &ProgramRecord,
    b: &ProgramRecord,
    folders: (&Path, &Path),
) -> Option<String> {
    if let Some(recipe) = recipe_difference(a, b, folders) {
        return Some(format!("they ran different things: {recipe}"));
    }
    let first = output_difference(a, b).or_else(|| metric_difference(a, b));
    let epoch = a.run.spec.epoch_log.as_ref().and_then(|log| {
        let (la, lb) = (a.run.file(log, folders.0), b.run.file(log, folders.1));
        super::epochs::compare_files(&la, &lb).ok().flatten()
    });
    match (first, epoch) {
        (None, None) => None,
        (Some(first), None) => Some(first),
        (None, Some(e)) => Some(format!("the epoch logs differ: {}", e.describe())),
        (Some(first), Some(e)) => Some(format!(
            "{first}; the epoch logs first differ at {}",
            e.describe()
        )),
    }
}

/// The first declared output that is missing or unreadable in either run, named with why.
pub fn unusable_output(a: &ProgramRecord, b: &ProgramRecord) -> Option<String> {
    let runs = [("the first run", a), ("the second run", b)];
    runs.iter().find_map(|(which, record)| {
        record
            .outputs
            .iter()
            .find(|o| !super::digest::is_digest(&o.sha256))
            .map(|o| format!("output {} in {which}: {}", o.path, o.sha256))
    })
}

fn output_difference(a: &ProgramRecord, b: &ProgramRecord) -> Option<String> {
    if let Some(unusable) = unusable_output(a, b) {
        return Some(format!("{unusable}; it cannot be compared"));
    }
    let short = |d: &str| d[..d.len().min(16)].to_owned();
    a.outputs
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
        })
}

fn metric_difference(a: &ProgramRecord, b: &ProgramRecord) -> Option<String> {
    let names: std::collections::BTreeSet<&String> =
        a.metrics.keys().chain(b.metrics.keys()).collect();
    names
        .into_iter()
        .find_map(|name| match (a.metrics.get(name), b.metrics.get(name)) {
            (Some(x), Some(y)) if x.to_bits() == y.to_bits() => None,
            (Some(x), Some(y)) => Some(format!("metric {name} differs ({x} vs {y})")),
            (Some(_), None) => Some(format!("metric {name} is missing from the second run")),
            _ => Some(format!("metric {name} is missing from the first run")),
        })
}

/// What differs in what the two runs were: the runner, the command, the seed, the device,
/// an input's digest, the rest of the spec, an environment variable (each run's own
/// folder read as `{run}`); none when they ran the same thing.
pub fn recipe_difference(
    a: &ProgramRecord,
    b: &ProgramRecord,
    folders: (&Path, &Path),
) -> Option<String> {
    let (x, y) = (&a.run, &b.run);
    let quoted = |v: &[String]| format!("{v:?}");
    let pairs = [
        ("the runner", x.runner.clone(), y.runner.clone()),
        (
            "the command",
            quoted(&x.spec.command),
            quoted(&y.spec.command),
        ),
        ("the seed", x.seed.to_string(), y.seed.to_string()),
        ("the device", x.device.clone(), y.device.clone()),
    ];
    if let Some((what, p, q)) = pairs.into_iter().find(|(_, p, q)| p != q) {
        return Some(format!("{what}: {p} vs {q}"));
    }
    if let Some(input) = input_difference(&x.inputs, &y.inputs) {
        return Some(input);
    }
    if x.spec != y.spec {
        return Some("the runner's spec (outputs, metrics, timeout or options)".into());
    }
    env_difference(&a.env, &b.env, folders)
}

fn input_difference(x: &[FileDigest], y: &[FileDigest]) -> Option<String> {
    let short = |d: &str| d[..d.len().min(16)].to_owned();
    x.iter().zip(y).find(|(p, q)| p != q).map(|(p, q)| {
        format!(
            "input {} (SHA-256 {}) vs {} (SHA-256 {})",
            p.path,
            short(&p.sha256),
            q.path,
            short(&q.sha256)
        )
    })
}

fn env_difference(
    x: &BTreeMap<String, String>,
    y: &BTreeMap<String, String>,
    folders: (&Path, &Path),
) -> Option<String> {
    let own = |value: &str, folder: &Path| {
        let folder = std::path::absolute(folder).unwrap_or_else(|_| folder.to_owned());
        value.replace(&folder.display().to_string(), "{run}")
    };
    let names: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
    names.into_iter().find_map(|name| {
        let p = x.get(name).map(|v| own(v, folders.0));
        let q = y.get(name).map(|v| own(v, folders.1));
        let shown = |v: Option<String>| v.map_or("unset".into(), |v| format!("{name}={v}"));
        (p != q).then(|| format!("the environment: {} vs {}", shown(p), shown(q)))
    })
}
