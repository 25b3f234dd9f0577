//! Running an audit: the graph of runs its claims need (finished runs reused, keyed by
//! their config's hash; a two-stage run after the run it starts from), each claim's
//! per-seed values, then statistics and a verdict.

use super::claims::{Claim, Form, MetricSplit, ParsedFile, UnparsedClaim};
use super::error::AuditError;
use super::judge;
use super::options::{AuditObserver, AuditOptions, Mode, Training, run_seed};
use super::plan::Plan;
use super::programs;
use super::results::SeedValues;
use super::runner::{Outcome, Runner, manifest_of, push_note, seeded};
use super::verdict::{Evidence, Summary, Verdict};
use crate::config::TrainConfig;
use crate::determinism::SeedTree;
use crate::manifest::{EpochRecord, Manifest};
use crate::program::{ProgramRecord, ProgramRun};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// The outcome for one claim.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClaimResult {
    /// The claim's id (with its reading, `ID [key=value]`).
    pub id: String,
    /// What the report says, in its words.
    pub sentence: String,
    /// The claim as parsed; none when it could not be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<Claim>,
    /// The verdict and why.
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
    /// The level the claim was decided at (α after Holm's adjustment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<f64>,
    /// The interval of the estimate its verdict read, low then high
    /// ([`super::verdict::shown_interval`]): never wholly inside the margin unless
    /// REPRODUCED, never wholly outside it unless NOT REPRODUCED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<[f64; 2]>,
    /// That interval's confidence (0.90 for the (1 - 2·level) interval at level 0.05).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
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
            confidence: None,
            runs: Vec::new(),
            notes: Vec::new(),
            broken: true,
        }
    }
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

/// A claim's run as the audit adds it: the config chain cifar-repro trains (the run,
/// then the runs it starts from), or a runner's program (its inputs hashed once; each
/// replicate gets its seed).
enum Recipe {
    Train(Vec<TrainConfig>),
    Program(Box<ProgramRun>),
}

/// An audit of one claim file: its run graph, planned once, then run.
pub struct Audit<'a> {
    file: &'a ParsedFile,
    options: &'a AuditOptions,
    runner: Runner<'a>,
    /// Per claim its runs, or why it cannot run and whether that is an error (rather than
    /// a requirement this machine lacks).
    claims: HashMap<String, Result<ClaimRuns, (String, bool)>>,
}

impl<'a> Audit<'a> {
    /// Plans the audit of the claims of `file` that `options` selects.
    pub fn new(file: &'a ParsedFile, options: &'a AuditOptions) -> Self {
        let mut audit = Self {
            file,
            options,
            runner: Runner::new(options, &file.base_dir),
            claims: HashMap::new(),
        };
        if options.results.is_none() {
            let trained = |c: &&Claim| c.checkpoint.is_none();
            for claim in audit
                .selected()
                .into_iter()
                .filter_map(|c| c.as_ref().ok())
                .filter(trained)
            {
                let runs = audit
                    .claim_runs(claim)
                    .map_err(|e| (e.to_string(), !e.is_requirement()));
                audit.claims.insert(claim.id.clone(), runs);
            }
        }
        if let Training::Shard { index, count } = options.training {
            audit.runner.assign_shard(index, count);
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

    /// Adds a claim's runs to the graph, or says why the claim cannot run here.
    fn claim_runs(&mut self, claim: &Claim) -> Result<ClaimRuns, AuditError> {
        let mut notes = Vec::new();
        let form = claim.form().map_err(AuditError::Claim)?;
        let mine = self.recipe(claim, &claim.run, &mut notes)?;
        let other = claim
            .than
            .as_ref()
            .map(|spec| self.recipe(claim, spec, &mut notes))
            .transpose()?;
        let full_epochs = match &mine {
            Recipe::Train(_) => claim.run.resolve(&self.file.base_dir)?.config.loop_.epochs,
            Recipe::Program(..) => 0,
        };
        let seeds = if form == Form::Reproducible {
            1
        } else {
            self.options.seeds
        };
        let add = |audit: &mut Self, recipe: &Recipe, copy: usize| {
            (0..seeds)
                .map(|i| audit.add(recipe, i, copy, &claim.id))
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

    /// What a run spec of `claim` is: a config chain (checked against what this machine
    /// has), or a runner's program (when commands may run).
    fn recipe(
        &mut self,
        claim: &Claim,
        spec: &super::claims::RunSpec,
        notes: &mut Vec<String>,
    ) -> Result<Recipe, AuditError> {
        let Some(name) = crate::program::runner_name(&spec.run) else {
            let chain = self.runner.chain(spec, notes)?;
            for config in &chain {
                if let Some(why) = self.missing(claim, config, notes) {
                    return Err(why);
                }
            }
            return Ok(Recipe::Train(chain));
        };
        let file: &'a ParsedFile = self.file;
        let runner = file
            .runners
            .get(name)
            .ok_or_else(|| AuditError::Claim(format!("no [runners.{name}] in the file")))?;
        if matches!(self.options.mode, Mode::Rehearsal { .. }) {
            return Err(AuditError::NoProgramRehearsal(name.to_owned()));
        }
        if !self.options.allow_commands {
            return Err(AuditError::CommandsNotAllowed(name.to_owned()));
        }
        if claim.requires.cuda && !self.options.device.is_cuda() {
            return Err(AuditError::NeedsCuda);
        }
        let device = if self.options.device.is_cuda() {
            "cuda"
        } else {
            "cpu"
        };
        let run = ProgramRun::new(name, runner, &file.base_dir, 0, device)?;
        Ok(Recipe::Program(Box::new(run)))
    }

    /// Adds replicate `i` (copy `copy`) of a recipe for `claim`; returns its index.
    fn add(
        &mut self,
        recipe: &Recipe,
        i: usize,
        copy: usize,
        claim: &str,
    ) -> Result<usize, AuditError> {
        let seed = run_seed(self.file.seed, i);
        match recipe {
            Recipe::Train(chain) => self.runner.add(&seeded(chain, seed), i, copy, claim),
            Recipe::Program(program) => {
                let run = program.with_seed(seed);
                Ok(self.runner.add_program(run, i, copy, claim))
            }
        }
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
        match self.runner.load_data(&config.data) {
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
        let mut evaluations = Vec::new();
        for claim in self.selected() {
            match claim {
                Err(unparsed) => not_run.push((unparsed.id.clone(), unparsed.why.clone())),
                Ok(claim) => {
                    if let Some(file) = claim.checkpoint_file(&self.file.base_dir) {
                        evaluations.push((claim.id.clone(), file));
                    }
                    if let Some(Err((why, _))) = self.claims.get(&claim.id) {
                        not_run.push((claim.id.clone(), why.clone()));
                    }
                }
            }
        }
        Plan {
            evaluations,
            ..self.runner.plan(not_run)
        }
    }

    /// The run folders part `index` of `count` trains (`runs/KEY`), in plan order.
    pub fn shard_runs(&self, index: usize, count: usize) -> Vec<PathBuf> {
        self.runner.shard_runs(index, count)
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
        if let Some(file) = claim.checkpoint_file(&self.file.base_dir) {
            return self.released(claim, &file, result);
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
        let failures = self.program_failures(claim, &runs, observer);
        for note in &failures {
            push_note(&mut result.notes, note.clone());
        }
        let measured = measured.map(|m| SeedValues { failures, ..m });
        judge::judged(claim, measured, result, self.judging())
    }

    /// A checkpoint claim: the file evaluated once on the test split, with the claim's
    /// run giving the model and preprocessing, judged by the test set's binomial interval.
    fn released(&mut self, claim: &Claim, file: &Path, result: ClaimResult) -> ClaimResult {
        match self.evaluate_released(claim, file) {
            Ok((evidence, accuracy, notes)) => ClaimResult {
                evidence: Some(evidence),
                values: vec![Some(accuracy)],
                notes,
                ..result
            },
            Err(why) => ClaimResult {
                verdict: Verdict::NotRun {
                    why: why.to_string(),
                },
                broken: !why.is_requirement(),
                ..result
            },
        }
    }

    fn evaluate_released(
        &mut self,
        claim: &Claim,
        file: &Path,
    ) -> Result<(Evidence, f64, Vec<String>), AuditError> {
        let Ok(Form::Value(value)) = claim.form() else {
            return Err(AuditError::Claim(
                "a checkpoint claim claims a value".into(),
            ));
        };
        let mut notes = Vec::new();
        let mut config = self.runner.resolve(&claim.run, &mut notes)?.config;
        config.model.pretrained = None;
        if let Some(why) = self.missing(claim, &config, &mut notes) {
            return Err(why);
        }
        let data = self.runner.load_data(&config.data)?;
        let eval = crate::train::evaluate_released(file, &config, &data, self.options.device)
            .map_err(AuditError::Train)?;
        let images = eval.metrics.count;
        notes.push(format!(
            "one evaluation of {} (SHA-256 {}…, {} {}) on {images} test images of {}: the sample is the test images, not seeds",
            file.display(),
            &eval.sha256[..16],
            eval.kind.describe(),
            claim.run.describe(),
            config.data.display(),
        ));
        let evidence = super::verdict::test_set_equivalence(
            eval.metrics.accuracy,
            images,
            value,
            claim.margin,
        );
        Ok((evidence, eval.metrics.accuracy, notes))
    }

    /// A note for each failed seed of a program among the claim's runs.
    fn program_failures(
        &mut self,
        claim: &Claim,
        runs: &ClaimRuns,
        observer: &mut dyn AuditObserver,
    ) -> Vec<String> {
        let nodes = runs.mine.iter().chain(runs.other.iter().flatten());
        nodes
            .filter_map(|&n| match self.runner.outcome(n, &claim.id, observer) {
                Outcome::Program(record) => {
                    programs::failure_note(self.runner.node(n).seed_index, &record)
                }
                _ => None,
            })
            .collect()
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
            .map(|&n| self.runner.outcome(n, &claim.id, observer))
            .collect();
        let other: Option<Vec<Outcome>> = runs.other.as_ref().map(|o| {
            o.iter()
                .map(|&n| self.runner.outcome(n, &claim.id, observer))
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
            failures: Vec::new(),
            mine: values(&mine)?,
            other: other.as_deref().map(values).transpose()?,
            runs: folders
                .map(|&n| self.runner.node(n).folder.clone())
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
        let first = self.runner.outcome(runs.mine[0], &claim.id, observer);
        let second = self.runner.outcome(twin, &claim.id, observer);
        let folders = vec![
            self.runner.node(runs.mine[0]).folder.clone(),
            self.runner.node(twin).folder.clone(),
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
        let verdict = match (&first, &second) {
            (Outcome::Program(a), Outcome::Program(b)) => {
                let out = &self.options.out;
                let folders = (out.join(&result.runs[0]), out.join(&result.runs[1]));
                match programs::reproducibility(a, b, (&folders.0, &folders.1)) {
                    Ok(verdict) => verdict,
                    Err(why) => {
                        return ClaimResult {
                            verdict: Verdict::NotRun {
                                why: why.to_string(),
                            },
                            broken: true,
                            ..result
                        };
                    }
                }
            }
            _ => match (manifest_of(&first), manifest_of(&second)) {
                (Some(a), Some(b)) => judge::reproducibility(a, b),
                _ => return result,
            },
        };
        ClaimResult { verdict, ..result }
    }
}

/// Checks that the replicates of one run used distinct seeds for every stream, each the
/// seed tree's (MLPerf's seed checker): the run seed of replicate i is the claim file's
/// `audit/seed/i`, the seeds differ, and the init stream is each seed's (the data-order
/// and augmentation streams derive from the same seed, and the manifest names them).
fn check_seeds(outcomes: &[Outcome], root: u64) -> Result<String, AuditError> {
    use crate::determinism::stream_names;
    let programs: Vec<(usize, &ProgramRecord)> = outcomes
        .iter()
        .enumerate()
        .filter_map(|(i, o)| match o {
            Outcome::Program(record) => Some((i, &**record)),
            _ => None,
        })
        .collect();
    if !programs.is_empty() {
        return programs::check_seeds(&programs, root);
    }
    let manifests: Vec<(usize, &Manifest)> = outcomes
        .iter()
        .enumerate()
        .filter_map(|(i, o)| manifest_of(o).map(|m| (i, m)))
        .collect();
    let fail = |why: String| Err(AuditError::SeedCheck(why));
    for (i, m) in &manifests {
        let seed = m.config.loop_.seed;
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
        "seeds checked: {}, each stream's seed distinct and the seed tree's of root {root}",
        crate::text::counted(manifests.len(), "replicate")
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
    let manifest = match outcome {
        Outcome::Finished(manifest) => manifest,
        Outcome::Program(record) => return programs::value(claim, record),
        _ => return Ok(f64::NAN),
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
