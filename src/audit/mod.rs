//! The audit: claim files, re-runs over seeds, statistics and honest verdicts.

mod auditor;
pub mod claims;
mod error;
pub mod output;
mod plan;
pub mod results;
pub mod shard;
pub mod verdict;
pub mod wandb;

pub use auditor::{
    AuditObserver, AuditOptions, ClaimResult, Training, audit, plan, run_seed, shard_runs,
};
pub use claims::{Claim, ClaimError, Metric, MetricSplit, ParsedFile, Relation, Requires, RunSpec};
pub use error::AuditError;
pub use plan::{Cost, Estimate, Plan, PlannedRun};
pub use results::{Results, ResultsError};
pub use verdict::{Adjust, Evidence, Summary, Verdict};
