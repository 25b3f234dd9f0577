//! Claim files (TOML, unknown keys rejected): what was claimed, about which run, and what
//! checking it requires.

pub use crate::config::RunSpec;
use crate::config::set_override;
use crate::program::{ProgramSpec, runner_name};
use crate::text::Shown;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Which number of a run a claim is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// The fraction predicted right.
    Accuracy,
    /// The mean cross-entropy.
    Loss,
    /// The mean of the per-class F1 scores.
    MacroF1,
    /// The mean of the per-class precisions.
    MacroPrecision,
    /// The mean of the per-class recalls.
    MacroRecall,
    /// Train accuracy minus test accuracy.
    TrainTestGap,
}

impl Metric {
    /// The values the metric can take: a proportion in [0, 1], a gap between two
    /// proportions in [-1, 1], a loss in [0, ∞).
    pub fn domain(self) -> std::ops::RangeInclusive<f64> {
        match self {
            Metric::Accuracy | Metric::MacroF1 | Metric::MacroPrecision | Metric::MacroRecall => {
                0.0..=1.0
            }
            Metric::TrainTestGap => -1.0..=1.0,
            Metric::Loss => 0.0..=f64::MAX,
        }
    }

    /// How far two values of the metric can be apart.
    pub fn width(self) -> f64 {
        let d = self.domain();
        d.end() - d.start()
    }

    /// The metric's name as a claim file spells it.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Accuracy => "accuracy",
            Metric::Loss => "loss",
            Metric::MacroF1 => "macro_f1",
            Metric::MacroPrecision => "macro_precision",
            Metric::MacroRecall => "macro_recall",
            Metric::TrainTestGap => "train_test_gap",
        }
    }
}

/// The split a metric is read on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricSplit {
    /// The training batches of the epoch, as trained (augmented).
    Train,
    /// The test split.
    #[default]
    Test,
}

/// What checking a claim needs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requires {
    /// The whole official data set.
    #[serde(default)]
    pub full_data: bool,
    /// The model's pretrained weights file.
    #[serde(default)]
    pub pretrained: bool,
    /// A CUDA device.
    #[serde(default)]
    pub cuda: bool,
    /// Memory of the training device in GiB (the GPU's own on CUDA, RAM on the CPU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_memory_gb: Option<f64>,
}

/// How a claim's metric compares with another run's (`than`) or with a bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Relation {
    /// Greater than the other run's, or the bound.
    Greater,
    /// Less than the other run's, or the bound.
    Less,
    /// Within ±margin of the other run ("barely moves").
    Same,
}

/// What a claim asserts, which decides the test that judges it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Form {
    /// The metric equals `value` within ±margin.
    Value(f64),
    /// This run's metric minus the other's equals the claimed difference within ±margin
    /// (0 for [`Relation::Same`]).
    Difference(f64),
    /// This run's metric is greater or less than the other's by at least the margin.
    Effect(Relation),
    /// The metric is greater or less than `bound` (a constant), on average.
    Bound {
        /// Greater or less.
        relation: Relation,
        /// The constant.
        bound: f64,
    },
    /// The same seed trained twice gives bit-identical runs.
    Reproducible,
}

/// One claim: absolute (`value`), relative (`than` and `relation`), a bound (`relation`
/// and `bound`) or reproducibility (`reproducible = true`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    /// A short name, unique in the file (E2-narrows-gap).
    pub id: String,
    /// What the source says, in its words.
    pub sentence: String,
    /// The run the metric is read from.
    #[serde(flatten)]
    pub run: RunSpec,
    /// The metric (every form but reproducibility).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<Metric>,
    /// The split the metric is read on.
    #[serde(default)]
    pub split: MetricSplit,
    /// Read the metric after this epoch (1-based) instead of after the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_epoch: Option<usize>,
    /// Read the metric's change from this epoch (1-based) to the last: what a plateau is
    /// about ("from epoch 40 on, accuracy gains less than 0.01").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_epoch: Option<usize>,
    /// The claimed value (absolute claims).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// How many runs stand behind the claimed value (1, what a report usually means).
    #[serde(default = "one_run")]
    pub runs: usize,
    /// Their standard deviation; required when `runs` > 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spread: Option<f64>,
    /// How many seeds may fail (diverge) before the claim is NOT RUN: 1 unless the claim or
    /// the file says otherwise (MLPerf's ResNet rule). Within it a failed seed is dropped,
    /// or, when the claim's own run failed in a relative claim with a direction, counted as
    /// the least favourable difference observed.
    #[serde(default = "one_run")]
    pub max_failures: usize,
    /// The equivalence margin: the smallest difference that matters (for a relative claim
    /// without `difference`, the smallest effect of interest). The file's `margin` when
    /// the claim gives none.
    #[serde(default)]
    pub margin: f64,
    /// A relative claim's claimed size: this run's metric minus the other's (e.g. +0.30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub difference: Option<f64>,
    /// Test images behind the metric, for the zero-variance floor of `--results` audits
    /// (a training audit reads it from its runs); CIFAR-10's 10,000 when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_images: Option<u64>,
    /// The other run of a relative claim: this claim's metric `relation` that run's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub than: Option<RunSpec>,
    /// How this run's metric compares with `than`'s or with `bound`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relation: Option<Relation>,
    /// The constant a bound claim compares the metric with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound: Option<f64>,
    /// A reproducibility claim: the first seed trained twice must give bit-identical runs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reproducible: bool,
    /// A released checkpoint to evaluate instead of training the run (relative to the
    /// claim file): a `torch.save` state dict of the run's model, or a TorchScript module;
    /// the run names the model and the test preprocessing. One evaluation, judged by the
    /// test set's binomial interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<PathBuf>,
    /// What checking the claim needs; without it the claim is NOT RUN.
    #[serde(default)]
    pub requires: Requires,
    /// How the report's silences were filled, for the reader.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub choices: String,
    /// Alternative readings of what the source leaves open, as config keys and the values
    /// each reading gives them, e.g. `{ "model.stem" = ["imagenet", "cifar"] }`. The claim
    /// is audited once per reading (every combination), each as its own claim named
    /// `ID [key=value]`, so the table shows which reading reproduces it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interpretations: Option<toml::Table>,
    /// The reading this claim is audited under (set when interpretations are expanded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reading: Option<String>,
}

/// The keys a `[[claim]]` table may hold (serde names no list for a flattened struct).
const CLAIM_KEYS: [&str; 24] = [
    "id",
    "sentence",
    "run",
    "overrides",
    "metric",
    "split",
    "at_epoch",
    "since_epoch",
    "value",
    "runs",
    "spread",
    "max_failures",
    "margin",
    "difference",
    "test_images",
    "than",
    "relation",
    "bound",
    "reproducible",
    "checkpoint",
    "requires",
    "choices",
    "interpretations",
    "reading",
];

const FORMS: &str = "give `value` (absolute), `than` and `relation` (relative), `relation` and `bound` (a bound), or `reproducible = true`";

impl Claim {
    /// What the claim asserts, or why its keys make no claim.
    pub fn form(&self) -> Result<Form, String> {
        if self.reproducible {
            let extra = [
                ("metric", self.metric.is_some()),
                ("value", self.value.is_some()),
                ("than", self.than.is_some()),
                ("relation", self.relation.is_some()),
                ("bound", self.bound.is_some()),
                ("at_epoch", self.at_epoch.is_some()),
                ("since_epoch", self.since_epoch.is_some()),
            ];
            return match extra.iter().find(|(_, given)| *given) {
                Some((key, _)) => Err(format!(
                    "`{key}` does not belong to a reproducibility claim (reproducible = true)"
                )),
                None => Ok(Form::Reproducible),
            };
        }
        if self.metric.is_none() {
            return Err("give `metric` (accuracy, loss, macro_f1, ...)".into());
        }
        match (self.value, &self.than, self.relation, self.bound) {
            (Some(v), None, None, None) => Ok(Form::Value(v)),
            (None, Some(_), Some(Relation::Same), None) if self.difference.is_none() => {
                Ok(Form::Difference(0.0))
            }
            (None, Some(_), Some(Relation::Same), None) => {
                Err("`difference` does not belong to relation = \"same\" (it claims 0)".into())
            }
            (None, Some(_), Some(r), None) => Ok(match self.difference {
                Some(d) => Form::Difference(d),
                None => Form::Effect(r),
            }),
            (None, None, Some(Relation::Same), Some(_)) => {
                Err("a bound claim's relation is greater or less, not same".into())
            }
            (None, None, Some(relation), Some(bound)) => Ok(Form::Bound { relation, bound }),
            _ => Err(FORMS.into()),
        }
    }

    /// The released checkpoint a claim evaluates, relative to `base_dir` (the claim file's
    /// folder).
    pub fn checkpoint_file(&self, base_dir: &Path) -> Option<PathBuf> {
        self.checkpoint.as_ref().map(|c| base_dir.join(c))
    }

    /// Whether the claim's run, or the run it is compared with, is a program.
    pub fn runs_program(&self) -> bool {
        std::iter::once(&self.run)
            .chain(self.than.as_ref())
            .any(|r| runner_name(&r.run).is_some())
    }

    /// The claim's metric (accuracy for a reproducibility claim, which reads none).
    pub fn metric(&self) -> Metric {
        self.metric.unwrap_or(Metric::Accuracy)
    }

    /// What makes the claim's statistics undefined, if anything: a missing or non-positive
    /// margin, runs without a spread, a difference that contradicts the relation, claimed
    /// numbers outside the metric's domain, epochs out of range.
    fn shape_problem(&self) -> Option<String> {
        let form = match self.form() {
            Ok(Form::Reproducible) => return None,
            Ok(form) => form,
            Err(problem) => return Some(problem),
        };
        if !(self.margin > 0.0 && self.margin.is_finite()) {
            return Some(format!(
                "margin = {} must be positive: give the smallest difference that matters, on the claim or at the top of the file",
                self.margin.shown()
            ));
        }
        if !(1..=1_000_000).contains(&self.runs) {
            return Some(format!(
                "runs = {} is out of range: allowed 1..=1000000",
                self.runs
            ));
        }
        if self.max_failures > 1000 {
            return Some(format!(
                "max_failures = {} is out of range: allowed 0..=1000",
                self.max_failures
            ));
        }
        if self.runs > 1 && self.spread.is_none() {
            return Some(format!(
                "runs = {} needs `spread`, the standard deviation over those runs",
                self.runs
            ));
        }
        if self.difference.is_some() && self.than.is_none() {
            return Some("`difference` belongs to a relative claim (`than` and `relation`)".into());
        }
        if let (Some(d), Some(relation)) = (self.difference, self.relation) {
            let agrees = match relation {
                Relation::Greater => d > 0.0,
                Relation::Less => d < 0.0,
                Relation::Same => true,
            };
            if !agrees {
                return Some(format!(
                    "difference = {} contradicts relation = {relation:?}",
                    d.shown()
                ));
            }
        }
        if self.test_images == Some(0) {
            return Some("test_images must be at least 1".into());
        }
        self.epoch_problem()
            .or_else(|| self.domain_problem(form))
            .or_else(|| self.checkpoint_problem(form))
    }

    /// Why a checkpoint claim cannot be judged as written: it claims a test accuracy
    /// (`value`, the one metric whose sampling error over the test images is binomial),
    /// of one run that is a preset or config (which names the model and preprocessing).
    fn checkpoint_problem(&self, form: Form) -> Option<String> {
        self.checkpoint.as_ref()?;
        let problem = if !matches!(form, Form::Value(_)) {
            "a checkpoint claim claims a `value` (no than, relation, bound or reproducible)"
        } else if self.metric() != Metric::Accuracy || self.split != MetricSplit::Test {
            "a checkpoint claim judges test accuracy, the one metric whose sampling error over the test images is binomial"
        } else if runner_name(&self.run.run).is_some() {
            "a checkpoint claim's run names the model and the test preprocessing: a preset or config file, not a runner"
        } else if self.runs > 1
            || self.interpretations.is_some()
            || self.at_epoch.is_some()
            || self.since_epoch.is_some()
        {
            "a checkpoint claim is one evaluation of one file: no runs > 1, interpretations, at_epoch or since_epoch"
        } else {
            return None;
        };
        Some(problem.into())
    }

    fn epoch_problem(&self) -> Option<String> {
        match (self.at_epoch, self.since_epoch) {
            (Some(_), Some(_)) => Some("give `at_epoch` or `since_epoch`, not both".into()),
            (Some(0), _) | (_, Some(0)) => Some("epochs count from 1".into()),
            (Some(e), _) | (_, Some(e)) if e > 100_000 => {
                Some(format!("epoch {e} is out of range: allowed 1..=100000"))
            }
            _ => None,
        }
    }

    /// The values the claim's per-seed number can take: the metric's domain, or for a
    /// change since an epoch the differences of two of its values.
    pub fn value_domain(&self) -> std::ops::RangeInclusive<f64> {
        let metric = self.metric();
        match (self.since_epoch, metric) {
            (Some(_), Metric::Loss) => -f64::MAX..=f64::MAX,
            (Some(_), m) => -m.width()..=m.width(),
            (None, m) => m.domain(),
        }
    }

    /// Why the claimed numbers cannot be values of the claim's metric, if they cannot.
    fn domain_problem(&self, form: Form) -> Option<String> {
        let domain = self.value_domain();
        let metric = self.metric().name();
        let outside = |v: f64| !domain.contains(&v);
        let claimed = match form {
            Form::Value(v) => Some(("claimed value", v)),
            Form::Bound { bound, .. } => Some(("bound", bound)),
            _ => None,
        };
        if let Some((what, v)) = claimed.filter(|(_, v)| outside(*v)) {
            return Some(format!(
                "{what} {} is outside the domain of {metric} ({}..={})",
                v.shown(),
                domain.start().shown(),
                domain.end().shown()
            ));
        }
        if let Some(s) = self.spread.filter(|s| !(s.is_finite() && *s >= 0.0)) {
            return Some(format!(
                "claimed spread {} must be a finite number >= 0",
                s.shown()
            ));
        }
        let width = self.metric().width();
        if let Some(d) = self.difference.filter(|d| !(-width..=width).contains(d)) {
            return Some(format!(
                "claimed difference {} is larger than {metric} can differ by ({})",
                d.shown(),
                width.shown()
            ));
        }
        if self.margin > width {
            return Some(format!(
                "margin = {} is larger than {metric} can differ by ({})",
                self.margin.shown(),
                width.shown()
            ));
        }
        None
    }

    /// The zero-variance floor on a seed sample's standard deviation: the binomial
    /// standard deviation of a proportion measured on `test_images` images (for a gap or
    /// a change, at p = 1/2), or 0.1% of a loss.
    pub fn sd_floor(&self, mean: f64, test_images: u64) -> f64 {
        let n = test_images.max(1) as f64;
        match self.metric() {
            Metric::Loss => 1e-3 * mean.abs().max(1e-3),
            _ if self.since_epoch.is_some() => (0.25 / n).sqrt(),
            Metric::TrainTestGap => (0.25 / n).sqrt(),
            _ => {
                let p = mean.clamp(1.0 / n, 1.0 - 1.0 / n);
                (p * (1.0 - p) / n).sqrt()
            }
        }
    }

    /// The claim once per combination of its interpretations (itself when it has none),
    /// refused when they multiply out to more than [`MAX_READINGS`] (counted before any is
    /// made, so a short file cannot ask for millions),
    /// each reading merged into the overrides of its run and of the run it is compared
    /// with.
    fn readings(self) -> Result<Vec<Claim>, String> {
        let Some(table) = &self.interpretations else {
            return Ok(vec![self]);
        };
        let mut count: usize = 1;
        for (key, values) in table {
            let n = values.as_array().map_or(0, Vec::len);
            if n == 0 {
                return Err(format!(
                    "interpretations.{key:?} must be a non-empty list of values"
                ));
            }
            count = count.saturating_mul(n);
        }
        if count > MAX_READINGS {
            return Err(format!(
                "its interpretations multiply out to {count} readings, more than the {MAX_READINGS} one claim may have; split it into several claims"
            ));
        }
        let mut readings: Vec<Vec<(String, toml::Value)>> = vec![Vec::new()];
        for (key, values) in table {
            let values: &[toml::Value] = values.as_array().map_or(&[], Vec::as_slice);
            readings = readings
                .into_iter()
                .flat_map(|reading| {
                    values.iter().map(move |v| {
                        let mut next = reading.clone();
                        next.push((key.clone(), v.clone()));
                        next
                    })
                })
                .collect();
        }
        Ok(readings
            .into_iter()
            .map(|reading| self.reading_of(&reading))
            .collect())
    }

    /// This claim under one reading.
    fn reading_of(&self, reading: &[(String, toml::Value)]) -> Claim {
        let label = reading
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().map_or(v.to_string(), str::to_owned)))
            .collect::<Vec<_>>()
            .join(", ");
        let mut claim = self.clone();
        claim.id = format!("{} [{label}]", self.id);
        claim.reading = Some(label);
        claim.interpretations = None;
        for spec in std::iter::once(&mut claim.run).chain(claim.than.as_mut()) {
            let overrides = spec.overrides.get_or_insert_with(toml::Table::new);
            for (key, value) in reading {
                set_override(overrides, key, value.clone());
            }
        }
        claim
    }
}

impl Claim {
    /// The runs of the claim (its own, then `than`'s).
    pub fn run_specs(&self) -> impl Iterator<Item = &RunSpec> {
        std::iter::once(&self.run).chain(self.than.as_ref())
    }

    /// Whether a run of the claim is a program's.
    pub fn runs_programs(&self) -> bool {
        self.run_specs()
            .any(|spec| runner_name(&spec.run).is_some())
    }

    /// What keeps a claim whose run names a runner from being audited: an unknown runner,
    /// overrides or readings (a program takes no config keys), epochs (a program gives
    /// final metrics), a metric the runner does not map.
    fn runner_problem(&self, runners: &BTreeMap<String, ProgramSpec>) -> Option<String> {
        for spec in self.run_specs() {
            let Some(name) = runner_name(&spec.run) else {
                continue;
            };
            let Some(runner) = runners.get(name) else {
                return Some(format!(
                    "no [runners.{name}] in the file (it has {})",
                    runners.keys().cloned().collect::<Vec<_>>().join(", ")
                ));
            };
            if spec.overrides.is_some() || self.interpretations.is_some() {
                return Some(format!(
                    "runner:{name} takes no overrides or interpretations: a program's own arguments are its config"
                ));
            }
            if self.at_epoch.is_some() || self.since_epoch.is_some() {
                return Some(format!(
                    "runner:{name} gives final metrics only: at_epoch and since_epoch need cifar-repro's own runs"
                ));
            }
            if let Err(problem) = self.program_metric(runner) {
                return Some(format!("runner:{name}: {problem}"));
            }
        }
        None
    }

    /// The keys of a program's metrics the claim reads (one, or the two a gap is computed
    /// from when the runner maps no `train_test_gap`); none for a reproducibility claim.
    pub fn program_metric(&self, runner: &ProgramSpec) -> Result<Vec<&'static str>, String> {
        if self.reproducible {
            return Ok(Vec::new());
        }
        let metric = self.metric();
        let name = match (self.split, metric) {
            (_, Metric::TrainTestGap) => "train_test_gap",
            (MetricSplit::Test, m) => m.name(),
            (MetricSplit::Train, Metric::Accuracy) => "train_accuracy",
            (MetricSplit::Train, Metric::Loss) => "train_loss",
            (MetricSplit::Train, m) => {
                return Err(format!(
                    "the train split's {} is not a program metric (train_accuracy and train_loss are)",
                    m.name()
                ));
            }
        };
        let mapped = |key: &str| runner.metrics.keys.contains_key(key);
        match name {
            _ if mapped(name) => Ok(vec![name]),
            "train_test_gap" if mapped("train_accuracy") && mapped("accuracy") => {
                Ok(vec!["train_accuracy", "accuracy"])
            }
            _ => Err(format!("its `metrics` maps no {name}")),
        }
    }
}

fn one_run() -> usize {
    1
}

/// The largest claim file read (the report's is 20 kB).
pub const MAX_CLAIM_FILE_BYTES: u64 = 16 << 20;

/// The most readings one claim's interpretations may multiply out to.
pub const MAX_READINGS: usize = 256;

/// The most claims one file may hold, each reading of a claim counted.
pub const MAX_CLAIMS: usize = 10_000;

/// A claim file that cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    /// The file cannot be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not a claim file.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why, naming the line.
        #[source]
        source: Box<ClaimError>,
    },
    /// The file is not TOML, or its top level is not a claim file's (with the line).
    #[error("{0}")]
    Toml(String),
    /// A `[runner.NAME]` cannot be used.
    #[error(transparent)]
    Runner(#[from] crate::program::ProgramError),
}

/// A `[[claim]]` entry that cannot be judged: its id (`?` when unreadable) and why, naming
/// its line.
#[derive(Debug, Clone, PartialEq)]
pub struct UnparsedClaim {
    /// The claim's id, `?` when unreadable.
    pub id: String,
    /// What is wrong, naming the line.
    pub why: String,
}

/// The file's claims as read: each one parsed on its own, so that one bad claim does not
/// stop the others.
#[derive(Debug)]
pub struct ParsedFile {
    /// The file, as given.
    pub source: String,
    /// The root the seeds of every claim come from.
    pub seed: u64,
    /// The folder relative paths in the file (config files) are read from.
    pub base_dir: PathBuf,
    /// Each `[[claim]]` entry (one per reading when it has interpretations).
    pub claims: Vec<Result<Claim, UnparsedClaim>>,
    /// The programs a claim's run may name (`run = "runner:NAME"`), by name.
    pub runners: BTreeMap<String, ProgramSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    source: String,
    #[serde(default)]
    seed: u64,
    /// The margin of every claim that gives none.
    #[serde(default)]
    margin: Option<f64>,
    /// The `max_failures` of every claim that gives none.
    #[serde(default)]
    max_failures: Option<i64>,
    #[serde(default)]
    runners: BTreeMap<String, ProgramSpec>,
    claim: Vec<toml::Spanned<toml::Table>>,
}

impl ParsedFile {
    /// Reads a claim file; a file that is not TOML at all, or has unknown top-level keys, is
    /// an error naming the line.
    pub fn read(path: &Path) -> Result<Self, ClaimError> {
        let text = crate::fsutil::read_capped(path, MAX_CLAIM_FILE_BYTES).map_err(|source| {
            ClaimError::Io {
                path: path.to_owned(),
                source,
            }
        })?;
        let mut file = Self::parse(&text).map_err(|e| ClaimError::File {
            path: path.to_owned(),
            source: Box::new(e),
        })?;
        file.base_dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        Ok(file)
    }

    /// Parses claim-file text; relative paths in it are read from the current folder.
    pub fn parse(text: &str) -> Result<Self, ClaimError> {
        if let Some(found) = crate::text::non_finite_number(text) {
            return Err(ClaimError::Toml(found.to_string()));
        }
        let raw: RawFile = toml::from_str(text)
            .map_err(|e| ClaimError::Toml(crate::text::toml_error(text, &e)))?;
        for (name, spec) in &raw.runners {
            check_runner_name(name)?;
            spec.validate(name)?;
        }
        let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        let mut seen = std::collections::HashSet::new();
        let mut claims = Vec::new();
        for spanned in raw.claim {
            let line = line_of(spanned.span().start);
            let defaults = Defaults {
                margin: raw.margin,
                max_failures: raw.max_failures,
            };
            match parse_claim(
                spanned.into_inner(),
                defaults,
                line,
                &mut seen,
                &raw.runners,
            ) {
                Ok(readings) => claims.extend(readings.into_iter().map(Ok)),
                Err(unparsed) => claims.push(Err(unparsed)),
            }
            if claims.len() > MAX_CLAIMS {
                return Err(ClaimError::Toml(format!(
                    "more than {MAX_CLAIMS} claims (readings counted); split the file"
                )));
            }
        }
        Ok(Self {
            source: raw.source,
            seed: raw.seed,
            base_dir: PathBuf::from("."),
            claims,
            runners: raw.runners,
        })
    }
}

/// A runner's name: 1 to 64 letters, digits, `-` and `_`.
fn check_runner_name(name: &str) -> Result<(), ClaimError> {
    let fine = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    match fine {
        true => Ok(()),
        false => Err(ClaimError::Toml(format!(
            "runners.{:?}: a runner's name is 1 to 64 letters, digits, `-` and `_`",
            crate::text::shorten(name, 80)
        ))),
    }
}

/// What a claim file gives every claim that gives none of its own.
#[derive(Clone, Copy)]
struct Defaults {
    margin: Option<f64>,
    max_failures: Option<i64>,
}

/// One `[[claim]]` table (at `line`), with the file's defaults where it gives none,
/// expanded into its readings.
fn parse_claim(
    mut table: toml::Table,
    defaults: Defaults,
    line: usize,
    seen: &mut std::collections::HashSet<String>,
    runners: &BTreeMap<String, ProgramSpec>,
) -> Result<Vec<Claim>, UnparsedClaim> {
    if let (false, Some(margin)) = (table.contains_key("margin"), defaults.margin) {
        table.insert("margin".into(), toml::Value::Float(margin));
    }
    if let (false, Some(n)) = (table.contains_key("max_failures"), defaults.max_failures) {
        table.insert("max_failures".into(), toml::Value::Integer(n));
    }
    let id = table
        .get("id")
        .and_then(|v| v.as_str())
        .unwrap_or("?")
        .to_owned();
    let fail = |message: String| UnparsedClaim {
        id: id.clone(),
        why: format!("claim {id:?} (line {line}): {message}"),
    };
    let claim: Claim = table.try_into().map_err(|e: toml::de::Error| {
        let message = crate::text::shorten(e.message(), 300);
        fail(match message.contains("expected") {
            true => crate::text::with_suggestion(&message),
            false => crate::text::suggest_among(&message, &CLAIM_KEYS),
        })
    })?;
    if claim.id.is_empty() || claim.id.len() > 200 || claim.id.chars().any(char::is_control) {
        return Err(fail(
            "the id must be 1 to 200 characters on one line, without control characters".into(),
        ));
    }
    if !seen.insert(claim.id.clone()) {
        return Err(fail("the id is used twice".into()));
    }
    if let Some(problem) = claim.shape_problem() {
        return Err(fail(problem));
    }
    if let Some(problem) = claim.runner_problem(runners) {
        return Err(fail(problem));
    }
    claim.readings().map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why(extra: &str) -> String {
        let text =
            format!("[[claim]]\nid = \"x\"\nsentence = \"s\"\nrun = \"quickstart\"\n{extra}\n");
        match &ParsedFile::parse(&text).unwrap().claims[0] {
            Err(unparsed) => unparsed.why.clone(),
            Ok(_) => String::new(),
        }
    }

    #[test]
    fn interpretations_are_counted_before_any_reading_is_made() {
        let claim = |keys: usize, values: &str| {
            let keys: Vec<String> = (0..keys).map(|i| format!("k{i} = [{values}]")).collect();
            let table = keys.join(", ");
            why(&format!(
                "metric = \"accuracy\"\nvalue = 0.5\nmargin = 0.1\ninterpretations = {{ {table} }}"
            ))
        };
        assert_eq!(claim(8, "1, 2"), "", "256 readings are allowed");
        let refused = claim(9, "1, 2");
        assert!(
            refused.contains("512 readings, more than the 256"),
            "{refused}"
        );
        let refused = claim(8, "1, 2, 3, 4, 5, 6, 7, 8");
        assert!(refused.contains("16777216 readings"), "{refused}");
    }

    #[test]
    fn every_claim_key_is_known_and_a_near_miss_is_named() {
        for key in CLAIM_KEYS
            .iter()
            .filter(|k| !["id", "sentence", "run"].contains(k))
        {
            let refused = why(&format!("{key} = {{ not_a_value = 1 }}"));
            assert!(
                !refused.contains(&format!("field `{key}`")),
                "{key}: {refused}"
            );
        }
        let typo = why("metric = \"accuracy\"\nvaue = 0.3\nmargin = 0.1");
        assert!(typo.ends_with("did you mean `value`?"), "{typo}");
    }

    /// Whether a commented line is TOML (`key = ...` or a table header), not prose.
    fn is_toml_line(line: &str) -> bool {
        let key = |k: &str| !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_');
        line.starts_with('[') || line.split_once(" = ").is_some_and(|(k, _)| key(k))
    }

    /// Every claim of `text` parsed, or the first reason one did not.
    fn parsed_ids(text: &str) -> Vec<String> {
        let file = ParsedFile::parse(text).unwrap();
        file.claims
            .iter()
            .map(|c| match c {
                Ok(claim) => claim.id.clone(),
                Err(unparsed) => panic!("{}", unparsed.why),
            })
            .collect()
    }

    #[test]
    fn the_template_parses_as_written_and_with_its_examples_uncommented() {
        let template = crate::audit::CLAIMS_TEMPLATE;
        assert_eq!(parsed_ids(template).len(), 4);
        let uncommented: String = template
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(rest) if is_toml_line(rest) => rest,
                _ => l,
            })
            .collect::<Vec<_>>()
            .join("\n");
        let ids = parsed_ids(&uncommented);
        assert!(
            ids.contains(&"script-accuracy".to_owned())
                && ids.contains(&"released-accuracy".to_owned()),
            "{ids:?}"
        );
    }
}
