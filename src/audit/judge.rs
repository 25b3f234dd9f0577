//! From a claim's per-seed values to its verdict: the test its form calls for, the level
//! after the file's multiplicity adjustment, and what a rehearsal makes of it.

use super::auditor::ClaimResult;
use super::claims::{Claim, Form, Metric, MetricSplit};
use super::error::AuditError;
use super::results::SeedValues;
use super::verdict::{self, Claimed, Decision, Evidence, Summary, Verdict};
use crate::manifest::{EpochRecord, Manifest, compare};

/// A claim's metric in one epoch's record.
pub fn metric_value(epoch: &EpochRecord, metric: Metric, split: MetricSplit) -> f64 {
    let m = match split {
        MetricSplit::Train => &epoch.train,
        MetricSplit::Test => &epoch.test,
    };
    match metric {
        Metric::Accuracy => m.accuracy,
        Metric::Loss => m.loss,
        Metric::MacroF1 => m.macro_f1,
        Metric::MacroPrecision => m.macro_precision,
        Metric::MacroRecall => m.macro_recall,
        Metric::TrainTestGap => epoch.train.accuracy - epoch.test.accuracy,
    }
}

/// `result` with the evidence that `measured` gives about `claim` (or why there is none).
pub fn judged(
    claim: &Claim,
    measured: Result<SeedValues, AuditError>,
    result: ClaimResult,
) -> ClaimResult {
    let SeedValues {
        mine,
        other,
        runs,
        test_images,
    } = match measured {
        Ok(m) => m,
        Err(why) => {
            return ClaimResult {
                verdict: Verdict::NotRun {
                    why: why.to_string(),
                },
                broken: !why.is_requirement(),
                ..result
            };
        }
    };
    let values: Vec<f64> = match &other {
        Some(other) => mine.iter().zip(other).map(|(a, b)| a - b).collect(),
        None => mine,
    };
    let result = ClaimResult {
        values: values.iter().map(|v| v.is_finite().then_some(*v)).collect(),
        runs,
        ..result
    };
    match judge(claim, &values, test_images) {
        Ok((evidence, summary, dropped_seeds)) => ClaimResult {
            evidence: Some(evidence),
            summary: Some(summary),
            dropped_seeds,
            ..result
        },
        Err(verdict) => ClaimResult { verdict, ..result },
    }
}

/// The evidence `values` (one per seed; for a relative claim the paired differences) give
/// about `claim`, with the summary of the seeds kept and the seeds dropped; or the verdict
/// when no test can be made. A non-finite value marks a diverged seed: one is dropped and
/// reported, more make the claim NOT RUN.
fn judge(
    claim: &Claim,
    values: &[f64],
    test_images: Option<u64>,
) -> Result<(Evidence, Summary, Vec<usize>), Verdict> {
    let dropped: Vec<usize> = (0..values.len())
        .filter(|&i| !values[i].is_finite())
        .collect();
    if dropped.len() > 1 {
        return Err(Verdict::NotRun {
            why: format!(
                "{} of {} seeds diverged (metric not finite): at most one is dropped",
                dropped.len(),
                values.len()
            ),
        });
    }
    let kept: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if kept.len() < 2 {
        return Err(Verdict::Inconclusive {
            why: format!(
                "{} usable seed(s) give no spread; run at least 2 (--seeds)",
                kept.len()
            ),
            seeds_needed: Some(2 + dropped.len()),
        });
    }
    let summary = Summary::of(&kept);
    let test_images = test_images.or(claim.test_images).unwrap_or(10_000);
    let floor = claim.sd_floor(summary.mean, test_images);
    let claimed = |value| Claimed {
        value,
        runs: claim.runs,
        spread: claim.spread,
    };
    let evidence = match claim.form() {
        Ok(Form::Value(v) | Form::Difference(v)) => {
            verdict::equivalence(&kept, claimed(v), claim.margin, floor)
        }
        Ok(Form::Effect(relation)) => verdict::effect(&kept, relation, claim.margin, floor),
        Ok(Form::Bound { relation, bound }) => {
            verdict::bound(&kept, relation, bound, claim.margin, floor)
        }
        Ok(Form::Reproducible) | Err(_) => {
            return Err(Verdict::NotRun {
                why: "not a claim about a metric".into(),
            });
        }
    };
    Ok((evidence, summary, dropped))
}

/// Gives every claim with evidence its verdict, at the level `decision` leaves it.
pub fn conclude(results: &mut [ClaimResult], decision: Decision) {
    let evidence: Vec<Option<&Evidence>> = results.iter().map(|r| r.evidence.as_ref()).collect();
    let levels = verdict::levels(&evidence, decision.alpha, decision.adjust);
    for (result, level) in results.iter_mut().zip(levels) {
        if let Some(evidence) = &result.evidence {
            result.verdict = verdict::decide(evidence, level);
            result.interval = Some(verdict::interval(evidence, level));
            result.level = Some(level);
        }
    }
}

/// A reproducibility claim's verdict: the two runs of one seed compared as `verify` does.
/// It is a check of bytes, not a test: no level applies.
pub fn reproducibility(a: &Manifest, b: &Manifest) -> Verdict {
    let comparison = compare::compare(a, b);
    match &comparison.divergence {
        None => Verdict::Reproduced {
            why: format!(
                "the same seed trained twice is bit-identical: {} epochs, every data order, augmentation, step trace and weights digest equal (final weights {})",
                comparison.epochs_compared,
                a.epochs.last().map_or("-", |e| &e.weights_sha256[..16])
            ),
        },
        Some(first) => Verdict::NotReproduced {
            why: format!(
                "the same seed trained twice diverges: {}; likely cause: {}",
                first.describe(),
                comparison.likely_cause(a, b)
            ),
        },
    }
}

/// A rehearsal's verdicts: REHEARSED where the claim's whole path ran (whatever its
/// numbers said, which at smoke scale mean nothing), FAILED naming the step that did not.
pub fn as_rehearsal(results: &mut [ClaimResult]) {
    for result in results {
        result.verdict = match &result.verdict {
            Verdict::NotRun { why } => Verdict::Failed { why: why.clone() },
            decided => Verdict::Rehearsed {
                why: format!(
                    "its whole path ran at smoke scale ({} runs; it would read {} there, which means nothing)",
                    result.runs.len(),
                    decided.label()
                ),
            },
        };
    }
}
