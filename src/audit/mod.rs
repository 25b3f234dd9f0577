//! The audit: claim files, re-runs over seeds, statistics and honest verdicts.

pub mod claims;
mod error;
pub mod output;
pub mod results;
mod run;
pub mod shard;
pub mod verdict;
pub mod wandb;

pub use claims::{Claim, ClaimError, Metric, ParsedFile, Relation, Requires, RunSpec, Split};
pub use error::AuditError;
pub use results::{Results, ResultsError};
pub use run::{AuditObserver, AuditOptions, ClaimResult, Training, audit, run_seed, shard_runs};
pub use verdict::{Adjust, Evidence, Summary, Verdict};
