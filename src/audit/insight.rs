//! What an auditor asks next, beside each verdict: where a claimed value sits among the
//! reproduced seeds (is it a lucky seed?), how often one recipe beats the other, how many
//! seeds would show it, and how noisy the test set is on its own. These are for reading:
//! the verdicts do not use them. Each has a stated level, checked by seeded simulation in
//! `tests/it/verdict_rates.rs` and against scipy in `tests/it/verdict_reference.rs`.

use super::claims::{Claim, Form, Metric, Relation};
use crate::determinism::Stream;
use crate::metrics::stats::{normal_cdf, normal_quantile, student_t_cdf};
use serde::{Deserialize, Serialize};

/// Where an absolute claim's value sits among the reproduced seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    /// The share of seeds below the claimed value (ties count half), in percent.
    pub empirical_percentile: f64,
    /// The claimed value's percentile under the predictive distribution of one more run
    /// (mean + sd·sqrt(1 + 1/n)·t on n - 1 df, the sd the verdict used).
    pub predictive_percentile: f64,
    /// The probability that one more run lands at the claimed value or beyond it, on the
    /// claim's side of the mean.
    pub tail: f64,
    /// Set when a single-run claim lies beyond the (1 - α) predictive percentile in its
    /// metric's better direction: the report may show a best seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lucky: Option<String>,
}

/// Which way a metric is better, if it has one.
fn better_is_higher(metric: Metric) -> Option<bool> {
    match metric {
        Metric::Loss => Some(false),
        Metric::TrainTestGap => None,
        _ => Some(true),
    }
}

/// The placement of `claimed` among `values` (the seeds kept), with `sd` the standard
/// deviation the verdict used, for a claim of `metric` made from `runs` runs; the lucky
/// note at level `alpha`.
pub fn placement(
    values: &[f64],
    claimed: f64,
    sd: f64,
    metric: Metric,
    runs: usize,
    alpha: f64,
) -> Placement {
    let n = values.len().max(1) as f64;
    let below = values.iter().map(|&v| match v.total_cmp(&claimed) {
        std::cmp::Ordering::Less => 1.0,
        std::cmp::Ordering::Equal => 0.5,
        std::cmp::Ordering::Greater => 0.0,
    });
    let empirical = 100.0 * below.sum::<f64>() / n;
    let mean = values.iter().sum::<f64>() / n;
    let scale = sd * (1.0 + 1.0 / n).sqrt();
    let cdf = if scale > 0.0 {
        student_t_cdf((claimed - mean) / scale, (n - 1.0).max(1.0))
    } else if claimed > mean {
        1.0
    } else if claimed < mean {
        0.0
    } else {
        0.5
    };
    let tail = if claimed >= mean { 1.0 - cdf } else { cdf };
    let beyond = match better_is_higher(metric) {
        Some(true) => 1.0 - cdf,
        Some(false) => cdf,
        None => 1.0,
    };
    let lucky = (runs == 1 && beyond < alpha).then(|| {
        format!(
            "a run this good happens about 1 in {} seeds of the recipe: the report may show a best seed",
            (1.0 / beyond.max(1e-9)).round() as u64
        )
    });
    Placement {
        empirical_percentile: empirical,
        predictive_percentile: 100.0 * cdf,
        tail,
        lucky,
    }
}

/// How often a relative claim's run beats the other on paired seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Superiority {
    /// The share of seeds whose pair goes the claimed way (ties count half): P(A>B) for
    /// "greater", P(A<B) for "less".
    pub probability: f64,
    /// Its seeded percentile-bootstrap interval, at `confidence` (1 - α).
    pub interval: [f64; 2],
    /// The interval's level, 1 - α.
    pub confidence: f64,
    /// Bootstrap resamples drawn.
    pub resamples: usize,
    /// Bouthillier et al. (2021): significant when the interval's lower end is above 0.5,
    /// meaningful when its upper end is at least 0.75.
    pub decision: String,
    /// Noether's seed count to show P > 1/2 at one-sided α with power 1 - α, when P is
    /// Φ(margin / sd) (the smallest effect of interest over the differences' sd).
    pub seeds_for_margin: usize,
    /// The same for P = 0.75, Bouthillier's threshold (29 at α = 0.05).
    pub seeds_for_meaningful: usize,
}

/// Resamples a bootstrap draws.
pub const RESAMPLES: usize = 2_000;

/// The share of `differences` (signed so that the claimed way is positive) above zero,
/// ties counting half.
fn share_positive(differences: &[f64]) -> f64 {
    let wins: f64 = differences
        .iter()
        .map(|&d| match d.total_cmp(&0.0) {
            std::cmp::Ordering::Greater => 1.0,
            std::cmp::Ordering::Equal => 0.5,
            std::cmp::Ordering::Less => 0.0,
        })
        .sum();
    wins / differences.len().max(1) as f64
}

/// Noether's (1987) sample size for showing P(A>B) > 1/2 when it is `p`, at one-sided
/// level `alpha` with power `1 - beta`.
pub fn noether(p: f64, alpha: f64, beta: f64) -> usize {
    let z = normal_quantile(1.0 - alpha) + normal_quantile(1.0 - beta);
    let gap = (p - 0.5).abs().max(1e-6);
    (z * z / (6.0 * gap * gap)).ceil() as usize
}

/// Bouthillier's decision on an interval for P(A>B).
fn decision(interval: [f64; 2]) -> String {
    match (interval[0] > 0.5, interval[1] >= 0.75) {
        (true, true) => "significant and meaningful (lower end above 0.5, upper end at least 0.75)",
        (true, false) => "significant, not shown meaningful (upper end below 0.75)",
        (false, _) => "not significant (lower end not above 0.5)",
    }
    .to_owned()
}

/// P(A>B) of `differences` (signed so that the claimed way is positive), its bootstrap
/// interval from `stream` at 1 - `alpha`, the decision, and Noether's counts for `margin`
/// over the differences' `sd`.
pub fn superiority(
    differences: &[f64],
    margin: f64,
    sd: f64,
    alpha: f64,
    stream: &mut Stream,
) -> Superiority {
    let n = differences.len();
    let mut shares: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            let sample: Vec<f64> = (0..n)
                .map(|_| differences[stream.below(n.max(1) as u64) as usize])
                .collect();
            share_positive(&sample)
        })
        .collect();
    shares.sort_by(f64::total_cmp);
    let at = |q: f64| shares[((q * (RESAMPLES - 1) as f64).round() as usize).min(RESAMPLES - 1)];
    let interval = [at(alpha / 2.0), at(1.0 - alpha / 2.0)];
    let p_margin = if sd > 0.0 {
        normal_cdf(margin / sd)
    } else {
        1.0
    };
    Superiority {
        probability: share_positive(differences),
        interval,
        confidence: 1.0 - alpha,
        resamples: RESAMPLES,
        decision: decision(interval),
        seeds_for_margin: noether(p_margin, alpha, alpha),
        seeds_for_meaningful: noether(0.75, alpha, alpha),
    }
}

/// The sign that makes a relative claim's claimed way positive, when it has one.
pub fn claimed_sign(claim: &Claim) -> Option<f64> {
    match claim.form() {
        Ok(Form::Effect(Relation::Greater)) => Some(1.0),
        Ok(Form::Effect(_)) => Some(-1.0),
        Ok(Form::Difference(d)) if d != 0.0 => Some(d.signum()),
        _ => None,
    }
}

/// The test set's own noise on a claim's metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestSetNoise {
    /// Test images behind the metric.
    pub images: u64,
    /// The binomial standard error of the metric on that many images.
    pub se: f64,
    /// Set when a single-run claim's margin is below 2 of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// The binomial standard error of `claim`'s metric (near `mean`) on `images` test images,
/// with the warning when its margin is too small for any number of seeds; none for a loss.
pub fn test_set_noise(claim: &Claim, mean: f64, images: u64) -> Option<TestSetNoise> {
    let n = images.max(1) as f64;
    let se = match claim.metric() {
        Metric::Loss => return None,
        _ if claim.since_epoch.is_some() => (0.25 / n).sqrt(),
        Metric::TrainTestGap => (0.25 / n).sqrt(),
        _ => {
            let p = mean.clamp(0.0, 1.0);
            (p * (1.0 - p) / n).sqrt().max((1.0 / n) * 0.5)
        }
    };
    let equivalence = matches!(claim.form(), Ok(Form::Value(_) | Form::Difference(_)));
    let warning = (equivalence && claim.runs == 1 && claim.margin < 2.0 * se).then(|| {
        format!(
            "no number of seeds can show equivalence within ±{} on {images} test images: their binomial standard error alone is {se:.4}",
            claim.margin
        )
    });
    Some(TestSetNoise {
        images,
        se,
        warning,
    })
}
