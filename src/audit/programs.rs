//! The audit's side of a claim whose run is a program (`run = "runner:NAME"`): the run
//! as the audit adds it, the claim's number from the program's metrics, the seed check,
//! and a seed run twice compared.

use super::claims::Claim;
use super::error::AuditError;
use super::options::run_seed;
use super::verdict::Verdict;
use crate::program::{ProgramRecord, ProgramStatus, compare_runs, unusable_output};
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
        "{} of runner {} failed: {why}",
        replicate(seed_index, record),
        record.run.runner,
    ))
}

/// "seed 2 (--seed 1635463258)", or "unseeded run 2" for a program that takes no seed.
pub fn replicate(seed_index: usize, record: &ProgramRecord) -> String {
    let spec = &record.run.spec;
    match (spec.takes_seed(), spec.seed_python) {
        (true, _) => format!("seed {} (--seed {})", seed_index + 1, record.run.seed),
        (false, true) => format!(
            "seed {} (seed {} given through seed_python)",
            seed_index + 1,
            record.run.seed
        ),
        (false, false) => format!("unseeded run {}", seed_index + 1),
    }
}

/// What an unseeded program is, for notes and verdicts.
fn unseeded(runner: &str) -> String {
    format!(
        "runner {runner} takes no seed ({{seed}} is in neither its command nor its env, and seed_python is off)"
    )
}

/// Checks that the program's replicates ran with the seed tree's seeds, all distinct; for
/// a program that takes no seed, says its replicates are unseeded runs.
pub fn check_seeds(records: &[(usize, &ProgramRecord)], root: u64) -> Result<String, AuditError> {
    if let Some((_, first)) = records.first()
        && !first.run.spec.seeded()
    {
        return Ok(format!(
            "unseeded runs: {}, so its {} replicates are the same command run {} times, differing by whatever the program draws for itself",
            unseeded(&first.run.runner),
            records.len(),
            records.len()
        ));
    }
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
    let how = match records.first() {
        Some((_, r)) if !r.run.spec.takes_seed() => " (through seed_python's start-up hook)",
        _ => "",
    };
    Ok(format!(
        "seeds checked: {} of a program, each given its own seed tree seed of root {root}{how}",
        crate::text::counted(records.len(), "replicate")
    ))
}

/// A seed's two runs of a program: REPRODUCED when every declared output file and every
/// metric is equal, else NOT REPRODUCED naming the first that differs; an error (the
/// claim cannot be judged) when a run failed or a declared output is missing or
/// unreadable in either. For a program that takes no seed the verdict says so.
pub fn reproducibility(
    a: &ProgramRecord,
    b: &ProgramRecord,
    folders: (&Path, &Path),
) -> Result<Verdict, AuditError> {
    if let Some(failure) = a.failure.as_ref().or(b.failure.as_ref()) {
        return Err(AuditError::RunFailed(format!(
            "a run of the seed failed: {failure}"
        )));
    }
    if let Some(unusable) = unusable_output(a, b) {
        return Err(AuditError::RunFailed(format!(
            "{unusable}: a declared output must exist in both runs to be compared"
        )));
    }
    let (what, unseeded_prefix) = match a.run.spec.seeded() {
        true => ("the same seed run twice", String::new()),
        false => (
            "the same command run twice",
            format!("{}: ", unseeded(&a.run.runner)),
        ),
    };
    Ok(match compare_runs(a, b, folders) {
        None => Verdict::Reproduced {
            why: format!(
                "{unseeded_prefix}{what} gives the same files and metrics: {} equal by SHA-256{}, {} equal bit for bit",
                crate::text::counted(a.outputs.len(), "output file"),
                a.outputs.first().map_or(String::new(), |f| format!(
                    " ({} {})",
                    f.path,
                    &f.sha256[..16.min(f.sha256.len())]
                )),
                crate::text::counted(a.metrics.len(), "metric")
            ),
        },
        Some(first) => Verdict::NotReproduced {
            why: format!("{unseeded_prefix}{what} differs: {first}"),
        },
    })
}
