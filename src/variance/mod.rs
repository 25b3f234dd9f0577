//! Where a result's variance comes from: one source of randomness varied at a time (the
//! initial weights, the data order, the augmentation, the mix, the kernels' numerics), the
//! others held at the run's own seed, and how much each moves the final metrics.
//!
//! Each arm is N runs of one config: arm `init` gives replicate i the init stream of seed
//! s_i (the config seed's `variance/seed/i`) and keeps every other stream at the config's
//! seed; `order`, `augment` and `mix` likewise; `all` varies every stream (the run seed is
//! s_i); `numerics` keeps every seed and perturbs only the arithmetic: on a CPU, whose
//! kernels are deterministic, one weight times 1 + 1e-3 (a different weight per replicate,
//! drawn from its own `poke` stream); on CUDA, N copies in seeded mode, whose kernels are
//! not deterministic. Per-source spreads are reported side by side and never summed: one
//! source alone often gives nearly the whole run-to-run spread (Summers & Dinneen 2021).

mod annotate;
mod output;

pub use annotate::annotate;

pub use output::{describe, table, write};

use crate::audit::runner::{Outcome, Runner, manifest_of};
use crate::audit::{AuditError, AuditObserver, AuditOptions, Plan, RunSpec, Training};
use crate::config::TrainConfig;
use crate::determinism::{Determinism, SeedTree, Source, stream_names};
use crate::manifest::EpochRecord;
use crate::metrics::stats::chi_square_quantile;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One arm of a study: what varies across its replicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arm {
    /// The initial weights' stream.
    Init,
    /// The data order's streams.
    Order,
    /// The augmentation parameters' streams.
    Augment,
    /// Mixup's and CutMix's streams.
    Mix,
    /// Only the arithmetic (see docs/variance.md).
    Numerics,
    /// Every stream, as a change of seed does.
    All,
}

impl Arm {
    /// Every arm, in the order they are reported.
    pub const ALL: [Arm; 6] = [
        Arm::Init,
        Arm::Order,
        Arm::Augment,
        Arm::Mix,
        Arm::Numerics,
        Arm::All,
    ];

    /// The arm's name, as `--sources` and the study's files spell it.
    pub fn name(self) -> &'static str {
        match self {
            Arm::Init => "init",
            Arm::Order => "order",
            Arm::Augment => "augment",
            Arm::Mix => "mix",
            Arm::Numerics => "numerics",
            Arm::All => "all",
        }
    }

    /// The arm called `name`.
    pub fn parse(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| {
                format!("{name:?} is not a source: use init, order, augment, mix, numerics or all")
            })
    }

    /// Why this arm would vary nothing in a run of `config`, if it would not.
    fn idle_in(self, config: &TrainConfig) -> Option<&'static str> {
        match self {
            Arm::Augment if !config.augment.draws_per_image() => {
                Some("the config draws nothing per image (no crop, flip, jitter or erasing)")
            }
            Arm::Mix if !config.augment.mixes() => {
                Some("the config mixes no batches (no Mixup or CutMix)")
            }
            _ => None,
        }
    }

    fn source(self) -> Option<Source> {
        match self {
            Arm::Init => Some(Source::Init),
            Arm::Order => Some(Source::Order),
            Arm::Augment => Some(Source::Augment),
            Arm::Mix => Some(Source::Mix),
            Arm::Numerics | Arm::All => None,
        }
    }
}

/// The seed of replicate `i` of a study of a config whose seed is `root`.
pub fn replicate_seed(root: u64, i: usize) -> u64 {
    SeedTree::new(root).seed(&stream_names::variance_seed(i)) as u64
}

/// `chain` (a run, then the runs it starts from) as replicate `i` of `arm`: the arm's
/// change made to every run of the chain, so that a two-stage run's source varies in both
/// stages. Also the copy index: only CUDA's numerics arm has copies, N runs of one config
/// whose kernels round differently.
fn replicate(chain: &[TrainConfig], arm: Arm, i: usize, cuda: bool) -> (Vec<TrainConfig>, usize) {
    let copies = arm == Arm::Numerics && cuda;
    let runs = chain
        .iter()
        .map(|config| {
            let mut c = config.clone();
            let s = replicate_seed(config.loop_.seed, i);
            match (arm, arm.source()) {
                (_, Some(source)) => c.loop_.sources = c.loop_.sources.with(source, s),
                (Arm::All, None) => c.loop_.seed = s,
                _ if copies => c.loop_.determinism = Determinism::Seeded,
                _ => c.loop_.poke = Some(s),
            }
            c
        })
        .collect();
    (runs, if copies { i } else { 0 })
}

/// The spread of one final metric over an arm's replicates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// The final metric, e.g. `test.accuracy`.
    pub metric: String,
    /// Replicates measured.
    pub n: usize,
    /// Their mean.
    pub mean: f64,
    /// The sample standard deviation and its (1 - α) chi-square interval.
    pub sd: f64,
    /// The sd's (1 - α) interval, low then high.
    pub interval: [f64; 2],
    /// The binomial standard deviation of the metric on the test set alone (proportions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_set_sd: Option<f64>,
    /// This arm's sd over the `all` arm's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio_to_all: Option<f64>,
}

/// One arm's runs and spreads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmResult {
    /// The arm.
    pub arm: Arm,
    /// What varied, in words.
    pub varies: String,
    /// Its replicates' run folders.
    pub runs: Vec<PathBuf>,
    /// Replicates that diverged or did not finish here (left out of the spreads).
    pub missing: Vec<String>,
    /// One spread per final metric.
    pub spreads: Vec<Spread>,
}

/// A whole study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variance {
    /// The run studied: a preset or config file, with its overrides.
    pub run: String,
    /// The root seed the replicates' seeds come from.
    pub root: u64,
    /// Replicates per arm.
    pub seeds: usize,
    /// The intervals' α.
    pub alpha: f64,
    /// The test-set size of the first replicate (for the binomial floor), once one finished.
    pub test_images: Option<u64>,
    /// Each arm studied, in `Arm::ALL`'s order.
    pub arms: Vec<ArmResult>,
    /// Arms left out because they would vary nothing in this run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// A final metric a study reports.
struct FinalMetric {
    name: &'static str,
    read: fn(&EpochRecord) -> f64,
    /// A proportion of the test images, whose test-set sd is binomial (accuracy).
    binomial: bool,
}

const METRICS: [FinalMetric; 3] = [
    FinalMetric {
        name: "test accuracy",
        read: |e| e.test.accuracy,
        binomial: true,
    },
    FinalMetric {
        name: "test macro F1",
        read: |e| e.test.macro_f1,
        binomial: false,
    },
    FinalMetric {
        name: "test loss",
        read: |e| e.test.loss,
        binomial: false,
    },
];

/// A variance study of one run spec: its arms' runs planned in a runner.
pub struct Study<'a> {
    runner: Runner<'a>,
    spec: RunSpec,
    root: u64,
    arms: Vec<(Arm, Vec<usize>)>,
    /// The SHA-256 of the configs of the run's chain, as the study reads them.
    configs_sha256: String,
    notes: Vec<String>,
}

impl<'a> Study<'a> {
    /// Plans `arms` of `spec` (read from `base_dir`) with `options` (its seeds, data, device,
    /// folder and shard); without `arms`, every arm that varies something in this run.
    pub fn new(
        spec: &RunSpec,
        base_dir: &Path,
        options: &'a AuditOptions,
        arms: Option<&[Arm]>,
    ) -> Result<Self, AuditError> {
        let mut runner = Runner::new(options, base_dir);
        let chain = runner.chain(spec, &mut Vec::new())?;
        let mut text = String::new();
        for config in &chain {
            check_can_run(&mut runner, config)?;
            text.push_str(&config.to_toml()?);
        }
        let configs_sha256 = crate::hash::sha256_hex(text.as_bytes());
        let root = chain[0].loop_.seed;
        let cuda = options.device.is_cuda();
        let label = spec.describe();
        let (arms, notes) = pick_arms(&chain[0], arms);
        let mut planned = Vec::new();
        for arm in arms {
            let nodes = (0..options.seeds)
                .map(|i| {
                    let (runs, copy) = replicate(&chain, arm, i, cuda);
                    runner.add(&runs, i, copy, &format!("{label} [{}]", arm.name()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            planned.push((arm, nodes));
        }
        if let Training::Shard { index, count } = options.training {
            runner.assign_shard(index, count);
        }
        Ok(Self {
            runner,
            spec: spec.clone(),
            root,
            arms: planned,
            configs_sha256,
            notes,
        })
    }

    /// The arms planned, in order.
    pub fn arms(&self) -> Vec<Arm> {
        self.arms.iter().map(|(arm, _)| *arm).collect()
    }

    /// The SHA-256 of the configs of the run's chain: a merge refuses shards of a run
    /// whose config has changed since.
    pub fn configs_sha256(&self) -> &str {
        &self.configs_sha256
    }

    /// The distinct runs the study needs.
    pub fn plan(&mut self) -> Plan {
        self.runner.plan(Vec::new())
    }

    /// The run folders part `index` of `count` trains.
    pub fn shard_runs(&self, index: usize, count: usize) -> Vec<PathBuf> {
        self.runner.shard_runs(index, count)
    }

    /// Trains what this process may and is not finished, then the arms' spreads.
    pub fn run(mut self, observer: &mut dyn AuditObserver) -> Variance {
        let options = self.runner.options();
        let arms: Vec<(Arm, Vec<usize>)> = std::mem::take(&mut self.arms);
        let cuda = options.device.is_cuda();
        let mut results: Vec<ArmResult> = arms
            .iter()
            .map(|(arm, nodes)| self.arm(*arm, nodes, cuda, observer))
            .collect();
        let test_images = self.test_images(&arms);
        finish_spreads(&mut results, test_images);
        Variance {
            run: self.spec.describe(),
            root: self.root,
            seeds: options.seeds,
            alpha: options.decision.alpha,
            test_images,
            arms: results,
            notes: self.notes,
        }
    }

    fn arm(
        &mut self,
        arm: Arm,
        nodes: &[usize],
        cuda: bool,
        observer: &mut dyn AuditObserver,
    ) -> ArmResult {
        let label = format!("{} [{}]", self.spec.describe(), arm.name());
        let mut finals: Vec<EpochRecord> = Vec::new();
        let mut missing = Vec::new();
        for &n in nodes {
            let outcome = self.runner.outcome(n, &label, observer);
            match (
                &outcome,
                manifest_of(&outcome).and_then(|m| m.epochs.last()),
            ) {
                (Outcome::Finished(_), Some(last)) => finals.push(last.clone()),
                (Outcome::Failed(why), _) => {
                    missing.push(format!("{}: {why}", self.runner.node(n).folder.display()))
                }
                _ => missing.push(format!(
                    "{}: diverged or not trained here",
                    self.runner.node(n).folder.display()
                )),
            }
        }
        let alpha = self.runner.options().decision.alpha;
        ArmResult {
            arm,
            varies: varies(arm, cuda),
            runs: nodes
                .iter()
                .map(|&n| self.runner.node(n).folder.clone())
                .collect(),
            missing,
            spreads: METRICS
                .iter()
                .map(|m| {
                    spread(
                        m.name,
                        &finals.iter().map(m.read).collect::<Vec<_>>(),
                        alpha,
                    )
                })
                .collect(),
        }
    }

    fn test_images(&self, arms: &[(Arm, Vec<usize>)]) -> Option<u64> {
        let first = *arms.first()?.1.first()?;
        let folder = self
            .runner
            .options()
            .out
            .join(&self.runner.node(first).folder);
        let manifest = crate::run_dir::RunDir::open(&folder).manifest().ok()?;
        manifest.epochs.last().map(|e| e.test.count)
    }
}

/// The arms asked for (every arm when none are), less those that would vary nothing in a
/// run of `config` unless asked for by name; and a note for each such arm.
fn pick_arms(config: &TrainConfig, asked: Option<&[Arm]>) -> (Vec<Arm>, Vec<String>) {
    let mut notes = Vec::new();
    let arms = match asked {
        Some(arms) => {
            for arm in arms {
                if let Some(why) = arm.idle_in(config) {
                    notes.push(format!("{}: {why}, so its runs are alike", arm.name()));
                }
            }
            arms.to_vec()
        }
        None => Arm::ALL
            .into_iter()
            .filter(|arm| match arm.idle_in(config) {
                Some(why) => {
                    notes.push(format!("{} left out: {why}", arm.name()));
                    false
                }
                None => true,
            })
            .collect(),
    };
    (arms, notes)
}

/// Refuses a run this machine cannot train: its data unreadable, its pretrained weights
/// absent, or a step too big for the device. A plan (`Mode::Estimate`) refuses nothing.
fn check_can_run(runner: &mut Runner, config: &TrainConfig) -> Result<(), AuditError> {
    if matches!(runner.options().mode, crate::audit::Mode::Estimate) {
        return Ok(());
    }
    runner.load_data(&config.data)?;
    if let Some(path) = config.model.pretrained.as_ref().filter(|p| !p.is_file()) {
        return Err(AuditError::NeedsPretrained(path.clone()));
    }
    crate::train::check_memory(config, runner.options().device).map_err(AuditError::TooBig)
}

/// What an arm varies, in words.
fn varies(arm: Arm, cuda: bool) -> String {
    match arm {
        Arm::All => "every stream (the run seed)".into(),
        Arm::Numerics if cuda => "nothing but the kernels' rounding: the same seeds in seeded mode on CUDA".into(),
        Arm::Numerics => "nothing but one weight times 1 + 1e-3 after initialisation (a different weight per replicate)".into(),
        other => format!("the {} stream only", other.name()),
    }
}

/// The mean and sd of `values` with the sd's (1 - α) chi-square interval.
fn spread(metric: &str, values: &[f64], alpha: f64) -> Spread {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let s = crate::audit::Summary::of(&finite);
    let df = s.n.saturating_sub(1) as f64;
    let interval = if s.n >= 2 {
        let v = df * s.std * s.std;
        [
            (v / chi_square_quantile(1.0 - alpha / 2.0, df)).sqrt(),
            (v / chi_square_quantile(alpha / 2.0, df)).sqrt(),
        ]
    } else {
        [f64::NAN, f64::NAN]
    };
    Spread {
        metric: metric.to_owned(),
        n: s.n,
        mean: s.mean,
        sd: s.std,
        interval,
        test_set_sd: None,
        ratio_to_all: None,
    }
}

/// Sets each spread's test-set sd (proportions) and its ratio to the `all` arm's.
fn finish_spreads(arms: &mut [ArmResult], test_images: Option<u64>) {
    let all: Option<Vec<f64>> = arms
        .iter()
        .find(|a| a.arm == Arm::All)
        .map(|a| a.spreads.iter().map(|s| s.sd).collect());
    for arm in arms.iter_mut() {
        for (k, s) in arm.spreads.iter_mut().enumerate() {
            if let (Some(n), true) = (test_images, METRICS[k].binomial) {
                let p = s.mean.clamp(0.0, 1.0);
                s.test_set_sd = Some((p * (1.0 - p) / n.max(1) as f64).sqrt());
            }
            s.ratio_to_all = all
                .as_ref()
                .and_then(|all| all.get(k))
                .filter(|a| **a > 0.0)
                .map(|a| s.sd / a);
        }
    }
}
