//! The runs of an audit or a variance study: the graph of distinct runs (prerequisites
//! first), each found finished in the folder, continued, or trained, at most once per
//! process; the configs every run gets (the study's data, device and scale); the plan.

use super::claims::RunSpec;
use super::error::AuditError;
use super::graph::{RunGraph, RunNode, Work};
use super::options::{AuditObserver, AuditOptions, Mode, Training};
use super::plan::{Plan, PlannedRun};
use crate::config::{Resolved, TrainConfig};
use crate::data::{Cifar10, DataError};
use crate::manifest::{Manifest, RunStatus};
use crate::program::{ProgramError, ProgramRecord, ProgramRun, ProgramStatus};
use crate::train::{Prerequisite, RunDir, Start, TrainError, train};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// What became of one run.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Trained to its end.
    Finished(Rc<Manifest>),
    /// Stopped at a loss that was not finite (a failed seed).
    Diverged(Rc<Manifest>),
    /// A program's run that ended (completed, or failed: a failed seed).
    Program(Rc<ProgramRecord>),
    /// Another shard's, or not merged.
    Left,
    /// Could not run: why.
    Failed(String),
}

/// The runs of one study and what became of them.
pub struct Runner<'a> {
    options: &'a AuditOptions,
    /// The folder relative paths of run specs are read from.
    base_dir: PathBuf,
    data: HashMap<PathBuf, Result<Rc<Cifar10>, Rc<DataError>>>,
    graph: RunGraph,
    outcomes: HashMap<usize, Outcome>,
    /// The runs this process may train (every one when `None`).
    assigned: Option<HashSet<usize>>,
    /// Reused runs checked against their checkpoints.
    recheck: super::recheck::Recheck,
}

impl<'a> Runner<'a> {
    /// A runner with no runs yet; relative config paths are read from `base_dir`.
    pub fn new(options: &'a AuditOptions, base_dir: &Path) -> Self {
        Self {
            options,
            base_dir: base_dir.to_owned(),
            data: HashMap::new(),
            graph: RunGraph::default(),
            outcomes: HashMap::new(),
            assigned: None,
            recheck: super::recheck::Recheck::default(),
        }
    }

    /// The audit's options.
    pub fn options(&self) -> &'a AuditOptions {
        self.options
    }

    /// Lets this process train only part `index` of `count` (whole chains, round-robin).
    pub fn assign_shard(&mut self, index: usize, count: usize) {
        self.assigned = Some(self.graph.shard(index, count).into_iter().collect());
    }

    /// Run `index` of the graph.
    pub fn node(&self, index: usize) -> &RunNode {
        &self.graph.nodes[index]
    }

    /// Adds a run of `chain` (the run, then the runs it starts from; seeds set) as
    /// replicate `seed_index`, copy `copy`, read by `label`; returns its index.
    pub fn add(
        &mut self,
        chain: &[TrainConfig],
        seed_index: usize,
        copy: usize,
        label: &str,
    ) -> Result<usize, AuditError> {
        let rehearsal = matches!(self.options.mode, Mode::Rehearsal { .. });
        Ok(self.graph.add(chain, seed_index, copy, rehearsal, label)?)
    }

    /// Adds replicate `seed_index`, copy `copy`, of a program, read by `label`.
    pub fn add_program(
        &mut self,
        run: ProgramRun,
        seed_index: usize,
        copy: usize,
        label: &str,
    ) -> usize {
        let rehearsal = matches!(self.options.mode, Mode::Rehearsal { .. });
        self.graph
            .add_program(run, seed_index, copy, rehearsal, label)
    }

    /// The data set at `path`, loaded once per audit.
    pub fn load_data(&mut self, path: &Path) -> Result<Rc<Cifar10>, AuditError> {
        self.data
            .entry(path.to_owned())
            .or_insert_with(|| Cifar10::load(path).map(Rc::new).map_err(Rc::new))
            .clone()
            .map_err(AuditError::Data)
    }

    /// A run spec's config with what the audit sets on every run: its data, the device
    /// (auto), and a rehearsal's scale, data and stand-in weights.
    pub fn resolve(&self, spec: &RunSpec, notes: &mut Vec<String>) -> Result<Resolved, AuditError> {
        let mut resolved = spec.resolve(&self.base_dir)?;
        self.adjust(&mut resolved.config, notes)?;
        Ok(resolved)
    }

    /// Fits a resolved config to this audit: its `--data`, the device the audit picked, and
    /// a rehearsal's scale and stand-ins; each change noted once.
    pub fn adjust(
        &self,
        config: &mut TrainConfig,
        notes: &mut Vec<String>,
    ) -> Result<(), AuditError> {
        if let Some(data) = &self.options.data {
            config.data = data.clone();
        }
        config.loop_.device = crate::config::DeviceChoice::Auto;
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
    pub fn chain(
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

    /// The distinct runs, in the order they were added, and the claims that cannot run.
    pub fn plan(&mut self, not_run: Vec<(String, String)>) -> Plan {
        let nodes = self.graph.nodes.clone();
        let runs = nodes
            .iter()
            .map(|node| {
                let folder = self.options.out.join(&node.folder);
                let mut run = PlannedRun {
                    key: node.key.clone(),
                    folder: node.folder.clone(),
                    claims: node.claims.clone(),
                    seed_index: node.seed_index,
                    copy: node.copy,
                    starts_from: node.prerequisite.map(|p| nodes[p].folder.clone()),
                    finished: false,
                    steps: 0,
                    eval_images: 0,
                    program_seconds: None,
                    work: node.work.clone(),
                };
                match &node.work {
                    Work::Train(config) => {
                        let (train, test) = self.split_sizes(&config.data);
                        run.finished = RunDir::open(&folder).completed();
                        run.steps = config.steps(train);
                        run.eval_images = config.loop_.epochs * config.test_images_used(test);
                    }
                    Work::Program(program) => {
                        let record = program.found(&folder).ok().flatten();
                        let completed = record.filter(|r| r.status == ProgramStatus::Completed);
                        run.finished = completed.is_some();
                        run.program_seconds = completed.map(|r| r.wall_seconds);
                    }
                }
                run
            })
            .collect();
        Plan {
            runs,
            not_run,
            evaluations: Vec::new(),
        }
    }

    /// The train and test images of the data at `path` (the full set's when it is absent).
    fn split_sizes(&mut self, path: &Path) -> (usize, usize) {
        match self.load_data(path) {
            Ok(d) => (d.train.len(), d.test.len()),
            Err(_) => (
                crate::data::FULL_TRAIN_RECORDS,
                crate::data::FULL_TEST_RECORDS,
            ),
        }
    }

    /// The run folders part `index` of `count` trains (`runs/KEY`), in plan order.
    pub fn shard_runs(&self, index: usize, count: usize) -> Vec<PathBuf> {
        self.graph
            .shard(index, count)
            .into_iter()
            .map(|i| self.graph.nodes[i].folder.clone())
            .collect()
    }

    /// What became of run `index`: found finished or diverged, trained here (after the
    /// run it starts from), or left to another shard.
    pub fn outcome(
        &mut self,
        index: usize,
        claim: &str,
        observer: &mut dyn AuditObserver,
    ) -> Outcome {
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
        let config = match &node.work {
            Work::Train(config) => config,
            Work::Program(program) => {
                return self.run_program(index, &node, program, claim, observer);
            }
        };
        let interrupted = match found(&folder, config) {
            Found::Finished(m) => {
                if let Err(why) = self.recheck.reused(&folder, &m, self.options) {
                    return Outcome::Failed(why);
                }
                ensure_run_page(&folder);
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
        if !self.may_run(index) {
            return Outcome::Left;
        }
        let init_from = match node.prerequisite {
            None => None,
            Some(p) => match self.prerequisite(p, claim, observer) {
                Ok(prerequisite) => prerequisite,
                Err(outcome) => return outcome,
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
        match self.train(config, &folder, start, observer) {
            Ok(m) if m.status == RunStatus::Diverged => Outcome::Diverged(Rc::new(m)),
            Ok(m) => Outcome::Finished(Rc::new(m)),
            Err(e) => Outcome::Failed(format!(
                "training {} (seed {}): {e}",
                node.folder.display(),
                node.seed_index + 1
            )),
        }
    }

    /// What run `p` gives the run that starts from it: its folder and config once it
    /// finished, else the outcome of the run waiting on it (left, or failed saying why).
    fn prerequisite(
        &mut self,
        p: usize,
        claim: &str,
        observer: &mut dyn AuditObserver,
    ) -> Result<Option<Prerequisite>, Outcome> {
        match self.outcome(p, claim, observer) {
            Outcome::Finished(_) => {
                let prerequisite = &self.graph.nodes[p];
                Ok(prerequisite.work.config().map(|expected| Prerequisite {
                    dir: self.options.out.join(&prerequisite.folder),
                    expected: expected.clone(),
                }))
            }
            Outcome::Left => Err(Outcome::Left),
            Outcome::Diverged(m) => Err(Outcome::Failed(format!(
                "its prerequisite {} diverged at epoch {}",
                self.graph.nodes[p].folder.display(),
                m.diverged.as_ref().map_or(0, |d| d.epoch + 1)
            ))),
            Outcome::Failed(why) => Err(Outcome::Failed(format!("its prerequisite failed: {why}"))),
            Outcome::Program(_) => Ok(None),
        }
    }

    /// Whether this process may start run `index`: not when merging, not another shard's,
    /// not in a plan.
    fn may_run(&self, index: usize) -> bool {
        self.options.training != Training::MergeOnly
            && self.assigned.as_ref().is_none_or(|a| a.contains(&index))
            && !matches!(self.options.mode, Mode::Estimate)
    }

    /// A program's run: found ended in its folder, or run there from the start (what an
    /// interrupted run left is cleared first).
    fn run_program(
        &mut self,
        index: usize,
        node: &RunNode,
        program: &ProgramRun,
        claim: &str,
        observer: &mut dyn AuditObserver,
    ) -> Outcome {
        let folder = self.options.out.join(&node.folder);
        let failed = |e: ProgramError| {
            Outcome::Failed(format!(
                "{} (seed {}): {e}",
                node.folder.display(),
                node.seed_index + 1
            ))
        };
        let may_run = self.may_run(index);
        match program.found(&folder) {
            // A failed seed is run again by a later audit that may run it: a failure is
            // often the environment's (a missing module), fixed since.
            Ok(Some(record)) if record.status == ProgramStatus::Completed || !may_run => {
                observer.run(claim, node.seed_index, &folder, true);
                return Outcome::Program(Rc::new(record));
            }
            Ok(_) => {}
            Err(e) => return failed(e),
        }
        if !may_run {
            return Outcome::Left;
        }
        observer.run(claim, node.seed_index, &folder, false);
        match program.run_in(&folder) {
            Ok(record) => Outcome::Program(Rc::new(record)),
            Err(e) => failed(e),
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
        let (dir, _lock) = match &start {
            Start::Fresh { init_from, .. } => {
                let prerequisite = init_from.as_deref();
                crate::train::preflight(config, &data, self.options.device, prerequisite)
                    .map_err(AuditError::Train)?;
                let (dir, lock) = RunDir::create(folder, true)?;
                dir.write_config(config)?;
                (dir, lock)
            }
            Start::Resume => {
                let dir = RunDir::open(folder);
                let lock = dir.lock()?;
                (dir, lock)
            }
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
            Ok(finished) => {
                write_run_page(&dir, &data, &finished);
                Ok(finished.manifest)
            }
            Err(TrainError::Diverged { .. }) => Ok(dir
                .manifest()
                .map_err(|e| AuditError::Manifest(e.to_string()))?),
            Err(e) => Err(AuditError::Train(e)),
        }
    }
}

/// Writes a finished run's `report.html` as `train` does (curves, confusion matrix,
/// misclassified grid), so that every verdict leads down to its runs' pages; a page that
/// cannot be written is warned about, and the run stands.
fn write_run_page(dir: &RunDir, data: &Cifar10, finished: &crate::train::Finished) {
    let written = crate::report::pick_misclassified(
        &data.test.images,
        &data.test.labels,
        &finished.predictions,
        &data.classes,
    )
    .and_then(|(examples, images)| {
        crate::report::write_report(dir, &finished.manifest, &data.classes, &examples, &images)
    });
    if let Err(e) = written {
        tracing::warn!(
            "{}: its report.html was not written: {e}",
            dir.path().display()
        );
    }
}

/// Renders the page of a reused run that has none (an older audit trained it) from what
/// its folder holds; a page that cannot be written is warned about.
fn ensure_run_page(folder: &Path) {
    let dir = RunDir::open(folder);
    if dir.report_file(crate::run_dir::ReportFile::Html).exists() {
        return;
    }
    if let Err(e) = crate::report::rerender(&dir) {
        tracing::warn!("{}: its report.html was not written: {e}", folder.display());
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

/// Adds `note` unless it is there already.
pub fn push_note(notes: &mut Vec<String>, note: String) {
    if !notes.contains(&note) {
        notes.push(note);
    }
}

/// The run's manifest, when it finished or diverged.
pub fn manifest_of(outcome: &Outcome) -> Option<&Manifest> {
    match outcome {
        Outcome::Finished(m) | Outcome::Diverged(m) => Some(m),
        _ => None,
    }
}

/// `chain` with every config's seed set to `seed`.
pub fn seeded(chain: &[TrainConfig], seed: u64) -> Vec<TrainConfig> {
    chain
        .iter()
        .map(|c| {
            let mut c = c.clone();
            c.loop_.seed = seed;
            c
        })
        .collect()
}
