//! Running an audit: each claim's runs over seeds from the seed tree (finished runs
//! reused, keyed by their config's hash), then statistics and a verdict.

use super::claims::{Claim, Metric, MetricSplit, ParsedFile, RunSpec};
use super::error::AuditError;
use super::plan::{Plan, PlannedRun};
use super::results::{Results, SeedValues};
use super::verdict::{self, Adjust, Claimed, Evidence, Summary, Verdict};
use crate::config::TrainConfig;
use crate::data::{Cifar10, DataError};
use crate::determinism::SeedTree;
use crate::hash::sha256_hex;
use crate::manifest::{EpochRecord, Manifest, RunStatus};
use crate::train::{Hooks, Observer, RunDir, Start, TrainError, train};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use tch::Device;

/// Which of the runs an audit needs this process may train.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Training {
    /// All of them (a single-machine audit).
    All,
    /// Part `index` (0-based) of `count` disjoint parts: the audit's distinct runs, in the
    /// order the claims and seeds need them, dealt round-robin. Runs of other parts are
    /// left alone (their claims come out NOT RUN until the parts are merged).
    Shard { index: usize, count: usize },
    /// None: every run must be finished already (`audit merge`).
    None,
}

/// How to audit.
pub struct AuditOptions {
    /// Overrides every run's data path.
    pub data: Option<PathBuf>,
    pub seeds: usize,
    /// Audit only these claim ids.
    pub only: Option<Vec<String>>,
    pub out: PathBuf,
    pub device: Device,
    pub training: Training,
    /// The level of every decision (before the multiplicity adjustment).
    pub alpha: f64,
    pub adjust: Adjust,
    /// Per-seed values from elsewhere (`--results`): no run is trained.
    pub results: Option<Results>,
    /// Test hooks for every run trained.
    pub hooks: Hooks,
}

/// The outcome for one claim.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClaimResult {
    pub id: String,
    pub sentence: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<Claim>,
    #[serde(flatten)]
    pub verdict: Verdict,
    /// The claim's metric over the seeds kept (for a relative claim: this run minus the
    /// other).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,
    /// Every seed's value (for a relative claim: the difference); null for a diverged seed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<Option<f64>>,
    /// Seeds left out because their metric was not finite (at most one per claim).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped_seeds: Vec<usize>,
    /// The tests behind the verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
    /// The level the claim was decided at (α after Holm's adjustment) and the
    /// (1 - 2·level) interval of the estimate it read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<[f64; 2]>,
    /// Run folders used, relative to the audit folder.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<PathBuf>,
}

impl ClaimResult {
    /// A claim that was not run, for `why`, with nothing measured.
    fn not_run(id: &str, why: String) -> Self {
        Self {
            id: id.to_owned(),
            sentence: String::new(),
            claim: None,
            verdict: Verdict::NotRun { why },
            summary: None,
            values: Vec::new(),
            dropped_seeds: Vec::new(),
            evidence: None,
            level: None,
            interval: None,
            runs: Vec::new(),
        }
    }
}

/// Progress of an audit.
pub trait AuditObserver: Observer {
    /// A run is about to start (or was found finished).
    fn run(&mut self, claim: &str, seed_index: usize, folder: &Path, reused: bool);
}

/// The `i`-th run seed of an audit rooted at `root`.
pub fn run_seed(root: u64, i: usize) -> u64 {
    SeedTree::new(root).seed(&crate::determinism::streams::audit_seed(i)) as u64
}

fn metric_value(epoch: &EpochRecord, metric: Metric, split: MetricSplit) -> f64 {
    let m = if split == MetricSplit::Train {
        &epoch.train
    } else {
        &epoch.test
    };
    match metric {
        Metric::Accuracy => m.accuracy,
        Metric::Loss => m.loss,
        Metric::MacroF1 => m.macro_f1,
        Metric::MacroPrecision => m.macro_precision,
        Metric::MacroRecall => m.macro_recall,
        Metric::TrainTestGap => epoch.train.accuracy - epoch.test.accuracy,
    }
}

struct Auditor<'a> {
    options: &'a AuditOptions,
    base_dir: PathBuf,
    root: u64,
    data: HashMap<PathBuf, Result<Rc<Cifar10>, Rc<DataError>>>,
    /// The run keys this process may train (every key when `None`).
    assigned: Option<HashSet<String>>,
}

/// The `i`-th seed's version of `config`, the key its runs are filed under (the first 16
/// hex digits of its TOML's SHA-256) and its folder relative to the audit folder.
fn seeded_run(
    config: &TrainConfig,
    root: u64,
    i: usize,
) -> Result<(TrainConfig, String, PathBuf), AuditError> {
    let mut config = config.clone();
    config.run.seed = run_seed(root, i);
    let key = sha256_hex(config.to_toml()?.as_bytes())[..16].to_owned();
    let relative = PathBuf::from("runs").join(&key);
    Ok((config, key, relative))
}

impl<'a> Auditor<'a> {
    fn new(file: &ParsedFile, base_dir: &Path, options: &'a AuditOptions) -> Self {
        Self {
            options,
            base_dir: base_dir.to_owned(),
            root: file.seed,
            data: HashMap::new(),
            assigned: None,
        }
    }

    fn data(&mut self, path: &Path) -> Result<Rc<Cifar10>, AuditError> {
        self.data
            .entry(path.to_owned())
            .or_insert_with(|| Cifar10::load(path).map(Rc::new).map_err(Rc::new))
            .clone()
            .map_err(AuditError::Data)
    }

    /// The config of a run spec, with the audit's data path.
    fn config(&self, spec: &RunSpec) -> Result<TrainConfig, AuditError> {
        let mut config = spec.config(&self.base_dir)?;
        if let Some(data) = &self.options.data {
            config.data = data.clone();
        }
        config.run.device = crate::config::DeviceChoice::Auto;
        Ok(config)
    }

    /// What keeps a claim from running, if anything.
    fn missing(&mut self, claim: &Claim, config: &TrainConfig) -> Option<AuditError> {
        if claim.requires.cuda && !self.options.device.is_cuda() {
            return Some(AuditError::NeedsCuda);
        }
        if let Some(path) = config.model.pretrained.as_ref().filter(|p| !p.is_file()) {
            return Some(AuditError::NeedsPretrained(path.clone()));
        }
        let data = match self.data(&config.data) {
            Ok(data) => data,
            Err(e) => return Some(e),
        };
        if let Err(e) = crate::train::check_memory(config, self.options.device) {
            return Some(AuditError::TooBig(e));
        }
        if claim.requires.full_data && !data.is_full() {
            return Some(AuditError::NeedsFullData {
                path: config.data.clone(),
                train: data.train.len(),
                test: data.test.len(),
            });
        }
        None
    }

    /// The configs of a claim's run (and of the run it is compared with), or why the claim
    /// cannot run here.
    fn runnable_configs(&mut self, claim: &Claim) -> Result<Vec<TrainConfig>, AuditError> {
        let configs = std::iter::once(&claim.run)
            .chain(claim.than.as_ref())
            .map(|s| self.config(s))
            .collect::<Result<Vec<_>, _>>()?;
        match configs.iter().find_map(|c| self.missing(claim, c)) {
            Some(why) => Err(why),
            None => Ok(configs),
        }
    }

    /// Final epochs of `seeds` runs of `config`, training the ones not finished yet.
    fn runs(
        &mut self,
        claim: &str,
        config: &TrainConfig,
        observer: &mut dyn AuditObserver,
    ) -> Result<Vec<(PathBuf, Option<EpochRecord>)>, AuditError> {
        let mut out = Vec::new();
        let mut left = 0;
        for i in 0..self.options.seeds {
            let (config, key, relative) = seeded_run(config, self.root, i)?;
            let folder = self.options.out.join(&relative);
            let finished = Manifest::read_completed(&folder);
            if finished.is_none()
                && Manifest::read(&folder).is_ok_and(|m| m.status == RunStatus::Diverged)
            {
                observer.run(claim, i, &folder, true);
                out.push((relative, None));
                continue;
            }
            let mine = self.options.training != Training::None
                && self.assigned.as_ref().is_none_or(|a| a.contains(&key));
            if finished.is_none() && !mine {
                left += 1;
                continue;
            }
            observer.run(claim, i, &folder, finished.is_some());
            let manifest = match finished {
                Some(m) => m,
                None => {
                    // An unfinished run of this config (this audit's own folder) starts over.
                    let dir = RunDir::create(&folder, true)?;
                    dir.write_config(&config)?;
                    let data = self.data(&config.data)?;
                    match train(
                        &config,
                        &data,
                        &dir,
                        self.options.device,
                        Start::Fresh { record_steps: 0 },
                        &self.options.hooks,
                        observer,
                    ) {
                        Ok(finished) => finished.manifest,
                        Err(TrainError::Diverged { .. }) => {
                            out.push((relative, None));
                            continue;
                        }
                        Err(e) => return Err(AuditError::RunFailed(e)),
                    }
                }
            };
            let last = manifest
                .epochs
                .last()
                .cloned()
                .ok_or(AuditError::NoEpochs)?;
            out.push((relative, Some(last)));
        }
        match self.options.training {
            _ if left == 0 => Ok(out),
            Training::None => Err(AuditError::NotMerged(left)),
            _ => Err(AuditError::LeftToShards(left)),
        }
    }

    /// The distinct runs the selected claims need, in the order they need them, and the
    /// claims that cannot run here (unparsed, or missing what they need), with why.
    fn planned_runs(&mut self, claims: &[&Result<Claim, (String, String)>]) -> Plan {
        let mut runs: Vec<PlannedRun> = Vec::new();
        let mut not_run = Vec::new();
        for claim in claims {
            let claim = match claim {
                Ok(claim) => claim,
                Err((id, why)) => {
                    not_run.push((id.clone(), why.clone()));
                    continue;
                }
            };
            let configs = match self.runnable_configs(claim) {
                Ok(configs) => configs,
                Err(why) => {
                    not_run.push((claim.id.clone(), why.to_string()));
                    continue;
                }
            };
            for config in &configs {
                for i in 0..self.options.seeds {
                    let Ok((config, key, folder)) = seeded_run(config, self.root, i) else {
                        continue;
                    };
                    match runs.iter_mut().find(|r| r.key == key) {
                        Some(run) if !run.claims.contains(&claim.id) => {
                            run.claims.push(claim.id.clone())
                        }
                        Some(_) => {}
                        None => {
                            let (train_images, test_images) = self
                                .data(&config.data)
                                .map_or((0, 0), |d| (d.train.len(), d.test.len()));
                            let finished =
                                Manifest::read_completed(&self.options.out.join(&folder)).is_some();
                            runs.push(PlannedRun {
                                key,
                                folder,
                                claims: vec![claim.id.clone()],
                                seed_index: i,
                                finished,
                                steps: config.steps(train_images),
                                eval_images: config.run.epochs * test_images,
                                config,
                            });
                        }
                    }
                }
            }
        }
        Plan { runs, not_run }
    }

    fn claim(&mut self, claim: &Claim, observer: &mut dyn AuditObserver) -> ClaimResult {
        let result = ClaimResult {
            sentence: claim.sentence.clone(),
            claim: Some(claim.clone()),
            ..ClaimResult::not_run(&claim.id, String::new())
        };
        let measured = match &self.options.results {
            Some(results) => results.values(claim).map_err(AuditError::from),
            None => self.trained_values(claim, observer),
        };
        let SeedValues {
            mine,
            other,
            runs,
            test_images,
        } = match measured {
            Ok(m) => m,
            Err(why) => {
                return ClaimResult {
                    verdict: Verdict::NotRun {
                        why: why.to_string(),
                    },
                    ..result
                };
            }
        };
        let values: Vec<f64> = match &other {
            Some(other) => mine.iter().zip(other).map(|(a, b)| a - b).collect(),
            None => mine,
        };
        let result = ClaimResult {
            values: values.iter().map(|v| v.is_finite().then_some(*v)).collect(),
            runs,
            ..result
        };
        match judge(claim, &values, test_images) {
            Ok((evidence, summary, dropped_seeds)) => ClaimResult {
                evidence: Some(evidence),
                summary: Some(summary),
                dropped_seeds,
                ..result
            },
            Err(verdict) => ClaimResult { verdict, ..result },
        }
    }

    /// A claim's per-seed values from its trained runs (training the ones not finished).
    fn trained_values(
        &mut self,
        claim: &Claim,
        observer: &mut dyn AuditObserver,
    ) -> Result<SeedValues, AuditError> {
        let configs = self.runnable_configs(claim)?;
        // Every config's runs first (a shard trains its part of each), then any failure.
        let outcomes: Vec<_> = configs
            .iter()
            .map(|config| self.runs(&claim.id, config, observer))
            .collect();
        let measured = outcomes.into_iter().collect::<Result<Vec<_>, _>>()?;
        let values = |runs: &[(PathBuf, Option<EpochRecord>)]| -> Vec<f64> {
            runs.iter()
                .map(|(_, e)| {
                    e.as_ref()
                        .map_or(f64::NAN, |e| metric_value(e, claim.metric, claim.split))
                })
                .collect()
        };
        let test_images =
            measured[0]
                .iter()
                .find_map(|(_, e)| e.as_ref())
                .map(|e| match claim.split {
                    MetricSplit::Train => e.train.count,
                    MetricSplit::Test => e.test.count,
                });
        Ok(SeedValues {
            mine: values(&measured[0]),
            other: measured.get(1).map(|m| values(m)),
            runs: measured.iter().flatten().map(|(p, _)| p.clone()).collect(),
            test_images,
        })
    }
}

/// The evidence `values` (one per seed; for a relative claim the paired differences) give
/// about `claim`, with the summary of the seeds kept and the seeds dropped; or the verdict
/// when no test can be made. A non-finite value marks a diverged seed: one is dropped and
/// reported, more make the claim NOT RUN.
fn judge(
    claim: &Claim,
    values: &[f64],
    test_images: Option<u64>,
) -> Result<(Evidence, Summary, Vec<usize>), Verdict> {
    let dropped: Vec<usize> = (0..values.len())
        .filter(|&i| !values[i].is_finite())
        .collect();
    if dropped.len() > 1 {
        return Err(Verdict::NotRun {
            why: format!(
                "{} of {} seeds diverged (metric not finite): at most one is dropped",
                dropped.len(),
                values.len()
            ),
        });
    }
    let kept: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if kept.len() < 2 {
        return Err(Verdict::Inconclusive {
            why: format!(
                "{} usable seed(s) give no spread; run at least 2 (--seeds)",
                kept.len()
            ),
            seeds_needed: Some(2 + dropped.len()),
        });
    }
    let summary = Summary::of(&kept);
    let test_images = test_images.or(claim.test_images).unwrap_or(10_000);
    let floor = claim.sd_floor(summary.mean, test_images);
    let claimed = |value| Claimed {
        value,
        runs: claim.runs,
        spread: claim.spread,
    };
    let evidence = match (claim.value, claim.difference, claim.relation) {
        (Some(value), _, _) => verdict::equivalence(&kept, claimed(value), claim.margin, floor),
        (None, Some(difference), _) => {
            verdict::equivalence(&kept, claimed(difference), claim.margin, floor)
        }
        (None, None, Some(relation)) => verdict::effect(&kept, relation, claim.margin, floor),
        (None, None, None) => {
            return Err(Verdict::NotRun {
                why: "neither a value nor a comparison".into(),
            });
        }
    };
    Ok((evidence, summary, dropped))
}

/// Gives every claim with evidence its verdict, at the level `alpha` and `adjust` leave it.
fn conclude(results: &mut [ClaimResult], alpha: f64, adjust: Adjust) {
    let evidence: Vec<Option<&Evidence>> = results.iter().map(|r| r.evidence.as_ref()).collect();
    let levels = verdict::levels(&evidence, alpha, adjust);
    for (result, level) in results.iter_mut().zip(levels) {
        if let Some(evidence) = &result.evidence {
            result.verdict = verdict::decide(evidence, level);
            result.interval = Some(verdict::interval(evidence, level));
            result.level = Some(level);
        }
    }
}

/// The claims of `file` that `options` selects (parsed or not).
fn selected<'f>(
    file: &'f ParsedFile,
    options: &AuditOptions,
) -> Vec<&'f Result<Claim, (String, String)>> {
    let wanted = |id: &str| {
        options
            .only
            .as_ref()
            .is_none_or(|only| only.iter().any(|o| o == id))
    };
    file.claims
        .iter()
        .filter(|c| {
            wanted(match c {
                Ok(claim) => &claim.id,
                Err((id, _)) => id,
            })
        })
        .collect()
}

/// The keys of the runs part `index` of `count` trains: the audit's distinct runs, in the
/// order its claims and seeds need them, dealt round-robin.
pub fn shard_runs(
    file: &ParsedFile,
    base_dir: &Path,
    options: &AuditOptions,
    index: usize,
    count: usize,
) -> Vec<String> {
    plan(file, base_dir, options)
        .runs
        .into_iter()
        .enumerate()
        .filter(|(position, _)| position % count.max(1) == index)
        .map(|(_, run)| run.key)
        .collect()
}

/// The runs an audit of `file` with `options` needs (finished ones marked), and the claims
/// it cannot run here, with why; nothing is trained.
pub fn plan(file: &ParsedFile, base_dir: &Path, options: &AuditOptions) -> Plan {
    Auditor::new(file, base_dir, options).planned_runs(&selected(file, options))
}

/// Audits every claim of `file` (read from `base_dir`) that `options` selects.
pub fn audit(
    file: &ParsedFile,
    base_dir: &Path,
    options: &AuditOptions,
    observer: &mut dyn AuditObserver,
) -> Vec<ClaimResult> {
    let mut auditor = Auditor::new(file, base_dir, options);
    if let Training::Shard { index, count } = options.training {
        auditor.assigned = Some(
            shard_runs(file, base_dir, options, index, count)
                .into_iter()
                .collect(),
        );
    }
    let mut results: Vec<ClaimResult> = selected(file, options)
        .into_iter()
        .map(|c| match c {
            Ok(claim) => auditor.claim(claim, observer),
            Err((id, why)) => ClaimResult::not_run(id, why.clone()),
        })
        .collect();
    conclude(&mut results, options.alpha, options.adjust);
    results
}
