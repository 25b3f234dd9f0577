//! The audit: claim files, re-runs over seeds, statistics and honest verdicts.

pub mod claims;
pub mod output;
mod run;
pub mod shard;
pub mod verdict;

pub use claims::{Claim, ClaimError, Metric, ParsedFile, Relation, Requires, RunSpec, Split};
pub use run::{AuditObserver, AuditOptions, ClaimResult, Training, audit, run_seed, shard_runs};
pub use verdict::{Summary, Verdict};
