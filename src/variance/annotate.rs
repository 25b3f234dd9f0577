//! `audit --variance`: each claim gets, next to its verdict, how much each source alone
//! moves its metric in the runs it reads, so a reader sees whether a claimed difference
//! exceeds what one source moves. For reading only: no verdict changes.

use super::{Arm, Variance};
use crate::audit::{Claim, ClaimResult, Metric, MetricSplit};

/// The study's name for a claim's metric, when a study measures it (final test metrics).
fn study_metric(claim: &Claim) -> Option<&'static str> {
    if claim.split != MetricSplit::Test || claim.at_epoch.is_some() || claim.since_epoch.is_some() {
        return None;
    }
    match claim.metric? {
        Metric::Accuracy => Some("test accuracy"),
        Metric::MacroF1 => Some("test macro F1"),
        Metric::Loss => Some("test loss"),
        _ => None,
    }
}

/// One sentence: the arms' sds of `metric` in `study`, and the claim's margin (a relative
/// claim: against a difference of two single runs, √2 times the sd).
fn note(study: &Variance, metric: &str, claim: &Claim) -> Option<String> {
    let k = study
        .arms
        .first()?
        .spreads
        .iter()
        .position(|s| s.metric == metric)?;
    let sds: Vec<String> = study
        .arms
        .iter()
        .map(|a| format!("{} {:.4}", a.arm.name(), a.spreads[k].sd))
        .collect();
    let all = study
        .arms
        .iter()
        .find(|a| a.arm == Arm::All)
        .map(|a| a.spreads[k].sd)
        .filter(|sd| *sd > 0.0);
    let scale = if claim.than.is_some() {
        std::f64::consts::SQRT_2
    } else {
        1.0
    };
    let margin = match all {
        Some(sd) => format!(
            "; the margin {} is {:.1} times what the all arm moves {}",
            claim.margin,
            claim.margin / (scale * sd),
            if claim.than.is_some() {
                "a difference of two single runs (√2·sd)"
            } else {
                "a single run (sd)"
            }
        ),
        None => String::new(),
    };
    Some(format!(
        "variance by source of {} ({} runs per arm), sd of {metric}: {}{margin}",
        study.run,
        study.seeds,
        sds.join(", ")
    ))
}

/// Adds to each claim the arm sds of the studies of the runs it reads (`studies`, by the
/// run each measured).
pub fn annotate(results: &mut [ClaimResult], studies: &[Variance]) {
    for result in results.iter_mut() {
        let Some(claim) = result.claim.clone() else {
            continue;
        };
        let Some(metric) = study_metric(&claim) else {
            continue;
        };
        let runs = std::iter::once(&claim.run).chain(claim.than.as_ref());
        for spec in runs {
            let described = spec.describe();
            let found = studies.iter().find(|s| s.run == described);
            if let Some(text) = found.and_then(|s| note(s, metric, &claim)) {
                result.notes.push(text);
            }
        }
    }
}
