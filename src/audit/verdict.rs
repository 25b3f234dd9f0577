//! Statistics over seeds and the verdicts they support, as pure functions whose error
//! rates are stated here and checked by seeded simulation (`tests/it/verdict_rates.rs`).
//!
//! A claim is a sample, not a constant: a claimed value is one run (or the mean of
//! `runs` runs with `spread`) of a recipe, and the reproduction's seeds are another
//! sample of it. Each claim has an equivalence margin, the smallest difference that
//! matters. With level α (after Holm's adjustment across a file's claims):
//! - REPRODUCED: equivalence within ±margin is shown by two one-sided tests (TOST), i.e.
//!   the (1 - 2α) interval of the difference lies inside ±margin. When the truth differs
//!   by the margin or more, this happens at most α of the time; more noise only makes it
//!   rarer.
//! - NOT REPRODUCED: a difference beyond the margin is shown, i.e. the (1 - α) interval
//!   lies wholly outside ±margin (α/2 on each side). When the truth is within the margin,
//!   this happens at most α of the time.
//! - INCONCLUSIVE otherwise, with the seeds a rerun would need for 80% power.
//!
//! A relative claim ("A is greater than B") compares paired seeds. With a claimed
//! `difference` it is checked like an absolute claim on the paired differences. Without
//! one, `margin` is the smallest effect of interest: NOT REPRODUCED when the effect in the
//! claimed direction is shown to be below the margin (absent or reversed), else
//! REPRODUCED when it is shown to be above zero, else INCONCLUSIVE.
//!
//! A bound claim ("the metric is below b", e.g. a plateau: "gains less than 0.01 from
//! epoch 40 on") is about the recipe's mean: REPRODUCED when the one-sided (1 - α) bound
//! of the mean lies on the claimed side of b, NOT REPRODUCED when the one on the other
//! side does, INCONCLUSIVE otherwise. At a true mean of exactly b each happens at most α
//! of the time; the margin only scales the plots.

use super::claims::Relation;
use crate::metrics::stats::{student_t_cdf, student_t_quantile};
use serde::{Deserialize, Serialize};

/// The power a "seeds needed" estimate aims for.
pub const POWER: f64 = 0.8;

/// The most seeds a "seeds needed" estimate will name.
const MAX_SEEDS: usize = 10_000;

/// Mean and standard deviation over the seeds kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Seeds kept.
    pub n: usize,
    /// Their mean.
    pub mean: f64,
    /// Sample standard deviation (n - 1); 0 for one value.
    pub std: f64,
}

impl Summary {
    /// The count, mean and sample standard deviation of `values`.
    pub fn of(values: &[f64]) -> Self {
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n.max(1) as f64;
        let std = if n < 2 {
            0.0
        } else {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        };
        Self { n, mean, std }
    }
}

/// The claim's side of an equivalence comparison.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Claimed {
    /// The claimed value.
    pub value: f64,
    /// Runs behind the value (1: a single run, as reports usually mean).
    pub runs: usize,
    /// Their standard deviation, when `runs` > 1.
    pub spread: Option<f64>,
}

/// What is being shown about a claim.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "test", rename_all = "snake_case")]
pub enum Question {
    /// Is the measured value equivalent to the claimed one within ±margin?
    Equivalence {
        /// The claim's value and the runs behind it.
        claimed: Claimed,
    },
    /// Is there an effect of at least `margin` in the claimed direction?
    Effect {
        /// The claimed direction.
        relation: Relation,
    },
    /// Is one evaluation of a released checkpoint equivalent to the claimed value within
    /// ±margin? The sample is the test images (a binomial proportion), not seeds.
    TestSet {
        /// The claimed value.
        claimed: f64,
        /// The test images evaluated.
        images: u64,
    },
    /// Is the mean on the claimed side of `bound`?
    Bound {
        /// The claimed side.
        relation: Relation,
        /// The constant.
        bound: f64,
    },
}

/// What the seeds say about one claim, before any multiplicity adjustment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// What is being shown.
    pub question: Question,
    /// The equivalence margin or smallest effect of interest.
    pub margin: f64,
    /// Equivalence: measured mean minus claimed value. Effect: the mean paired difference
    /// signed so that the claimed direction is positive. Bound: the mean's distance from
    /// the bound, positive on the claimed side.
    pub estimate: f64,
    /// Its standard error.
    pub se: f64,
    /// Degrees of freedom of the t distribution behind the tests.
    pub df: f64,
    /// Seeds kept, and the standard deviation used (after the floor).
    pub n: usize,
    /// The standard deviation used.
    pub sd: f64,
    /// Whether the zero-variance floor replaced the sample's standard deviation.
    pub sd_floored: bool,
    /// p-value of the test whose rejection gives REPRODUCED.
    pub p_reproduced: f64,
    /// p-value of the test whose rejection gives NOT REPRODUCED.
    pub p_not_reproduced: f64,
}

/// How a file's claims share the error budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Adjust {
    /// Holm's step-down: the chance of any wrong decisive verdict in the file is at most α.
    #[default]
    Holm,
    /// Each claim at α on its own.
    #[serde(rename = "none")]
    #[cfg_attr(feature = "cli", value(name = "none"))]
    Unadjusted,
}

/// How an audit decides: the level of each decision and how the file's claims share it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The family's α.
    pub alpha: f64,
    /// How the claims share it.
    pub adjust: Adjust,
}

impl Default for Decision {
    fn default() -> Self {
        Self {
            alpha: 0.05,
            adjust: Adjust::Holm,
        }
    }
}

/// An audit's finding about one claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    /// The seeds show the claim at its level.
    Reproduced {
        /// The test and its figures, in a sentence.
        why: String,
    },
    /// The seeds show the claim false at its level.
    NotReproduced {
        /// The test and its figures, in a sentence.
        why: String,
    },
    /// The seeds show neither.
    Inconclusive {
        /// The tests and their figures, in a sentence.
        why: String,
        /// About how many seeds would settle it, when a number can be named.
        seeds_needed: Option<usize>,
    },
    /// The claim could not be judged here.
    NotRun {
        /// What it needs, or what went wrong.
        why: String,
    },
    /// `audit --rehearse`: the claim's whole path ran at smoke scale (its numbers mean
    /// nothing).
    Rehearsed {
        /// What ran.
        why: String,
    },
    /// `audit --rehearse`: a step of the claim's path failed; `why` names it.
    Failed {
        /// The step that failed, and how.
        why: String,
    },
}

impl Verdict {
    /// The verdict's name as printed.
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Reproduced { .. } => "REPRODUCED",
            Verdict::NotReproduced { .. } => "NOT REPRODUCED",
            Verdict::Inconclusive { .. } => "INCONCLUSIVE",
            Verdict::NotRun { .. } => "NOT RUN",
            Verdict::Rehearsed { .. } => "REHEARSED",
            Verdict::Failed { .. } => "FAILED",
        }
    }

    /// The reason given.
    pub fn why(&self) -> &str {
        match self {
            Verdict::Reproduced { why }
            | Verdict::NotReproduced { why }
            | Verdict::NotRun { why }
            | Verdict::Rehearsed { why }
            | Verdict::Failed { why } => why,
            Verdict::Inconclusive { why, .. } => why,
        }
    }
}

/// Upper tail of Student's t: P(T > t).
fn upper(t: f64, df: f64) -> f64 {
    1.0 - student_t_cdf(t, df)
}

/// Standard error and degrees of freedom of (measured mean - claimed value) for `n` seeds
/// with standard deviation `sd`: `sd·sqrt(1 + 1/n)` on n - 1 df for a single-run claim
/// (the claim is one more draw), Welch's for a claim of `runs` runs with `spread`.
fn equivalence_se(n: usize, sd: f64, claimed: &Claimed) -> (f64, f64) {
    let n_f = n as f64;
    match (claimed.runs, claimed.spread) {
        (m, Some(spread)) if m > 1 => {
            let (a, b) = (sd * sd / n_f, spread * spread / m as f64);
            let se = (a + b).sqrt();
            let df = if a + b == 0.0 {
                (n + m - 2) as f64
            } else {
                (a + b).powi(2) / (a * a / (n_f - 1.0) + b * b / (m as f64 - 1.0))
            };
            (se, df)
        }
        _ => (sd * (1.0 + 1.0 / n_f).sqrt(), n_f - 1.0),
    }
}

/// Evidence that `measured` seeds (at least 2) reproduce `claimed` within ±`margin`.
/// `sd_floor` replaces a smaller sample standard deviation (seeds that all agree still
/// carry the test set's sampling noise).
pub fn equivalence(measured: &[f64], claimed: Claimed, margin: f64, sd_floor: f64) -> Evidence {
    let s = Summary::of(measured);
    let sd = s.std.max(sd_floor);
    let (se, df) = equivalence_se(s.n, sd, &claimed);
    let d = s.mean - claimed.value;
    let (p_reproduced, p_not_reproduced) = equivalence_p_values(d, margin, se, df);
    Evidence {
        question: Question::Equivalence { claimed },
        margin,
        estimate: d,
        se,
        df,
        n: s.n,
        sd,
        sd_floored: s.std < sd_floor,
        p_reproduced,
        p_not_reproduced,
    }
}

/// The p-values of an equivalence within ±`margin` of a difference `d` with standard
/// error `se` on `df` degrees of freedom: (REPRODUCED's, NOT REPRODUCED's).
fn equivalence_p_values(d: f64, margin: f64, se: f64, df: f64) -> (f64, f64) {
    // TOST: reject "d <= -margin" and "d >= margin" both.
    let reproduced = upper((d + margin) / se, df).max(upper((margin - d) / se, df));
    // Outside: reject "d <= margin" or "d >= -margin", each at α/2 (Bonferroni over the
    // two sides, so the rate stays at most α even when the margin is tiny).
    let not_reproduced =
        (2.0 * upper((d - margin) / se, df).min(upper((-margin - d) / se, df))).min(1.0);
    (reproduced, not_reproduced)
}

/// Evidence of an effect in the direction `relation` claims, from paired per-seed
/// differences (this run minus the other), with `margin` the smallest effect of interest.
pub fn effect(differences: &[f64], relation: Relation, margin: f64, sd_floor: f64) -> Evidence {
    let s = Summary::of(differences);
    let sd = s.std.max(sd_floor);
    let sign = if relation == Relation::Greater {
        1.0
    } else {
        -1.0
    };
    let e = sign * s.mean;
    let se = sd / (s.n as f64).sqrt();
    let df = s.n as f64 - 1.0;
    Evidence {
        question: Question::Effect { relation },
        margin,
        estimate: e,
        se,
        df,
        n: s.n,
        sd,
        sd_floored: s.std < sd_floor,
        // Reject "effect <= 0".
        p_reproduced: upper(e / se, df),
        // Reject "effect >= margin".
        p_not_reproduced: upper((margin - e) / se, df),
    }
}

/// Evidence that the mean of `values` lies on the `relation` side of `bound` (greater or
/// less), with `margin` the plots' unit.
pub fn bound(
    values: &[f64],
    relation: Relation,
    bound: f64,
    margin: f64,
    sd_floor: f64,
) -> Evidence {
    let s = Summary::of(values);
    let sd = s.std.max(sd_floor);
    let e = match relation {
        Relation::Less => bound - s.mean,
        _ => s.mean - bound,
    };
    let se = sd / (s.n as f64).sqrt();
    let df = s.n as f64 - 1.0;
    Evidence {
        question: Question::Bound { relation, bound },
        margin,
        estimate: e,
        se,
        df,
        n: s.n,
        sd,
        sd_floored: s.std < sd_floor,
        // Reject "the mean is on the other side of the bound (or on it)".
        p_reproduced: upper(e / se, df),
        // Reject "the mean is on the claimed side (or on it)".
        p_not_reproduced: upper(-e / se, df),
    }
}

/// Evidence that a checkpoint's `accuracy` over `images` test images reproduces `claimed`
/// within ±`margin`: the same two tests as [`equivalence`], its standard error the
/// binomial one, sqrt(p(1 - p)/n) with p kept at least 1/n from 0 and 1, on n - 1 degrees
/// of freedom (the normal, for any real test set).
pub fn test_set_equivalence(accuracy: f64, images: u64, claimed: f64, margin: f64) -> Evidence {
    let n = images.max(2) as f64;
    let p = accuracy.clamp(1.0 / n, 1.0 - 1.0 / n);
    let sd = (p * (1.0 - p)).sqrt();
    let (se, df) = (sd / n.sqrt(), n - 1.0);
    let d = accuracy - claimed;
    let (p_reproduced, p_not_reproduced) = equivalence_p_values(d, margin, se, df);
    Evidence {
        question: Question::TestSet { claimed, images },
        margin,
        estimate: d,
        se,
        df,
        n: images as usize,
        sd,
        sd_floored: false,
        p_reproduced,
        p_not_reproduced,
    }
}

/// The level each claim is decided at: α for every claim without adjustment; with Holm,
/// claims sorted by their smaller p-value get α/m, α/(m-1), ... until one fails, and every
/// later one gets that failing level (so none of them is decisive).
pub fn levels(evidence: &[Option<&Evidence>], alpha: f64, adjust: Adjust) -> Vec<f64> {
    let mut levels = vec![alpha; evidence.len()];
    if adjust == Adjust::Unadjusted {
        return levels;
    }
    let mut order: Vec<(usize, f64)> = evidence
        .iter()
        .enumerate()
        .filter_map(|(i, e)| e.map(|e| (i, e.p_reproduced.min(e.p_not_reproduced))))
        .collect();
    order.sort_by(|a, b| a.1.total_cmp(&b.1));
    let m = order.len();
    let mut stopped: Option<f64> = None;
    for (rank, (i, p)) in order.into_iter().enumerate() {
        let level = stopped.unwrap_or(alpha / (m - rank) as f64);
        if stopped.is_none() && p > level {
            stopped = Some(level);
        }
        levels[i] = level;
    }
    levels
}

/// The (1 - 2·level) interval of the estimate: the interval both one-sided tests read.
pub fn interval(evidence: &Evidence, level: f64) -> [f64; 2] {
    interval_to(evidence, 1.0 - level)
}

/// The estimate ± the t quantile at probability `upper` times its standard error.
fn interval_to(evidence: &Evidence, upper: f64) -> [f64; 2] {
    let half = student_t_quantile(upper, evidence.df) * evidence.se;
    [evidence.estimate - half, evidence.estimate + half]
}

/// Which way `evidence` decides at `level`, without the sentences (what simulations need).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The REPRODUCED side's test rejected.
    Reproduced,
    /// The NOT REPRODUCED side's test rejected.
    NotReproduced,
    /// Neither rejected.
    Inconclusive,
}

/// The decision rule: NOT REPRODUCED first (for an effect, "shown below the smallest
/// effect of interest" wins over "shown above zero"), then REPRODUCED.
pub fn outcome(evidence: &Evidence, level: f64) -> Outcome {
    if evidence.p_not_reproduced <= level {
        Outcome::NotReproduced
    } else if evidence.p_reproduced <= level {
        Outcome::Reproduced
    } else {
        Outcome::Inconclusive
    }
}

/// Whether the question tests equivalence, whose NOT REPRODUCED side tests each side of
/// the margin at level/2 (so it reads the (1 - level) interval).
fn is_equivalence(question: Question) -> bool {
    matches!(
        question,
        Question::Equivalence { .. } | Question::TestSet { .. }
    )
}

/// The central interval of the estimate at `confidence`.
pub fn interval_at(evidence: &Evidence, confidence: f64) -> [f64; 2] {
    interval_to(evidence, 0.5 + confidence / 2.0)
}

/// The interval a verdict at `level` reads, with its confidence: REPRODUCED the
/// (1 - 2·level) interval (both one-sided tests at level); NOT REPRODUCED, and
/// INCONCLUSIVE, of an equivalence the (1 - level) interval (each side at level/2), of an
/// effect or a bound the (1 - 2·level) one (one-sided tests). An INCONCLUSIVE interval is
/// then never wholly inside the margin nor wholly outside it, as the page's legend reads.
pub fn shown_interval(evidence: &Evidence, level: f64, decided: Outcome) -> ([f64; 2], f64) {
    let confidence = match (decided, is_equivalence(evidence.question)) {
        (Outcome::Reproduced, _) | (_, false) => 1.0 - 2.0 * level,
        (_, true) => 1.0 - level,
    };
    (interval_at(evidence, confidence), confidence)
}

/// The verdict `evidence` supports at `level`, each sentence naming the interval it read,
/// the margin and the level.
pub fn decide(evidence: &Evidence, level: f64) -> Verdict {
    let decided = outcome(evidence, level);
    let text = measured(evidence, level, decided);
    if decided == Outcome::NotReproduced {
        let reason = match (evidence.question, evidence.estimate) {
            (q, _) if is_equivalence(q) => "a difference beyond the margin is shown",
            (Question::Bound { .. }, _) => "the mean is shown on the other side of the bound",
            (_, e) if e < 0.0 => "the effect is reversed or absent",
            _ => "the effect is shown to be smaller than the smallest effect of interest",
        };
        return Verdict::NotReproduced {
            why: format!("{text}: {reason}"),
        };
    }
    if decided == Outcome::Reproduced {
        let reason = match evidence.question {
            q if is_equivalence(q) => "equivalence within the margin is shown",
            Question::Bound { .. } => "the mean is shown on the claimed side of the bound",
            _ => "the effect is shown in the claimed direction",
        };
        return Verdict::Reproduced {
            why: format!("{text}: {reason}"),
        };
    }
    let seeds_needed = seeds_needed(evidence, level);
    let settle = match (evidence.question, seeds_needed) {
        (Question::TestSet { .. }, _) => {
            "; the checkpoint was evaluated once, on every test image: only a larger test set (or a wider margin) would settle it".to_owned()
        }
        (_, seeds) => settle_with(seeds, evidence.sd),
    };
    Verdict::Inconclusive {
        why: format!(
            "{text}: neither equivalence nor a difference is shown ({}){settle}",
            undecided(evidence, level)
        ),
        seeds_needed,
    }
}

/// Why neither test decides, in one clause: for an equivalence, the (1 - 2·level) interval
/// is not inside the margin and the (1 - level) one not outside it, and what that comes
/// from (too few samples for a difference of this size, or an estimate too near the edge).
fn undecided(evidence: &Evidence, level: f64) -> String {
    let (n, m) = (evidence.n, evidence.margin);
    let df = trimmed((evidence.df * 10.0).round() / 10.0);
    let samples = match evidence.question {
        Question::TestSet { .. } => "test images",
        _ if n == 1 => "seed",
        _ => "seeds",
    };
    if !is_equivalence(evidence.question) {
        let [lo, hi] = interval(evidence, level);
        return format!(
            "the {}% interval {lo:+.4} to {hi:+.4} is on neither side: {n} {samples}, t({}, {df}) = {:.2}",
            percent(1.0 - 2.0 * level),
            trimmed(1.0 - level),
            student_t_quantile(1.0 - level, evidence.df)
        );
    }
    let [a, b] = interval(evidence, level);
    let [c, d] = interval_at(evidence, 1.0 - level);
    let cause = match evidence.estimate.abs() > m {
        true => "too few for a difference this size",
        false => "the estimate is inside the margin, but too near its edge",
    };
    format!(
        "the {}% interval {a:+.4} to {b:+.4} is not inside ±{m}, the {}% interval {c:+.4} to {d:+.4} not outside it; {cause}: {n} {samples}, t({}, {df}) = {:.2}",
        percent(1.0 - 2.0 * level),
        percent(1.0 - level),
        trimmed(1.0 - level / 2.0),
        student_t_quantile(1.0 - level / 2.0, evidence.df)
    )
}

/// `x` to at most 4 decimals, without trailing zeros (0.975, 0.9917).
fn trimmed(x: f64) -> String {
    let text = format!("{x:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A confidence in percent to at most 2 decimals, without trailing zeros (95, 96.67).
fn percent(confidence: f64) -> String {
    let text = format!("{:.2}", 100.0 * confidence);
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// How many seeds would settle an open claim, in a sentence.
fn settle_with(seeds_needed: Option<usize>, sd: f64) -> String {
    match seeds_needed {
        Some(n) => format!(
            "; about {n} seeds would settle it with {:.0}% power, if the spread stays at the observed sd {sd:.4}",
            POWER * 100.0,
        ),
        None => format!(
            "; no number of seeds settles it at the observed sd {sd:.4}: the claim's own runs carry that noise too (more runs behind the claim, or a wider margin, would)"
        ),
    }
}

/// What was measured: the estimate, the interval the verdict read, and the margin or bound.
fn measured(evidence: &Evidence, level: f64, decided: Outcome) -> String {
    let ([lo, hi], confidence) = shown_interval(evidence, level, decided);
    let m = evidence.margin;
    let conf = format!("{:.2}%", 100.0 * confidence);
    let floored = if evidence.sd_floored {
        format!(" (sd floored at {:.4})", evidence.sd)
    } else {
        String::new()
    };
    match evidence.question {
        Question::Equivalence { claimed } => format!(
            "measured minus claimed {:+.4}, {conf} interval {lo:+.4} to {hi:+.4}{floored}, margin ±{m} (claim: {} run{})",
            evidence.estimate,
            claimed.runs,
            if claimed.runs == 1 { "" } else { "s" }
        ),
        Question::TestSet { images, .. } => format!(
            "the checkpoint's accuracy minus claimed {:+.4}, {conf} interval {lo:+.4} to {hi:+.4} over its {images} test images (binomial: the sample is the test images, not seeds), margin ±{m}",
            evidence.estimate
        ),
        Question::Effect { .. } => format!(
            "effect in the claimed direction {:+.4}, {conf} interval {lo:+.4} to {hi:+.4}{floored}, smallest effect of interest {m}",
            evidence.estimate
        ),
        Question::Bound { relation, bound } => format!(
            "mean {} the bound {bound} by {:+.4}, {conf} interval {lo:+.4} to {hi:+.4}{floored}",
            if relation == Relation::Less {
                "below"
            } else {
                "above"
            },
            evidence.estimate
        ),
    }
}

/// The fewest seeds (more than now) with which a rerun would reach a decisive verdict
/// with probability [`POWER`], taking the observed estimate and sd as the truth and using
/// t quantiles at that many seeds' degrees of freedom. None when no count up to 10,000
/// does (a single-run claim's own noise never shrinks).
pub fn seeds_needed(evidence: &Evidence, level: f64) -> Option<usize> {
    let (e, m, sd) = (evidence.estimate, evidence.margin, evidence.sd);
    // The chance that a test rejects when the statistic is shifted by `shift` standard
    // errors beyond its critical value (a shifted t, close to the noncentral one).
    if let Question::TestSet { .. } = evidence.question {
        return None;
    }
    let reject = |shift: f64, critical: f64, df: f64| student_t_cdf(shift - critical, df);
    let reach = |n: usize| {
        let (se, df) = match evidence.question {
            Question::Equivalence { claimed } => equivalence_se(n, sd, &claimed),
            Question::Effect { .. } | Question::Bound { .. } | Question::TestSet { .. } => {
                (sd / (n as f64).sqrt(), n as f64 - 1.0)
            }
        };
        let one_sided = student_t_quantile(1.0 - level, df);
        let power = match evidence.question {
            // Inside the margin: both one-sided tests of TOST must reject.
            Question::Equivalence { .. } if e.abs() < m => {
                reject((m - e.abs()) / se, one_sided, df)
                    + reject((m + e.abs()) / se, one_sided, df)
                    - 1.0
            }
            // Outside: show the difference on the nearer side at α/2.
            Question::Equivalence { .. } | Question::TestSet { .. } => reject(
                (e.abs() - m) / se,
                student_t_quantile(1.0 - level / 2.0, df),
                df,
            ),
            // Show the effect above zero, or below the margin, whichever is likelier.
            Question::Effect { .. } => {
                reject(e / se, one_sided, df).max(reject((m - e) / se, one_sided, df))
            }
            // Show the mean on whichever side of the bound it lies.
            Question::Bound { .. } => reject(e.abs() / se, one_sided, df),
        };
        power >= POWER
    };
    // The condition only gets easier with more seeds: double, then bisect.
    let mut hi = evidence.n.max(1) + 1;
    while !reach(hi) {
        if hi >= MAX_SEEDS {
            return None;
        }
        hi = (hi * 2).min(MAX_SEEDS);
    }
    let mut lo = hi / 2;
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if reach(mid) { hi = mid } else { lo = mid }
    }
    Some(hi.max(evidence.n + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(value: f64) -> Claimed {
        Claimed {
            value,
            runs: 1,
            spread: None,
        }
    }

    #[test]
    fn equivalent_different_and_undecided() {
        let tight = [0.600, 0.602, 0.598, 0.601, 0.599];
        let e = equivalence(&tight, single(0.60), 0.02, 0.0);
        assert_eq!(decide(&e, 0.05).label(), "REPRODUCED");
        let e = equivalence(&tight, single(0.70), 0.02, 0.0);
        let v = decide(&e, 0.05);
        assert_eq!(v.label(), "NOT REPRODUCED");
        assert!(v.why().contains("margin ±0.02"), "{}", v.why());
        let wide = [0.50, 0.70, 0.55, 0.66];
        let v = decide(&equivalence(&wide, single(0.6), 0.02, 0.0), 0.05);
        assert_eq!(v.label(), "INCONCLUSIVE");
    }

    #[test]
    fn identical_seeds_use_the_floor_instead_of_a_zero_width_interval() {
        let same = [0.5; 5];
        let e = equivalence(&same, single(0.51), 0.05, 0.01);
        assert!(e.sd_floored && e.sd == 0.01);
        assert_eq!(decide(&e, 0.05).label(), "REPRODUCED");
    }

    #[test]
    fn a_single_run_claim_needs_a_wide_enough_margin_whatever_the_seeds() {
        // sd 0.02, margin 0.02: even infinitely many seeds leave the claim's own noise.
        let e = equivalence(
            &[0.58, 0.60, 0.62, 0.60, 0.59, 0.61],
            single(0.60),
            0.02,
            0.0,
        );
        assert_eq!(seeds_needed(&e, 0.05), None);
    }

    #[test]
    fn holm_gives_the_smallest_p_value_alpha_over_m_and_stops_at_the_first_failure() {
        let make = |p: f64| Evidence {
            question: Question::Effect {
                relation: Relation::Greater,
            },
            margin: 0.1,
            estimate: 0.0,
            se: 1.0,
            df: 4.0,
            n: 5,
            sd: 1.0,
            sd_floored: false,
            p_reproduced: p,
            p_not_reproduced: 1.0,
        };
        let ev = [make(0.04), make(0.001), make(0.03)];
        let refs: Vec<Option<&Evidence>> = ev.iter().map(Some).collect();
        let l = levels(&refs, 0.05, Adjust::Holm);
        assert!((l[1] - 0.05 / 3.0).abs() < 1e-12);
        // 0.03 > 0.05/2: Holm stops there, and 0.04 gets the same failing level.
        assert!((l[2] - 0.025).abs() < 1e-12 && (l[0] - 0.025).abs() < 1e-12);
        assert_eq!(levels(&refs, 0.05, Adjust::Unadjusted), vec![0.05; 3]);
    }

    #[test]
    fn effects_reversed_absent_and_shown() {
        let shown = effect(&[0.05, 0.06, 0.04, 0.05], Relation::Greater, 0.01, 0.0);
        assert_eq!(decide(&shown, 0.05).label(), "REPRODUCED");
        let reversed = effect(&[-0.05, -0.06, -0.04, -0.05], Relation::Greater, 0.01, 0.0);
        assert_eq!(decide(&reversed, 0.05).label(), "NOT REPRODUCED");
        let absent = effect(
            &[0.001, -0.001, 0.0005, -0.0005, 0.0],
            Relation::Less,
            0.02,
            0.0,
        );
        let v = decide(&absent, 0.05);
        assert_eq!(v.label(), "NOT REPRODUCED", "{}", v.why());
    }
}
