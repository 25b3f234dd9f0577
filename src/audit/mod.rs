//! The audit: claim files, re-runs over seeds, statistics and honest verdicts.

mod auditor;
pub mod claims;
mod error;
mod graph;
pub mod insight;
mod judge;
mod options;
pub mod output;
mod plan;
mod programs;
mod recheck;
pub mod rehearse;
pub mod results;
pub mod runner;
pub mod shard;
pub mod verdict;
pub mod wandb;

pub use auditor::{Audit, ClaimResult};

/// The commented claim file `cifar-repro claims init` writes: every form of claim, the
/// runner and checkpoint forms commented out until a script or file is named.
pub const CLAIMS_TEMPLATE: &str = include_str!("template.claims.toml");
pub use claims::{
    Claim, ClaimError, Form, Metric, MetricSplit, ParsedFile, Relation, Requires, RunSpec,
    UnparsedClaim,
};
pub use error::AuditError;
pub use graph::{Work, run_key};
pub use judge::Failures;
pub use options::{AuditObserver, AuditOptions, Mode, Training, run_seed};
pub use plan::{Cost, Estimate, MAX_TIMED_BATCH, Plan, PlannedRun};
pub use results::{Results, ResultsError};
pub use verdict::{Adjust, Decision, Evidence, Summary, Verdict};
