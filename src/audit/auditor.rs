//! Running an audit: the graph of runs its claims need (finished runs reused, keyed by
//! their config's hash; a two-stage run after the run it starts from), each claim's
//! per-seed values, then statistics and a verdict.

use super::claims::{Claim, Form, MetricSplit, ParsedFile, RunSpec, UnparsedClaim};
use super::error::AuditError;
use super::graph::RunGraph;
use super::judge;
use super::plan::{Plan, PlannedRun};
use super::rehearse::{SmokeScale, StandIns};
use super::results::{Results, SeedValues};
use super::verdict::{Decision, Evidence, Summary, Verdict};
use crate::config::{Resolved, TrainConfig};
use crate::data::{Cifar10, DataError};
use crate::determinism::SeedTree;
use crate::manifest::{EpochRecord, Manifest, RunStatus};
use crate::train::{Hooks, Observer, Prerequisite, RunDir, Start, TrainError, train};
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
    /// Part `index` (0-based) of `count` disjoint parts: the audit's chains of runs, in
    /// the order the claims and seeds need them, dealt round-robin. Runs of other parts are
    /// left alone (their claims come out NOT RUN until the parts are merged).
    Shard { index: usize, count: usize },
    /// None: every run must be finished already (`audit merge`).
    MergeOnly,
}

/// How far an audit goes.
#[derive(Debug)]
pub enum Mode {
    /// The real thing: the file's data, weights and requirements.
    Real,
    /// `--rehearse`: smoke scale, requirements waived, stand-ins for absent weights, the
    /// vendored data for absent data (`data`).
    Rehearsal {
        scale: SmokeScale,
        stand_ins: StandIns,
        data: Option<PathBuf>,
    },
    /// The full-scale plan after a rehearsal: requirements waived, nothing trained, an
    /// absent data set taken to be the full CIFAR-10.
    Estimate,
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
    pub decision: Decision,
    /// Per-seed values from elsewhere (`--results`): no run is trained.
    pub results: Option<Results>,
    /// Test hooks for every run trained.
    pub hooks: Hooks,
    pub mode: Mode,
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
    /// Seeds left out because their metric was not finite (at most `max_failures`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped_seeds: Vec<usize>,
    /// Seeds that failed and what was done with each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failures: Option<super::judge::Failures>,
    /// Where an absolute claim's value sits among the seeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<super::insight::Placement>,
    /// How often a relative claim's run beats the other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superiority: Option<super::insight::Superiority>,
    /// The test set's own noise on the claim's metric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_set: Option<super::insight::TestSetNoise>,
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
    /// What the reader should know about how the claim was checked: runs it started from,
    /// requirements a rehearsal waived, stand-in weights.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// NOT RUN because something is wrong (the claim, its data, a run), not because this
    /// machine lacks a requirement.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub broken: bool,
}

impl ClaimResult {
    /// A claim that was not run, for `why`, with nothing measured.
    pub(super) fn not_run(id: &str, why: String) -> Self {
        Self {
            id: id.to_owned(),
            sentence: String::new(),
            claim: None,
            verdict: Verdict::NotRun { why },
            summary: None,
            values: Vec::new(),
            dropped_seeds: Vec::new(),
            failures: None,
            placement: None,
            superiority: None,
            test_set: None,
            evidence: None,
            level: None,
            interval: None,
            runs: Vec::new(),
            notes: Vec::new(),
            broken: true,
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
    SeedTree::new(root).seed(&crate::determinism::stream_names::audit_seed(i)) as u64
}

/// The runs one claim reads, by index into the graph: per seed, its run's and (relative
/// claims) the other run's; for a reproducibility claim the second run of the first seed.
#[derive(Debug, Clone)]
struct ClaimRuns {
    mine: Vec<usize>,
    other: Option<Vec<usize>>,
    twin: Option<usize>,
    /// The epochs of the claim's run as configured (before a rehearsal cut them).
    full_epochs: usize,
    notes: Vec<String>,
}

/// What became of one run.
#[derive(Debug, Clone)]
enum Outcome {
    Finished(Rc<Manifest>),
    Diverged(Rc<Manifest>),
    /// Another shard's, or not merged.
    Left,
    Failed(String),
}

/// An audit of one claim file: its run graph, planned once, then run.
pub struct Audit<'a> {
    file: &'a ParsedFile,
    options: &'a AuditOptions,
    data: HashMap<PathBuf, Result<Rc<Cifar10>, Rc<DataError>>>,
    graph: RunGraph,
    /// Per claim its runs, or why it cannot run and whether that is an error (rather than
    /// a requirement this machine lacks).
    claims: HashMap<String, Result<ClaimRuns, (String, bool)>>,
    outcomes: HashMap<usize, Outcome>,
    /// The runs this process may train (every one when `None`).
    assigned: Option<HashSet<usize>>,
}

impl<'a> Audit<'a> {
    /// Plans the audit of the claims of `file` that `options` selects.
    pub fn new(file: &'a ParsedFile, options: &'a AuditOptions) -> Self {
        let mut audit = Self {
            file,
            options,
            data: HashMap::new(),
            graph: RunGraph::default(),
            claims: HashMap::new(),
            outcomes: HashMap::new(),
            assigned: None,
        };
        if options.results.is_none() {
            for claim in audit.selected().into_iter().filter_map(|c| c.as_ref().ok()) {
                let runs = audit
                    .claim_runs(claim)
                    .map_err(|e| (e.to_string(), !e.is_requirement()));
                audit.claims.insert(claim.id.clone(), runs);
            }
        }
        if let Training::Shard { index, count } = options.training {
            audit.assigned = Some(audit.graph.shard(index, count).into_iter().collect());
        }
        audit
    }

    /// The claims of the file that the options select (parsed or not), in file order.
    fn selected(&self) -> Vec<&'a Result<Claim, UnparsedClaim>> {
        let wanted = |id: &str| {
            self.options
                .only
                .as_ref()
                .is_none_or(|only| only.iter().any(|o| o == id))
        };
        let file: &'a ParsedFile = self.file;
        file.claims
            .iter()
            .filter(|c| {
                wanted(match c {
                    Ok(claim) => &claim.id,
                    Err(unparsed) => &unparsed.id,
                })
            })
            .collect()
    }

    /// The ids of `--only` that name no claim of the file.
    pub fn unknown_ids(&self) -> Vec<String> {
        let known = |id: &str| {
            self.file.claims.iter().any(|c| match c {
                Ok(claim) => claim.id == id || claim.id.starts_with(&format!("{id} [")),
                Err(unparsed) => unparsed.id == id,
            })
        };
        self.options
            .only
            .iter()
            .flatten()
            .filter(|id| !known(id))
            .cloned()
            .collect()
    }

    fn load_data(&mut self, path: &Path) -> Result<Rc<Cifar10>, AuditError> {
        self.data
            .entry(path.to_owned())
            .or_insert_with(|| Cifar10::load(path).map(Rc::new).map_err(Rc::new))
            .clone()
            .map_err(AuditError::Data)
    }

    /// A run spec's config with what the audit sets on every run: its data, the device
    /// (auto), and a rehearsal's scale, data and stand-in weights.
    fn resolve(&self, spec: &RunSpec, notes: &mut Vec<String>) -> Result<Resolved, AuditError> {
        let mut resolved = spec.resolve(&self.file.base_dir)?;
        self.adjust(&mut resolved.config, notes)?;
        Ok(resolved)
    }

    fn adjust(&self, config: &mut TrainConfig, notes: &mut Vec<String>) -> Result<(), AuditError> {
        if let Some(data) = &self.options.data {
            config.data = data.clone();
        }
        config.run.device = crate::config::DeviceChoice::Auto;
        let Mode::Rehearsal {
            scale,
            stand_ins,
            data,
        } = &self.options.mode
        else {
            return Ok(());
        };
        scale.apply(config);
        if let (false, Some(vendored)) = (config.data.exists(), data) {
            push_note(
                notes,
                format!(
                    "{} is absent: the vendored slice {} stands in",
                    config.data.display(),
                    vendored.display()
                ),
            );
            config.data = vendored.clone();
        }
        if let Some(path) = config.model.pretrained.clone().filter(|p| !p.is_file()) {
            let stand_in = stand_ins.for_weights(config.model.arch, &path)?;
            push_note(
                notes,
                format!(
                    "{} is absent: STAND-IN weights {} ({})",
                    path.display(),
                    stand_in.path.display(),
                    stand_in.made_by
                ),
            );
            config.model.pretrained = Some(stand_in.path);
        }
        Ok(())
    }

    /// The configs of a run spec's chain (the run, then the runs it starts from), adjusted.
    fn chain(
        &self,
        spec: &RunSpec,
        notes: &mut Vec<String>,
    ) -> Result<Vec<TrainConfig>, AuditError> {
        let resolved = self.resolve(spec, notes)?;
        let mut configs = vec![resolved.config.clone()];
        for mut prerequisite in resolved.chain()? {
            self.adjust(&mut prerequisite.config, notes)?;
            push_note(
                notes,
                format!(
                    "{} starts from the final weights of {} for the same seed",
                    resolved.name, prerequisite.name
                ),
            );
            configs.push(prerequisite.config);
        }
        Ok(configs)
    }

    /// Adds a claim's runs to the graph, or says why the claim cannot run here.
    fn claim_runs(&mut self, claim: &Claim) -> Result<ClaimRuns, AuditError> {
        let mut notes = Vec::new();
        let form = claim.form().map_err(AuditError::Claim)?;
        let mine = self.chain(&claim.run, &mut notes)?;
        let other = claim
            .than
            .as_ref()
            .map(|spec| self.chain(spec, &mut notes))
            .transpose()?;
        for config in mine.iter().chain(other.iter().flatten()) {
            if let Some(why) = self.missing(claim, config, &mut notes) {
                return Err(why);
            }
        }
        let full_epochs = claim.run.resolve(&self.file.base_dir)?.config.run.epochs;
        let seeds = if form == Form::Reproducible {
            1
        } else {
            self.options.seeds
        };
        let add = |audit: &mut Self, chain: &[TrainConfig], copy: usize| {
            (0..seeds)
                .map(|i| audit.add_run(chain, i, copy, &claim.id))
                .collect::<Result<Vec<usize>, AuditError>>()
        };
        let mine_nodes = add(self, &mine, 0)?;
        let other_nodes = other.as_ref().map(|o| add(self, o, 0)).transpose()?;
        let twin = match form {
            Form::Reproducible => Some(add(self, &mine, 1)?[0]),
            _ => None,
        };
        Ok(ClaimRuns {
            mine: mine_nodes,
            other: other_nodes,
            twin,
            full_epochs,
            notes,
        })
    }

    /// Adds seed `i`'s run of `chain` to the graph.
    fn add_run(
        &mut self,
        chain: &[TrainConfig],
        i: usize,
        copy: usize,
        claim: &str,
    ) -> Result<usize, AuditError> {
        let seed = run_seed(self.file.seed, i);
        let seeded: Vec<TrainConfig> = chain
            .iter()
            .map(|c| {
                let mut c = c.clone();
                c.run.seed = seed;
                c
            })
            .collect();
        let rehearsal = matches!(self.options.mode, Mode::Rehearsal { .. });
        Ok(self.graph.add(&seeded, i, copy, rehearsal, claim)?)
    }

    /// What keeps a claim from running here, if anything; a rehearsal or an estimate
    /// waives the requirements and notes them instead.
    fn missing(
        &mut self,
        claim: &Claim,
        config: &TrainConfig,
        notes: &mut Vec<String>,
    ) -> Option<AuditError> {
        let waive = !matches!(self.options.mode, Mode::Real);
        let device = self.options.device;
        let mut unmet: Vec<AuditError> = Vec::new();
        if claim.requires.cuda && !device.is_cuda() {
            unmet.push(AuditError::NeedsCuda);
        }
        if let Some(why) = claim
            .requires
            .min_memory_gb
            .and_then(|gib| super::error::memory_shortfall(gib, device))
        {
            unmet.push(why);
        }
        if let Some(path) = config.model.pretrained.as_ref().filter(|p| !p.is_file()) {
            unmet.push(AuditError::NeedsPretrained(path.clone()));
        }
        match self.load_data(&config.data) {
            Ok(data) if claim.requires.full_data && !data.is_full() => {
                unmet.push(AuditError::NeedsFullData {
                    path: config.data.clone(),
                    train: data.train.len(),
                    test: data.test.len(),
                })
            }
            Ok(_) => {}
            Err(_) if matches!(self.options.mode, Mode::Estimate) => {}
            Err(e) => return Some(e),
        }
        if let Err(e) = crate::train::check_memory(config, device) {
            unmet.push(AuditError::TooBig(e));
        }
        if !waive {
            return unmet.into_iter().next();
        }
        for why in unmet {
            push_note(notes, format!("waived: {why}"));
        }
        None
    }

    /// The distinct runs the selected claims need, in the order they need them, and the
    /// claims that cannot run here, with why.
    pub fn plan(&mut self) -> Plan {
        let mut not_run = Vec::new();
        for claim in self.selected() {
            match claim {
                Err(unparsed) => not_run.push((unparsed.id.clone(), unparsed.why.clone())),
                Ok(claim) => {
                    if let Some(Err((why, _))) = self.claims.get(&claim.id) {
                        not_run.push((claim.id.clone(), why.clone()));
                    }
                }
            }
        }
        let nodes = self.graph.nodes.clone();
        let runs = nodes
            .iter()
            .map(|node| {
                let (train, test) = match self.load_data(&node.config.data) {
                    Ok(d) => (d.train.len(), d.test.len()),
                    Err(_) => (
                        crate::data::FULL_TRAIN_RECORDS,
                        crate::data::FULL_TEST_RECORDS,
                    ),
                };
                let finished = RunDir::open(&self.options.out.join(&node.folder))
                    .manifest()
                    .is_ok_and(|m| m.status == RunStatus::Completed);
                PlannedRun {
                    key: node.key.clone(),
                    folder: node.folder.clone(),
                    claims: node.claims.clone(),
                    seed_index: node.seed_index,
                    copy: node.copy,
                    starts_from: node.prerequisite.map(|p| nodes[p].folder.clone()),
                    finished,
                    steps: node.config.steps(train),
                    eval_images: node.config.run.epochs * node.config.test_images_used(test),
                    config: node.config.clone(),
                }
            })
            .collect();
        Plan { runs, not_run }
    }

    /// The run folders part `index` of `count` trains (`runs/KEY`), in plan order.
    pub fn shard_runs(&self, index: usize, count: usize) -> Vec<PathBuf> {
        self.graph
            .shard(index, count)
            .into_iter()
            .map(|i| self.graph.nodes[i].folder.clone())
            .collect()
    }

    /// Audits every selected claim, training what this process may and is not finished.
    pub fn run(mut self, observer: &mut dyn AuditObserver) -> Vec<ClaimResult> {
        let mut results: Vec<ClaimResult> = self
            .selected()
            .into_iter()
            .map(|c| match c {
                Ok(claim) => self.claim(claim, observer),
                Err(unparsed) => ClaimResult::not_run(&unparsed.id, unparsed.why.clone()),
            })
            .collect();
        judge::conclude(&mut results, self.options.decision);
        if matches!(self.options.mode, Mode::Rehearsal { .. }) {
            judge::as_rehearsal(&mut results);
        }
        results
    }

    fn claim(&mut self, claim: &Claim, observer: &mut dyn AuditObserver) -> ClaimResult {
        let mut result = ClaimResult {
            sentence: claim.sentence.clone(),
            claim: Some(claim.clone()),
            broken: false,
            ..ClaimResult::not_run(&claim.id, String::new())
        };
        if let Some(results) = &self.options.results {
            return judge::judged(
                claim,
                results.values(claim).map_err(AuditError::from),
                result,
                self.judging(),
            );
        }
        let runs = match self.claims.get(&claim.id).cloned() {
            Some(Ok(runs)) => runs,
            Some(Err((why, broken))) => {
                return ClaimResult {
                    verdict: Verdict::NotRun { why },
                    broken,
                    ..result
                };
            }
            None => return result,
        };
        result.notes = runs.notes.clone();
        if let Some(twin) = runs.twin {
            return self.reproducible(claim, &runs, twin, observer, result);
        }
        let measured = self.seed_values(claim, &runs, observer);
        judge::judged(claim, measured, result, self.judging())
    }

    fn judging(&self) -> judge::Judging {
        judge::Judging {
            alpha: self.options.decision.alpha,
            root: self.file.seed,
        }
    }

    /// The per-seed values of a claim from its runs, training those not finished.
    fn seed_values(
        &mut self,
        claim: &Claim,
        runs: &ClaimRuns,
        observer: &mut dyn AuditObserver,
    ) -> Result<SeedValues, AuditError> {
        // Every run of the claim first (a shard trains its part of each), then any failure.
        let mine: Vec<Outcome> = runs
            .mine
            .iter()
            .map(|&n| self.outcome(n, &claim.id, observer))
            .collect();
        let other: Option<Vec<Outcome>> = runs.other.as_ref().map(|o| {
            o.iter()
                .map(|&n| self.outcome(n, &claim.id, observer))
                .collect()
        });
        self.check_outcomes(mine.iter().chain(other.iter().flatten()))?;
        let mut seed_check = check_seeds(&mine, self.file.seed)?;
        if let Some(other) = &other {
            seed_check = check_seeds(other, self.file.seed)?;
        }
        let epochs = self.epochs_read(claim, runs.full_epochs);
        let values = |outcomes: &[Outcome]| -> Result<Vec<f64>, AuditError> {
            outcomes
                .iter()
                .map(|o| value_of(claim, o, epochs))
                .collect()
        };
        let test_images = mine.iter().find_map(|o| match o {
            Outcome::Finished(m) => m.epochs.last().map(|e| match claim.split {
                MetricSplit::Train => e.train.count,
                MetricSplit::Test => e.test.count,
            }),
            _ => None,
        });
        let folders = runs.mine.iter().chain(runs.other.iter().flatten());
        Ok(SeedValues {
            mine: values(&mine)?,
            other: other.as_deref().map(values).transpose()?,
            runs: folders
                .map(|&n| self.graph.nodes[n].folder.clone())
                .collect(),
            test_images,
            seed_check: Some(seed_check),
        })
    }

    /// The epochs (1-based) a claim reads, after a rehearsal's cut: (at or since, epoch).
    fn epochs_read(&self, claim: &Claim, full: usize) -> EpochsRead {
        let map = |e: usize| match &self.options.mode {
            Mode::Rehearsal { scale, .. } => scale.epoch(e, full),
            _ => e,
        };
        EpochsRead {
            at: claim.at_epoch.map(map),
            since: claim.since_epoch.map(map),
        }
    }

    /// Fails when any run failed or is left to another shard (naming how many).
    fn check_outcomes<'o>(
        &self,
        outcomes: impl Iterator<Item = &'o Outcome>,
    ) -> Result<(), AuditError> {
        let mut left = 0;
        for outcome in outcomes {
            match outcome {
                Outcome::Failed(why) => return Err(AuditError::RunFailed(why.clone())),
                Outcome::Left => left += 1,
                _ => {}
            }
        }
        match self.options.training {
            _ if left == 0 => Ok(()),
            Training::MergeOnly => Err(AuditError::NotMerged(left)),
            _ => Err(AuditError::LeftToShards(left)),
        }
    }

    /// A reproducibility claim: the first seed's two runs compared as `verify` does.
    fn reproducible(
        &mut self,
        claim: &Claim,
        runs: &ClaimRuns,
        twin: usize,
        observer: &mut dyn AuditObserver,
        result: ClaimResult,
    ) -> ClaimResult {
        let first = self.outcome(runs.mine[0], &claim.id, observer);
        let second = self.outcome(twin, &claim.id, observer);
        let folders = vec![
            self.graph.nodes[runs.mine[0]].folder.clone(),
            self.graph.nodes[twin].folder.clone(),
        ];
        let result = ClaimResult {
            runs: folders,
            ..result
        };
        if let Err(why) = self.check_outcomes([&first, &second].into_iter()) {
            return ClaimResult {
                verdict: Verdict::NotRun {
                    why: why.to_string(),
                },
                broken: !why.is_requirement(),
                ..result
            };
        }
        let (Some(a), Some(b)) = (manifest_of(&first), manifest_of(&second)) else {
            return result;
        };
        ClaimResult {
            verdict: judge::reproducibility(a, b),
            ..result
        }
    }

    /// What became of run `index`: found finished or diverged, trained here (after the
    /// run it starts from), or left to another shard.
    fn outcome(&mut self, index: usize, claim: &str, observer: &mut dyn AuditObserver) -> Outcome {
        if let Some(known) = self.outcomes.get(&index) {
            return known.clone();
        }
        let outcome = self.find_or_train(index, claim, observer);
        self.outcomes.insert(index, outcome.clone());
        outcome
    }

    fn find_or_train(
        &mut self,
        index: usize,
        claim: &str,
        observer: &mut dyn AuditObserver,
    ) -> Outcome {
        let node = self.graph.nodes[index].clone();
        let folder = self.options.out.join(&node.folder);
        let interrupted = match found(&folder, &node.config) {
            Found::Finished(m) => {
                observer.run(claim, node.seed_index, &folder, true);
                return Outcome::Finished(Rc::new(m));
            }
            Found::Diverged(m) => {
                observer.run(claim, node.seed_index, &folder, true);
                return Outcome::Diverged(Rc::new(m));
            }
            Found::Refused(why) => return Outcome::Failed(why),
            Found::Interrupted => true,
            Found::Nothing => false,
        };
        let mine = self.options.training != Training::MergeOnly
            && self.assigned.as_ref().is_none_or(|a| a.contains(&index));
        if !mine || matches!(self.options.mode, Mode::Estimate) {
            return Outcome::Left;
        }
        let init_from = match node.prerequisite {
            None => None,
            Some(p) => match self.outcome(p, claim, observer) {
                Outcome::Finished(_) => Some(Prerequisite {
                    dir: self.options.out.join(&self.graph.nodes[p].folder),
                    expected: self.graph.nodes[p].config.clone(),
                }),
                Outcome::Left => return Outcome::Left,
                Outcome::Diverged(m) => {
                    return Outcome::Failed(format!(
                        "its prerequisite {} diverged at epoch {}",
                        self.graph.nodes[p].folder.display(),
                        m.diverged.as_ref().map_or(0, |d| d.epoch + 1)
                    ));
                }
                Outcome::Failed(why) => {
                    return Outcome::Failed(format!("its prerequisite failed: {why}"));
                }
            },
        };
        observer.run(claim, node.seed_index, &folder, false);
        let start = match interrupted {
            true => Start::Resume,
            false => Start::Fresh {
                record_steps: 0,
                init_from: init_from.map(Box::new),
            },
        };
        match self.train(&node.config, &folder, start, observer) {
            Ok(m) if m.status == RunStatus::Diverged => Outcome::Diverged(Rc::new(m)),
            Ok(m) => Outcome::Finished(Rc::new(m)),
            Err(e) => Outcome::Failed(format!(
                "training {} (seed {}): {e}",
                node.folder.display(),
                node.seed_index + 1
            )),
        }
    }

    /// Trains `config` into `folder` from the start, or continues the interrupted run
    /// there; a run that diverged comes back with its manifest marked so.
    fn train(
        &mut self,
        config: &TrainConfig,
        folder: &Path,
        start: Start,
        observer: &mut dyn AuditObserver,
    ) -> Result<Manifest, AuditError> {
        let data = self.load_data(&config.data)?;
        let dir = match &start {
            Start::Fresh { init_from, .. } => {
                let prerequisite = init_from.as_deref();
                crate::train::preflight(config, &data, self.options.device, prerequisite)
                    .map_err(AuditError::Train)?;
                let dir = RunDir::create(folder, true)?;
                dir.write_config(config)?;
                dir
            }
            Start::Resume => RunDir::open(folder),
        };
        match train(
            config,
            &data,
            &dir,
            self.options.device,
            start,
            &self.options.hooks,
            observer,
        ) {
            Ok(finished) => Ok(finished.manifest),
            Err(TrainError::Diverged { .. }) => Ok(dir
                .manifest()
                .map_err(|e| AuditError::Manifest(e.to_string()))?),
            Err(e) => Err(AuditError::Train(e)),
        }
    }
}

/// What an audit folder holds for a run.
enum Found {
    Finished(Manifest),
    Diverged(Manifest),
    /// A run of this config that stopped midway: continued, not started over.
    Interrupted,
    /// Nothing yet (or a folder a run was about to start in).
    Nothing,
    /// A folder that is not whole and true, or holds another config's run: refused by
    /// name, never overwritten.
    Refused(String),
}

fn found(folder: &Path, config: &TrainConfig) -> Found {
    let dir = RunDir::open(folder);
    let manifest = match dir.manifest_if_written() {
        Ok(Some(m)) => m,
        Ok(None) => return Found::Nothing,
        Err(e) => return Found::Refused(format!("reusing {}: {e}", folder.display())),
    };
    let expected = config
        .to_toml()
        .map(|t| crate::hash::sha256_hex(t.as_bytes()));
    if expected.as_deref().ok() != Some(manifest.config_sha256.as_str()) {
        return Found::Refused(format!(
            "{} holds a run of another config than its key names; refusing to reuse or replace it",
            folder.display()
        ));
    }
    match manifest.status {
        RunStatus::Completed => Found::Finished(manifest),
        RunStatus::Diverged => Found::Diverged(manifest),
        RunStatus::Running => Found::Interrupted,
    }
}

fn push_note(notes: &mut Vec<String>, note: String) {
    if !notes.contains(&note) {
        notes.push(note);
    }
}

fn manifest_of(outcome: &Outcome) -> Option<&Manifest> {
    match outcome {
        Outcome::Finished(m) | Outcome::Diverged(m) => Some(m),
        _ => None,
    }
}

/// Checks that the replicates of one run used distinct seeds for every stream, each the
/// seed tree's (MLPerf's seed checker): the run seed of replicate i is the claim file's
/// `audit/seed/i`, the seeds differ, and the init stream is each seed's (the data-order
/// and augmentation streams derive from the same seed, and the manifest names them).
fn check_seeds(outcomes: &[Outcome], root: u64) -> Result<String, AuditError> {
    use crate::determinism::stream_names;
    let manifests: Vec<(usize, &Manifest)> = outcomes
        .iter()
        .enumerate()
        .filter_map(|(i, o)| manifest_of(o).map(|m| (i, m)))
        .collect();
    let fail = |why: String| Err(AuditError::SeedCheck(why));
    for (i, m) in &manifests {
        let seed = m.config.run.seed;
        if seed != run_seed(root, *i) || m.seeds.root != seed {
            return fail(format!(
                "replicate {} ran with seed {seed}, not the seed tree's {}",
                i + 1,
                run_seed(root, *i)
            ));
        }
        if m.seeds.init_torch_seed != Some(SeedTree::new(seed).seed(stream_names::INIT)) {
            return fail(format!(
                "replicate {}'s init stream is not its seed's",
                i + 1
            ));
        }
    }
    let roots: HashSet<u64> = manifests.iter().map(|(_, m)| m.seeds.root).collect();
    if roots.len() != manifests.len() {
        return fail("two replicates share a seed".into());
    }
    Ok(format!(
        "seeds checked: {} replicates, each stream's seed distinct and the seed tree's of root {root}",
        manifests.len()
    ))
}

/// The epochs (1-based) a claim reads its metric at, or its change since.
#[derive(Debug, Clone, Copy)]
struct EpochsRead {
    at: Option<usize>,
    since: Option<usize>,
}

/// The claim's number of one run: its metric after the last epoch (or `at`), or its
/// change since `since`; NaN for a diverged run.
fn value_of(claim: &Claim, outcome: &Outcome, epochs: EpochsRead) -> Result<f64, AuditError> {
    let Outcome::Finished(manifest) = outcome else {
        return Ok(f64::NAN);
    };
    let record = |epoch: usize| -> Result<&EpochRecord, AuditError> {
        manifest.epochs.get(epoch - 1).ok_or(AuditError::NoEpoch {
            epoch,
            epochs: manifest.epochs.len(),
        })
    };
    let last = manifest.epochs.len().max(1);
    let value = |e: &EpochRecord| judge::metric_value(e, claim.metric(), claim.split);
    match (epochs.at, epochs.since) {
        (Some(at), _) => Ok(value(record(at)?)),
        (None, Some(since)) => Ok(value(record(last)?) - value(record(since)?)),
        (None, None) => Ok(value(record(last)?)),
    }
}
