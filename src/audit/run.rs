//! Running an audit: each claim's runs over seeds from the seed tree (finished runs
//! reused, keyed by their config's hash), then statistics and a verdict.

use super::claims::{Claim, Metric, ParsedFile, RunSpec, Split};
use super::verdict::{self, Summary, Verdict};
use crate::data::Cifar10;
use crate::determinism::SeedTree;
use crate::hash::sha256_hex;
use crate::manifest::{EpochRecord, Manifest};
use crate::metrics::stats::clopper_pearson;
use crate::train::{Observer, TrainConfig, train};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
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
    /// The claim's metric over seeds (for a relative claim: this run minus the other).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<f64>,
    /// Clopper-Pearson 95% interval of the accuracy pooled over the runs' test sets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pooled_accuracy_ci95: Option<[f64; 2]>,
    /// Run folders used, relative to the audit folder.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<PathBuf>,
}

/// Progress of an audit.
pub trait AuditObserver: Observer {
    /// A run is about to start (or was found finished).
    fn run(&mut self, claim: &str, seed_index: usize, folder: &Path, reused: bool);
}

/// The `i`-th run seed of an audit rooted at `root`.
pub fn run_seed(root: u64, i: usize) -> u64 {
    SeedTree::new(root).seed(&format!("audit/seed/{i}")) as u64
}

fn metric_value(epoch: &EpochRecord, metric: Metric, split: Split) -> f64 {
    let m = if split == Split::Train {
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
    data: HashMap<PathBuf, Result<std::rc::Rc<Cifar10>, String>>,
    /// The run keys this process may train (every key when `None`).
    assigned: Option<HashSet<String>>,
}

/// The `i`-th seed's version of `config`, the key its runs are filed under (the first 16
/// hex digits of its TOML's SHA-256) and its folder relative to the audit folder.
fn seeded_run(config: &TrainConfig, root: u64, i: usize) -> (TrainConfig, String, PathBuf) {
    let mut config = config.clone();
    config.run.seed = run_seed(root, i);
    let key = sha256_hex(config.to_toml().as_bytes())[..16].to_owned();
    let relative = PathBuf::from("runs").join(&key);
    (config, key, relative)
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

    fn data(&mut self, path: &Path) -> Result<std::rc::Rc<Cifar10>, String> {
        self.data
            .entry(path.to_owned())
            .or_insert_with(|| {
                Cifar10::load(path)
                    .map(std::rc::Rc::new)
                    .map_err(|e| e.to_string())
            })
            .clone()
    }

    /// The config of a run spec, with the audit's data path.
    fn config(&self, spec: &RunSpec) -> Result<TrainConfig, String> {
        let mut config = spec.config(&self.base_dir)?;
        if let Some(data) = &self.options.data {
            config.data = data.clone();
        }
        config.run.device = crate::train::DeviceChoice::Auto;
        Ok(config)
    }

    /// What keeps a claim from running, if anything.
    fn missing(&mut self, claim: &Claim, config: &TrainConfig) -> Option<String> {
        if let Err(e) = config.validate() {
            return Some(e.to_string());
        }
        if let Err(e) = crate::train::check_memory(config, self.options.device) {
            return Some(e.to_string());
        }
        if claim.requires.cuda && !self.options.device.is_cuda() {
            return Some("needs CUDA, and libtorch sees no CUDA device".into());
        }
        if let Some(path) = config.model.pretrained.as_ref().filter(|p| !p.is_file()) {
            return Some(format!(
                "needs pretrained weights at {} (torchvision's ImageNet file; see the README)",
                path.display()
            ));
        }
        let data = match self.data(&config.data) {
            Ok(data) => data,
            Err(e) => return Some(format!("cannot read its data: {e}")),
        };
        if claim.requires.full_data && !data.is_full() {
            return Some(format!(
                "needs the full CIFAR-10 ({} holds {} + {} records): run `cifar-repro data fetch` and pass --data data/cifar-10-binary.tar.gz",
                config.data.display(),
                data.train.len(),
                data.test.len()
            ));
        }
        None
    }

    /// The configs of a claim's run (and of the run it is compared with), or why the claim
    /// cannot run here.
    fn runnable_configs(&mut self, claim: &Claim) -> Result<Vec<TrainConfig>, String> {
        if let Some(why) = claim.domain_problem() {
            return Err(why);
        }
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
    ) -> Result<Vec<(PathBuf, EpochRecord)>, String> {
        let mut out = Vec::new();
        let mut left = 0;
        for i in 0..self.options.seeds {
            let (config, key, relative) = seeded_run(config, self.root, i);
            let folder = self.options.out.join(&relative);
            let finished = Manifest::read_completed(&folder);
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
                    let _ = std::fs::remove_dir_all(&folder);
                    std::fs::create_dir_all(&folder)
                        .map_err(|e| format!("{}: {e}", folder.display()))?;
                    crate::fsutil::write_atomic(
                        &folder.join("config.toml"),
                        config.to_toml().as_bytes(),
                    )
                    .map_err(|e| format!("{}: {e}", folder.display()))?;
                    let data = self.data(&config.data)?;
                    train(
                        &config,
                        &data,
                        &folder,
                        self.options.device,
                        false,
                        observer,
                    )
                    .map_err(|e| format!("a run failed: {e}"))?
                    .manifest
                }
            };
            let last = manifest
                .epochs
                .last()
                .cloned()
                .ok_or("a finished run without epochs")?;
            out.push((relative, last));
        }
        match self.options.training {
            _ if left == 0 => Ok(out),
            Training::None => Err(format!(
                "{left} of its runs are in none of the merged folders (did every shard finish?)"
            )),
            _ => Err(format!("{left} of its runs are left to other shards")),
        }
    }

    /// The distinct run keys the selected claims need, in the order they need them.
    fn planned_runs(&mut self, claims: &[&Claim]) -> Vec<String> {
        let mut keys = Vec::new();
        for claim in claims {
            let Ok(configs) = self.runnable_configs(claim) else {
                continue;
            };
            for config in &configs {
                for i in 0..self.options.seeds {
                    let (_, key, _) = seeded_run(config, self.root, i);
                    if !keys.contains(&key) {
                        keys.push(key);
                    }
                }
            }
        }
        keys
    }

    fn claim(&mut self, claim: &Claim, observer: &mut dyn AuditObserver) -> ClaimResult {
        let mut result = ClaimResult {
            id: claim.id.clone(),
            sentence: claim.sentence.clone(),
            claim: Some(claim.clone()),
            verdict: Verdict::NotRun { why: String::new() },
            summary: None,
            values: Vec::new(),
            pooled_accuracy_ci95: None,
            runs: Vec::new(),
        };
        let configs = match self.runnable_configs(claim) {
            Ok(c) => c,
            Err(why) => {
                return ClaimResult {
                    verdict: Verdict::NotRun { why },
                    ..result
                };
            }
        };
        // Every config's runs first (a shard trains its part of each), then any failure.
        let outcomes: Vec<_> = configs
            .iter()
            .map(|config| self.runs(&claim.id, config, observer))
            .collect();
        let mut measured = Vec::new();
        for outcome in outcomes {
            match outcome {
                Ok(runs) => measured.push(runs),
                Err(why) => {
                    return ClaimResult {
                        verdict: Verdict::NotRun { why },
                        ..result
                    };
                }
            }
        }
        let values = |runs: &[(PathBuf, EpochRecord)]| -> Vec<f64> {
            runs.iter()
                .map(|(_, e)| metric_value(e, claim.metric, claim.split))
                .collect()
        };
        let mine = values(&measured[0]);
        result.runs = measured.iter().flatten().map(|(p, _)| p.clone()).collect();
        if claim.metric == Metric::Accuracy {
            let (correct, total) = measured[0].iter().fold((0, 0), |(c, t), (_, e)| {
                let m = if claim.split == Split::Train {
                    &e.train
                } else {
                    &e.test
                };
                (
                    c + (0..m.confusion.len())
                        .map(|i| m.confusion[i][i])
                        .sum::<u64>(),
                    t + m.count,
                )
            });
            result.pooled_accuracy_ci95 = Some(clopper_pearson(correct, total, 0.05));
        }
        let (summary, verdict) = match (claim.value, claim.relation, measured.get(1)) {
            (Some(value), _, _) => {
                let s = Summary::of(&mine);
                let v = verdict::absolute(claim, value, &s);
                (s, v)
            }
            (None, Some(relation), Some(other)) => {
                let differences: Vec<f64> =
                    mine.iter().zip(values(other)).map(|(a, b)| a - b).collect();
                let s = Summary::of(&differences);
                let v = verdict::relative(relation, &s);
                (s, v)
            }
            _ => {
                return ClaimResult {
                    verdict: Verdict::NotRun {
                        why: "neither a value nor a comparison".into(),
                    },
                    ..result
                };
            }
        };
        ClaimResult {
            verdict,
            summary: Some(summary),
            values: mine,
            ..result
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
    let mut auditor = Auditor::new(file, base_dir, options);
    let claims: Vec<&Claim> = selected(file, options)
        .into_iter()
        .filter_map(|c| c.as_ref().ok())
        .collect();
    auditor
        .planned_runs(&claims)
        .into_iter()
        .enumerate()
        .filter(|(position, _)| position % count.max(1) == index)
        .map(|(_, key)| key)
        .collect()
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
    selected(file, options)
        .into_iter()
        .map(|c| match c {
            Ok(claim) => auditor.claim(claim, observer),
            Err((id, why)) => ClaimResult {
                id: id.clone(),
                sentence: String::new(),
                claim: None,
                verdict: Verdict::NotRun { why: why.clone() },
                summary: None,
                values: Vec::new(),
                pooled_accuracy_ci95: None,
                runs: Vec::new(),
            },
        })
        .collect()
}
