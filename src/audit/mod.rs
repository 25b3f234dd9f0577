//! The audit: claim files, re-runs over seeds, statistics and honest verdicts.

pub mod claims;
pub mod output;
mod run;
pub mod verdict;

pub use claims::{Claim, ClaimError, Metric, ParsedFile, Relation, Requires, RunSpec, Split};
pub use run::{AuditObserver, AuditOptions, ClaimResult, audit, run_seed};
pub use verdict::{Summary, Verdict};
