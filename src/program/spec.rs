//! `[runners.NAME]`: a program as a claim file declares it, its placeholders, and one
//! replicate of it ready to run.

use super::metrics::MetricsSpec;
use super::record::FileDigest;
use super::{ProgramError, io};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How a claim's run names a runner: `run = "runner:NAME"`.
pub const RUNNER_PREFIX: &str = "runner:";

/// The runner a run spec's `run` names, if it names one.
pub fn runner_name(run: &str) -> Option<&str> {
    run.strip_prefix(RUNNER_PREFIX)
}

/// The metric names a runner's `metrics` table may map (test split unless `train_`).
pub const METRIC_NAMES: [&str; 8] = [
    "accuracy",
    "loss",
    "macro_f1",
    "macro_precision",
    "macro_recall",
    "train_accuracy",
    "train_loss",
    "train_test_gap",
];

/// The placeholders a command, an environment value or a file template may hold.
const PLACEHOLDERS: [&str; 4] = ["seed", "out", "device", "workdir"];

/// Where a program runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProgramCwd {
    /// In the runner's `workdir` (shared by every replicate).
    #[default]
    Workdir,
    /// In the run's own folder `{out}`, so that a script writing `./checkpoint/` keeps each
    /// replicate's files apart; name the script as `{workdir}/train.py`.
    Out,
}

/// The most seconds a runner may give its program.
const MAX_TIMEOUT_S: u64 = 30 * 24 * 3600;

/// A program as `[runners.NAME]` declares it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramSpec {
    /// The argv: the program, then its arguments; `{seed}`, `{out}` and `{device}` are
    /// replaced. Run without a shell.
    pub command: Vec<String>,
    /// The folder the program runs in, relative to the claim file [default: its folder].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<PathBuf>,
    /// Files (relative to the workdir) whose SHA-256 goes into the run key and the record:
    /// the script, its requirements, its config.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<PathBuf>,
    /// Files the program writes (templates, e.g. `{out}/model.pt`): their SHA-256 is
    /// recorded, and a reproducibility claim compares them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<String>,
    /// Where its final metrics are and what they are called.
    pub metrics: MetricsSpec,
    /// Environment variables set for the program (values may hold placeholders); the
    /// rest of the environment is inherited.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Seconds before the program's process group is killed and the seed counts as failed.
    #[serde(default = "default_timeout")]
    pub timeout_s: u64,
    /// `{seed}` is the seed tree's replicate seed modulo `seed_max + 1`: 4294967295 by
    /// default, what `numpy.random.seed` accepts (`torch.manual_seed` takes any u64).
    #[serde(default = "default_seed_max")]
    pub seed_max: u64,
    /// The per-epoch log the Python helper writes (`python/cifar_repro_log.py`), a
    /// template such as `{out}/epochs.jsonl`: `verify` then names the first divergent epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch_log: Option<String>,
    /// Where the program runs: `workdir` [default] or `out` (the run's own folder).
    /// Relative `outputs`, `metrics.file` and `epoch_log` are read from there.
    #[serde(default, skip_serializing_if = "is_default")]
    pub cwd: ProgramCwd,
    /// Run the program under a pseudo-terminal (for programs that query the terminal:
    /// `stty size`, progress bars); its stdout and stderr then arrive as one stream, kept
    /// in `stdout.txt`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub terminal: bool,
    /// Seed Python's `random`, numpy and torch (and set `PYTHONHASHSEED`) with the
    /// replicate's seed before the program's first line, through a `sitecustomize` start-up
    /// hook put first on `PYTHONPATH`: for a script that takes no seed. A change to the
    /// program's conditions, recorded in `command.json`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub seed_python: bool,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

fn default_timeout() -> u64 {
    24 * 3600
}

fn default_seed_max() -> u64 {
    u32::MAX as u64
}

impl ProgramSpec {
    /// What `{seed}` becomes for the seed tree's `seed`: reduced into 0..=seed_max.
    pub fn seed_for(&self, seed: u64) -> u64 {
        match self.seed_max.checked_add(1) {
            Some(range) => seed % range,
            None => seed,
        }
    }

    /// Whether the program gets a seed from outside: `{seed}` in its command or its
    /// environment, or `seed_python`. Without one its replicates are unseeded runs.
    pub fn seeded(&self) -> bool {
        self.seed_python || self.takes_seed()
    }

    /// Whether `{seed}` appears in the command or an environment value.
    pub fn takes_seed(&self) -> bool {
        self.command
            .iter()
            .chain(self.env.values())
            .any(|t| t.replace("{{", "").contains("{seed}"))
    }

    /// Refuses a spec that cannot run: no program, an unknown placeholder, a timeout out
    /// of range, an unknown metric or none.
    pub fn validate(&self, runner: &str) -> Result<(), ProgramError> {
        let fail = |message: String| {
            Err(ProgramError::Spec {
                runner: runner.to_owned(),
                message,
            })
        };
        if self.command.first().is_none_or(|p| p.trim().is_empty()) {
            return fail("`command` must name a program: command = [\"python3\", \"train.py\", \"--seed\", \"{seed}\"]".into());
        }
        if !(1..=MAX_TIMEOUT_S).contains(&self.timeout_s) {
            return fail(format!(
                "timeout_s = {} is out of range: allowed 1..={MAX_TIMEOUT_S}",
                self.timeout_s
            ));
        }
        if self.seed_max == 0 {
            return fail("seed_max must be at least 1".into());
        }
        let templates = self
            .command
            .iter()
            .chain(self.env.values())
            .chain(&self.outputs)
            .chain(self.metrics.file.iter())
            .chain(self.epoch_log.iter());
        for template in templates {
            if let Err(message) = fill(template, &Values::default()) {
                return fail(message);
            }
        }
        self.metrics.validate().or_else(fail)
    }
}

/// What the placeholders stand for in one replicate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Values {
    pub seed: u64,
    pub out: PathBuf,
    pub device: String,
    pub workdir: PathBuf,
}

/// `template` with `{seed}`, `{out}` and `{device}` replaced (`{{` and `}}` stand for
/// braces); an unknown placeholder or an unclosed brace is an error naming it.
pub fn fill(template: &str, values: &Values) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push(tail.as_bytes()[0] as char);
            rest = &tail[2..];
            continue;
        }
        let close = tail.find('}').filter(|_| tail.starts_with('{'));
        let Some(close) = close else {
            return Err(format!(
                "{template:?}: a lone brace; write {{{{ or }}}} for a literal one"
            ));
        };
        let name = &tail[1..close];
        match name {
            "seed" => out.push_str(&values.seed.to_string()),
            "out" => out.push_str(&values.out.display().to_string()),
            "device" => out.push_str(&values.device),
            "workdir" => out.push_str(&values.workdir.display().to_string()),
            other => {
                return Err(format!(
                    "{template:?}: unknown placeholder {{{other}}}; the placeholders are {}",
                    PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ")
                ));
            }
        }
        rest = &tail[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// One replicate of a runner, ready to run: its spec, its workdir, its inputs' digests,
/// its seed and device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgramRun {
    /// The runner's name in the claim file.
    pub runner: String,
    /// Its spec.
    pub spec: ProgramSpec,
    /// The workdir, as the claim file's folder joined with the spec's.
    pub workdir: PathBuf,
    /// The digests of its input files.
    pub inputs: Vec<FileDigest>,
    /// The seed it is given.
    pub seed: u64,
    /// The device it is given (`cpu`, `cuda`).
    pub device: String,
}

impl ProgramRun {
    /// Replicate with `seed` (the seed tree's; reduced to the spec's range) of the runner
    /// `runner` of a claim file in `base_dir`, on `device`; its inputs are hashed now.
    pub fn new(
        runner: &str,
        spec: &ProgramSpec,
        base_dir: &Path,
        seed: u64,
        device: &str,
    ) -> Result<Self, ProgramError> {
        spec.validate(runner)?;
        let workdir = base_dir.join(spec.workdir.as_deref().unwrap_or(Path::new("")));
        if !workdir.is_dir() {
            return Err(ProgramError::Spec {
                runner: runner.to_owned(),
                message: format!("workdir {} is not a folder", workdir.display()),
            });
        }
        let inputs = spec
            .inputs
            .iter()
            .map(|path| {
                let full = workdir.join(path);
                Ok(FileDigest {
                    path: path.display().to_string(),
                    sha256: crate::hash::sha256_file(&full).map_err(io(&full))?,
                })
            })
            .collect::<Result<Vec<_>, ProgramError>>()?;
        Ok(Self {
            runner: runner.to_owned(),
            spec: spec.clone(),
            workdir,
            inputs,
            seed: spec.seed_for(seed),
            device: device.to_owned(),
        })
    }

    /// This run as replicate seed `seed` (the seed tree's; reduced to the spec's range).
    pub fn with_seed(&self, seed: u64) -> Self {
        Self {
            seed: self.spec.seed_for(seed),
            ..self.clone()
        }
    }

    /// What the run key covers: the spec (the command template and everything it reads),
    /// the inputs' digests, the seed and the device; not the workdir's place on disk.
    pub fn key_text(&self) -> String {
        let value = serde_json::json!({
            "runner": self.runner,
            "spec": self.spec,
            "inputs": self.inputs,
            "seed": self.seed,
            "device": self.device,
        });
        value.to_string()
    }

    /// The placeholders' values for a run in `folder`.
    pub fn values(&self, folder: &Path) -> Values {
        Values {
            seed: self.seed,
            out: absolute(&folder.join("out")),
            device: self.device.clone(),
            workdir: absolute(&self.workdir),
        }
    }

    /// The folder the program runs in, for a run in `folder`.
    pub fn cwd(&self, folder: &Path) -> PathBuf {
        match self.spec.cwd {
            ProgramCwd::Workdir => self.workdir.clone(),
            ProgramCwd::Out => absolute(&folder.join("out")),
        }
    }

    /// A file template (an output, the metrics file, the epoch log) filled in for a run
    /// in `folder`, relative paths taken from where the program ran.
    pub fn file(&self, template: &str, folder: &Path) -> PathBuf {
        let filled = fill(template, &self.values(folder)).unwrap_or_else(|_| template.into());
        self.cwd(folder).join(filled)
    }

    /// The argv for a run in `folder`.
    pub fn argv(&self, folder: &Path) -> Vec<String> {
        let values = self.values(folder);
        self.spec
            .command
            .iter()
            .map(|a| fill(a, &values).unwrap_or_else(|_| a.clone()))
            .collect()
    }
}

/// `path` made absolute against the current folder (unchanged when that cannot be read).
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Values {
        Values {
            seed: 42,
            out: PathBuf::from("/runs/abc/out"),
            device: "cuda".into(),
            workdir: PathBuf::from("/w"),
        }
    }

    #[test]
    fn placeholders_are_filled_and_braces_escaped() {
        let filled = fill(
            "--seed={seed} {out}/m.pt on {device} {{literal}}",
            &values(),
        );
        assert_eq!(
            filled.unwrap(),
            "--seed=42 /runs/abc/out/m.pt on cuda {literal}"
        );
        assert_eq!(fill("no placeholder", &values()).unwrap(), "no placeholder");
    }

    #[test]
    fn an_unknown_placeholder_or_a_lone_brace_is_named() {
        let unknown = fill("--lr {lr}", &values()).unwrap_err();
        assert!(unknown.contains("unknown placeholder {lr}"), "{unknown}");
        assert!(
            unknown.contains("{seed}, {out}, {device}, {workdir}"),
            "{unknown}"
        );
        assert!(fill("{seed", &values()).unwrap_err().contains("lone brace"));
        assert!(fill("a}b", &values()).unwrap_err().contains("lone brace"));
    }

    #[test]
    fn a_seed_is_reduced_into_the_range_the_program_takes() {
        let spec: ProgramSpec = toml::from_str(
            "command = [\"p\"]\nmetrics = { file = \"m.json\", accuracy = \"a\" }\nseed_max = 9",
        )
        .unwrap();
        assert_eq!(spec.seed_for(1234), 4);
        let wide = ProgramSpec {
            seed_max: u64::MAX,
            ..spec.clone()
        };
        assert_eq!(wide.seed_for(u64::MAX), u64::MAX);
        let default: ProgramSpec =
            toml::from_str("command = [\"p\"]\nmetrics = { file = \"m.json\", accuracy = \"a\" }")
                .unwrap();
        assert_eq!(default.seed_for(1 << 32), 0);
        assert!(default.validate("r").is_ok());
    }

    #[test]
    fn a_spec_that_cannot_run_is_refused_by_name() {
        let spec = |text: &str| {
            toml::from_str::<ProgramSpec>(text)
                .unwrap()
                .validate("r")
                .unwrap_err()
                .to_string()
        };
        let metrics = "metrics = { file = \"m.json\", accuracy = \"a\" }";
        assert!(spec(&format!("command = []\n{metrics}")).contains("must name a program"));
        assert!(
            spec(&format!("command = [\"p\"]\ntimeout_s = 0\n{metrics}")).contains("timeout_s = 0")
        );
        assert!(spec(&format!("command = [\"p\", \"{{lr}}\"]\n{metrics}")).contains("{lr}"));
        assert!(
            spec("command = [\"p\"]\nmetrics = { file = \"m.json\", acc = \"a\" }")
                .contains("metrics.acc is not a metric")
        );
        assert!(
            spec("command = [\"p\"]\nmetrics = { file = \"m.json\" }").contains("maps no metric")
        );
    }
}
