//! From a claim's per-seed values to its verdict: the test its form calls for, the level
//! after the file's multiplicity adjustment, and what a rehearsal makes of it.

use super::auditor::ClaimResult;
use super::claims::{Claim, Form, Metric, MetricSplit};
use super::error::AuditError;
use super::results::SeedValues;
use super::verdict::{self, Claimed, Decision, Evidence, Summary, Verdict};
use crate::determinism::{SeedTree, stream_names};
use crate::manifest::{EpochRecord, Manifest, compare};
use serde::{Deserialize, Serialize};

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

/// What a judgement needs besides the values: the level the insights are read at and the
/// seed tree their bootstrap draws from.
#[derive(Debug, Clone, Copy)]
pub struct Judging {
    pub alpha: f64,
    pub root: u64,
}

/// `result` with the evidence that `measured` gives about `claim` (or why there is none),
/// and what an auditor asks next beside it.
pub fn judged(
    claim: &Claim,
    measured: Result<SeedValues, AuditError>,
    result: ClaimResult,
    judging: Judging,
) -> ClaimResult {
    let measured = match measured {
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
    let seeds = SeedsOf::new(&measured);
    let mut notes = result.notes.clone();
    notes.extend(measured.seed_check.clone());
    notes.extend(no_floor_note(claim, measured.test_images));
    let result = ClaimResult {
        values: seeds
            .values
            .iter()
            .map(|v| v.is_finite().then_some(*v))
            .collect(),
        runs: measured.runs.clone(),
        notes,
        ..result
    };
    let (kept, failures) = match seeds.accounted(claim, &measured.failures) {
        Ok(accounted) => accounted,
        Err(verdict) => {
            return ClaimResult {
                verdict,
                broken: true,
                ..result
            };
        }
    };
    let result = ClaimResult {
        dropped_seeds: failures.dropped.clone(),
        failures: (!failures.failed.is_empty()).then_some(failures),
        ..result
    };
    match evidence_of(claim, &kept, measured.test_images) {
        Ok((evidence, summary)) => {
            let insights = insights(claim, &kept, &measured, &evidence, judging);
            ClaimResult {
                evidence: Some(evidence),
                summary: Some(summary),
                ..insights.apply(result)
            }
        }
        Err(verdict) => ClaimResult { verdict, ..result },
    }
}

/// Seeds that failed (a diverged run, a metric that is not finite) and what was done
/// with each, under the claim's `max_failures`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failures {
    /// Seed indices that failed, on either side.
    pub failed: Vec<usize>,
    /// Those left out.
    pub dropped: Vec<usize>,
    /// Those whose claim's own run failed in a relative claim with a claimed direction:
    /// counted as the least favourable difference observed (MLPerf counts a run that does
    /// not converge as the worst result).
    pub counted_as_worst: Vec<usize>,
    /// How many may fail (`max_failures`).
    pub allowed: usize,
}

impl Failures {
    /// "1 of 5 seeds failed (seed 3): dropped".
    pub fn describe(&self, seeds: usize) -> String {
        let list = |v: &[usize]| {
            v.iter()
                .map(|i| (i + 1).to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut text = format!(
            "{} of {seeds} seeds failed (seed {})",
            self.failed.len(),
            list(&self.failed)
        );
        if !self.dropped.is_empty() {
            text.push_str(&format!("; dropped: {}", list(&self.dropped)));
        }
        if !self.counted_as_worst.is_empty() {
            text.push_str(&format!(
                "; counted as the worst observed difference: {}",
                list(&self.counted_as_worst)
            ));
        }
        text
    }
}

/// A claim's per-seed values, and which side failed where.
struct SeedsOf {
    /// Per seed: the value (absolute) or this run minus the other (relative).
    values: Vec<f64>,
    /// Whether the claim's own run failed, per seed.
    mine_failed: Vec<bool>,
}

impl SeedsOf {
    fn new(measured: &SeedValues) -> Self {
        let values = match &measured.other {
            Some(other) => measured
                .mine
                .iter()
                .zip(other)
                .map(|(a, b)| a - b)
                .collect(),
            None => measured.mine.clone(),
        };
        let mine_failed = measured.mine.iter().map(|v| !v.is_finite()).collect();
        Self {
            values,
            mine_failed,
        }
    }

    /// The values the statistics read, after the failure rule: more failures than the
    /// claim allows make it NOT RUN; in a relative claim with a direction a failure of the
    /// claim's own run counts as the least favourable difference observed; any other
    /// failure is dropped.
    fn accounted(
        &self,
        claim: &Claim,
        reasons: &[String],
    ) -> Result<(Vec<f64>, Failures), Verdict> {
        let failed: Vec<usize> = (0..self.values.len())
            .filter(|&i| !self.values[i].is_finite())
            .collect();
        if failed.len() > claim.max_failures {
            let why = match reasons.first() {
                Some(first) => format!("; {first}"),
                None => " (a run diverged: its metric is not finite)".into(),
            };
            return Err(Verdict::NotRun {
                why: format!(
                    "{} of {} seeds failed, more than max_failures = {}{why}",
                    failed.len(),
                    self.values.len(),
                    claim.max_failures
                ),
            });
        }
        let finite: Vec<f64> = self
            .values
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .collect();
        let sign = super::insight::claimed_sign(claim);
        let worst = sign.and_then(|s| {
            finite
                .iter()
                .map(|v| s * v)
                .min_by(f64::total_cmp)
                .map(|w| s * w)
        });
        let mut kept = finite;
        let (mut dropped, mut counted) = (Vec::new(), Vec::new());
        for &i in &failed {
            match (self.mine_failed[i] && claim.than.is_some(), worst) {
                (true, Some(w)) => {
                    kept.push(w);
                    counted.push(i);
                }
                _ => dropped.push(i),
            }
        }
        let failures = Failures {
            failed,
            dropped,
            counted_as_worst: counted,
            allowed: claim.max_failures,
        };
        Ok((kept, failures))
    }
}

/// What an auditor asks next about one claim.
#[derive(Default)]
struct Insights {
    placement: Option<super::insight::Placement>,
    superiority: Option<super::insight::Superiority>,
    test_set: Option<super::insight::TestSetNoise>,
}

impl Insights {
    fn apply(self, result: ClaimResult) -> ClaimResult {
        ClaimResult {
            placement: self.placement,
            superiority: self.superiority,
            test_set: self.test_set,
            ..result
        }
    }
}

fn insights(
    claim: &Claim,
    kept: &[f64],
    measured: &SeedValues,
    evidence: &Evidence,
    judging: Judging,
) -> Insights {
    use super::insight::{claimed_sign, placement, superiority, test_set_noise};
    let mut out = Insights::default();
    if let Ok(Form::Value(value)) = claim.form() {
        out.placement = Some(placement(
            kept,
            value,
            evidence.sd,
            claim.metric(),
            claim.runs,
            judging.alpha,
        ));
    }
    if let Some(sign) = claimed_sign(claim) {
        let signed: Vec<f64> = kept.iter().map(|d| sign * d).collect();
        let mut stream = SeedTree::new(judging.root).stream(&stream_names::bootstrap(&claim.id));
        out.superiority = Some(superiority(
            &signed,
            claim.margin,
            evidence.sd,
            judging.alpha,
            &mut stream,
        ));
    }
    let finite: Vec<f64> = measured
        .mine
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let mean = finite.iter().sum::<f64>() / finite.len().max(1) as f64;
    if let Some(images) = images_behind(claim, measured.test_images) {
        out.test_set = test_set_noise(claim, mean, images);
    }
    out
}

/// The evidence `kept` (the seeds' values after the failure rule; for a relative claim the
/// paired differences) give about `claim`, with their summary; or the verdict when no test
/// can be made.
fn evidence_of(
    claim: &Claim,
    kept: &[f64],
    test_images: Option<u64>,
) -> Result<(Evidence, Summary), Verdict> {
    if kept.len() < 2 {
        return Err(Verdict::Inconclusive {
            why: format!(
                "{} usable seed(s) give no spread; run at least 2 (--seeds)",
                kept.len()
            ),
            seeds_needed: Some(2),
        });
    }
    let summary = Summary::of(kept);
    let floor = images_behind(claim, test_images).map_or(0.0, |n| claim.sd_floor(summary.mean, n));
    let claimed = |value| Claimed {
        value,
        runs: claim.runs,
        spread: claim.spread,
    };
    let evidence = match claim.form() {
        Ok(Form::Value(v) | Form::Difference(v)) => {
            verdict::equivalence(kept, claimed(v), claim.margin, floor)
        }
        Ok(Form::Effect(relation)) => verdict::effect(kept, relation, claim.margin, floor),
        Ok(Form::Bound { relation, bound }) => {
            verdict::bound(kept, relation, bound, claim.margin, floor)
        }
        Ok(Form::Reproducible) | Err(_) => {
            return Err(Verdict::NotRun {
                why: "not a claim about a metric".into(),
            });
        }
    };
    Ok((evidence, summary))
}

/// The note for a claim whose test set is unknown (a program's, without `test_images`):
/// no binomial floor is put under its seeds' spread.
fn no_floor_note(claim: &Claim, measured: Option<u64>) -> Option<String> {
    let unknown = images_behind(claim, measured).is_none();
    (unknown && claim.form() != Ok(Form::Reproducible)).then(|| {
        "the program's test-set size is not stated (give test_images in the claim), so no binomial floor is put under the seeds' spread".into()
    })
}

/// The test images behind a claim's metric: its runs' count, else the claim's
/// `test_images`, else CIFAR-10's 10,000, except for a program's claim, whose test set
/// is unknown unless the claim states it (then no binomial floor is used).
fn images_behind(claim: &Claim, measured: Option<u64>) -> Option<u64> {
    let default = (!claim.runs_program()).then_some(10_000);
    measured.or(claim.test_images).or(default)
}

/// Gives every claim with evidence its verdict, at the level `decision` leaves it.
pub fn conclude(results: &mut [ClaimResult], decision: Decision) {
    let evidence: Vec<Option<&Evidence>> = results.iter().map(|r| r.evidence.as_ref()).collect();
    let levels = verdict::levels(&evidence, decision.alpha, decision.adjust);
    for (result, level) in results.iter_mut().zip(levels) {
        if let Some(evidence) = &result.evidence {
            result.verdict = verdict::decide(evidence, level);
            let decided = verdict::outcome(evidence, level);
            let (interval, confidence) = verdict::shown_interval(evidence, level, decided);
            result.interval = Some(interval);
            result.confidence = Some(confidence);
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
                "the same seed trained twice is bit-identical: {}, every data order, augmentation, step trace and weights digest equal (final weights {})",
                crate::text::counted(comparison.epochs_compared, "epoch"),
                a.epochs.last().map_or("-", |e| &e.weights_sha256[..16])
            ),
        },
        Some(first) => Verdict::NotReproduced {
            why: format!(
                "the same seed trained twice diverges {}; likely cause: {}",
                first.describe(),
                comparison.likely_cause(a, b)
            ),
        },
    }
}

/// A rehearsal's verdicts: REHEARSED where the claim's whole path ran (whatever its
/// numbers said, which at smoke scale mean nothing), FAILED naming the step that did not.
pub fn as_rehearsal(results: &mut [ClaimResult]) {
    for result in results.iter_mut() {
        if let Verdict::NotRun { why } = &result.verdict {
            result.verdict = Verdict::Failed { why: why.clone() };
            continue;
        }
        let steps = match result.claim.as_ref() {
            Some(c) if c.checkpoint.is_some() => {
                "evaluated the checkpoint, judged the claim".to_owned()
            }
            Some(c) if c.reproducible => {
                "trained the first seed twice, compared the two runs".to_owned()
            }
            _ => format!(
                "trained {} runs, evaluated them, judged the claim",
                result.runs.len()
            ),
        };
        // What the path ran on, and none of the statistics (not_run's empty fields).
        *result = ClaimResult {
            sentence: std::mem::take(&mut result.sentence),
            claim: result.claim.take(),
            verdict: Verdict::Rehearsed {
                why: format!(
                    "path ran: {steps}, at smoke scale; numbers at that scale mean nothing, so none is shown"
                ),
            },
            runs: std::mem::take(&mut result.runs),
            notes: std::mem::take(&mut result.notes),
            broken: false,
            ..ClaimResult::not_run(&result.id, String::new())
        };
    }
}
