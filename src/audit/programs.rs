//! The audit's side of a claim whose run is a program (`run = "runner:NAME"`): the run
//! as the audit adds it, the claim's number from the program's metrics, the seed check,
//! and a seed run twice compared.

use super::claims::Claim;
use super::error::AuditError;
use super::options::run_seed;
use super::verdict::Verdict;
use crate::program::{ProgramRecord, ProgramStatus, compare_runs};
use std::path::Path;

/// The claim's number of one program run: its mapped metric (a gap computed from the
/// two accuracies when only they are mapped); NaN for a failed seed.
pub fn value(claim: &Claim, record: &ProgramRecord) -> Result<f64, AuditError> {
    if record.status != ProgramStatus::Completed {
        return Ok(f64::NAN);
    }
    let keys = claim
        .program_metric(&record.run.spec)
        .map_err(AuditError::Claim)?;
    let get = |key: &str| {
        record
            .metrics
            .get(key)
            .copied()
            .ok_or_else(|| AuditError::Claim(format!("its program recorded no metric {key}")))
    };
    match keys.as_slice() {
        [one] => get(one),
        [train, test] => Ok(get(train)? - get(test)?),
        _ => Err(AuditError::Claim(
            "a reproducibility claim reads no metric".into(),
        )),
    }
}

/// A note naming a failed seed and why it failed (the end of its stderr).
pub fn failure_note(seed_index: usize, record: &ProgramRecord) -> Option<String> {
    let why = record.failure.as_deref()?;
    Some(format!(
        "seed {} of runner {} (--seed {}) failed: {why}",
        seed_index + 1,
        record.run.runner,
        record.run.seed
    ))
}

/// Checks that the program's replicates ran with the seed tree's seeds, all distinct.
pub fn check_seeds(records: &[(usize, &ProgramRecord)], root: u64) -> Result<String, AuditError> {
    let mut seen = std::collections::HashSet::new();
    for (i, record) in records {
        let expected = record.run.spec.seed_for(run_seed(root, *i));
        if record.run.seed != expected {
            return Err(AuditError::SeedCheck(format!(
                "replicate {} ran with --seed {}, not the seed tree's {expected}",
                i + 1,
                record.run.seed
            )));
        }
        if !seen.insert(record.run.seed) {
            return Err(AuditError::SeedCheck("two replicates share a seed".into()));
        }
    }
    Ok(format!(
        "seeds checked: {} replicates of a program, each given its own seed tree seed of root {root}",
        records.len()
    ))
}

/// A seed's two runs of a program: REPRODUCED when every declared output file and every
/// metric is equal, else NOT REPRODUCED naming the first that differs.
pub fn reproducibility(a: &ProgramRecord, b: &ProgramRecord, folders: (&Path, &Path)) -> Verdict {
    if let Some(failure) = a.failure.as_ref().or(b.failure.as_ref()) {
        return Verdict::NotRun {
            why: format!("a run of the seed failed: {failure}"),
        };
    }
    match compare_runs(a, b, folders) {
        None => Verdict::Reproduced {
            why: format!(
                "the same seed run twice gives the same files and metrics: {} output files equal by SHA-256{}, {} metrics equal bit for bit",
                a.outputs.len(),
                a.outputs.first().map_or(String::new(), |f| format!(
                    " ({} {})",
                    f.path,
                    &f.sha256[..16.min(f.sha256.len())]
                )),
                a.metrics.len()
            ),
        },
        Some(first) => Verdict::NotReproduced {
            why: format!("the same seed run twice differs: {first}"),
        },
    }
}
