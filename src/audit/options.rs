//! How an audit (or a variance study) runs: which runs this process trains, at what
//! scale, and what it reports progress to.

use super::rehearse::{SmokeScale, StandIns};
use super::results::Results;
use super::verdict::Decision;
use crate::determinism::SeedTree;
use crate::train::{Hooks, Observer};
use std::path::{Path, PathBuf};
use tch::Device;

/// Which of the runs an audit needs this process may train.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Training {
    /// All of them (a single-machine audit).
    All,
    /// Part `index` (0-based) of `count` disjoint parts: the audit's chains of runs, in
    /// the order the claims and seeds need them, dealt round-robin. Runs of other parts are
    /// left alone (their claims come out NOT RUN until the parts are merged).
    Shard {
        /// This part, 0-based.
        index: usize,
        /// How many parts.
        count: usize,
    },
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
        /// How far every run is cut.
        scale: SmokeScale,
        /// The stand-in weights made so far.
        stand_ins: StandIns,
        /// The data that stands in for absent data.
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
    /// Seeds per run.
    pub seeds: usize,
    /// Audit only these claim ids.
    pub only: Option<Vec<String>>,
    /// The audit folder.
    pub out: PathBuf,
    /// Where runs train.
    pub device: Device,
    /// Which runs this process trains.
    pub training: Training,
    /// α and the multiplicity adjustment.
    pub decision: Decision,
    /// Per-seed values from elsewhere (`--results`): no run is trained.
    pub results: Option<Results>,
    /// Test hooks for every run trained.
    pub hooks: Hooks,
    /// Real, rehearsal or estimate.
    pub mode: Mode,
    /// Whether a claim's run may be a command (`runner:NAME`); without it such claims are
    /// NOT RUN.
    pub allow_commands: bool,
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
