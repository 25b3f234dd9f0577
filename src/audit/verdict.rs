//! Statistics over seeds and the verdict they support, as pure functions.

use super::claims::{Claim, Relation};
use crate::metrics::stats::student_t_quantile;
use serde::{Deserialize, Serialize};

/// Mean, standard deviation and 95% t interval of values over seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub n: usize,
    pub mean: f64,
    /// Sample standard deviation (n - 1); 0 for one value.
    pub std: f64,
    /// 95% t interval of the mean; the whole line for fewer than two values.
    pub ci95: [f64; 2],
}

impl Summary {
    pub fn of(values: &[f64]) -> Self {
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n.max(1) as f64;
        if n < 2 {
            return Self {
                n,
                mean,
                std: 0.0,
                ci95: [f64::NEG_INFINITY, f64::INFINITY],
            };
        }
        let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
        let half = student_t_quantile(0.975, (n - 1) as f64) * std / (n as f64).sqrt();
        Self {
            n,
            mean,
            std,
            ci95: [mean - half, mean + half],
        }
    }

    fn half_width(&self) -> f64 {
        (self.ci95[1] - self.ci95[0]) / 2.0
    }
}

/// An audit's finding about one claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    Reproduced {
        why: String,
    },
    NotReproduced {
        why: String,
    },
    Inconclusive {
        why: String,
        seeds_needed: Option<usize>,
    },
    NotRun {
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
        }
    }

    /// The reason given.
    pub fn why(&self) -> &str {
        match self {
            Verdict::Reproduced { why }
            | Verdict::NotReproduced { why }
            | Verdict::NotRun { why } => why,
            Verdict::Inconclusive { why, .. } => why,
        }
    }
}

/// Seeds that would bring the 95% half-width of `summary` down to `target`.
fn seeds_for(summary: &Summary, target: f64) -> Option<usize> {
    if target <= 0.0 || summary.std == 0.0 {
        return None;
    }
    // t of about 2 for the larger sample the answer implies.
    Some(
        ((2.0 * summary.std / target).powi(2))
            .ceil()
            .max(summary.n as f64 + 1.0) as usize,
    )
}

fn settle(seeds: Option<usize>) -> String {
    seeds.map_or(String::new(), |n| {
        format!("; about {n} seeds would settle it")
    })
}

/// The verdict on an absolute claim of `value` given the measured values.
pub fn absolute(claim: &Claim, value: f64, measured: &Summary) -> Verdict {
    if measured.n < 2 {
        return Verdict::Inconclusive {
            why: "one seed gives no interval; run at least 2 (--seeds)".into(),
            seeds_needed: Some(2),
        };
    }
    let [lo, hi] = [
        measured.ci95[0] - claim.tolerance,
        measured.ci95[1] + claim.tolerance,
    ];
    if value < lo || value > hi {
        let side = if measured.mean < value {
            "below"
        } else {
            "above"
        };
        let by = (measured.mean - value).abs();
        return Verdict::NotReproduced {
            why: format!(
                "measured {:.4} is {side} the claimed {value:.4} by {by:.4}; the 95% interval {lo:.4} to {hi:.4} excludes it",
                measured.mean
            ),
        };
    }
    if measured.half_width() > claim.precision {
        let seeds_needed = seeds_for(measured, claim.precision);
        return Verdict::Inconclusive {
            why: format!(
                "the claimed {value:.4} lies in the 95% interval {lo:.4} to {hi:.4}, which is wider than +-{}{}",
                claim.precision,
                settle(seeds_needed)
            ),
            seeds_needed,
        };
    }
    Verdict::Reproduced {
        why: format!("the claimed {value:.4} lies in the 95% interval {lo:.4} to {hi:.4}"),
    }
}

/// The verdict on a relative claim, from the per-seed differences (this run minus the other).
pub fn relative(relation: Relation, differences: &Summary) -> Verdict {
    if differences.n < 2 {
        return Verdict::Inconclusive {
            why: "one seed gives no interval; run at least 2 (--seeds)".into(),
            seeds_needed: Some(2),
        };
    }
    let [lo, hi] = differences.ci95;
    let sign = if relation == Relation::Greater {
        1.0
    } else {
        -1.0
    };
    let (holds, fails) = if sign > 0.0 {
        (lo > 0.0, hi < 0.0)
    } else {
        (hi < 0.0, lo > 0.0)
    };
    let text = format!(
        "difference {:.4}, 95% interval {lo:.4} to {hi:.4}",
        differences.mean
    );
    if holds {
        Verdict::Reproduced { why: text }
    } else if fails {
        Verdict::NotReproduced {
            why: format!("{text}: the opposite holds"),
        }
    } else {
        let seeds_needed = seeds_for(differences, differences.mean.abs());
        Verdict::Inconclusive {
            why: format!("{text} includes 0{}", settle(seeds_needed)),
            seeds_needed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::claims::ParsedFile;

    fn claim(value: f64) -> Claim {
        let text = format!(
            "[[claim]]\nid = \"c\"\nsentence = \"s\"\nrun = \"quickstart\"\nmetric = \"accuracy\"\nvalue = {value}\n"
        );
        ParsedFile::parse(&text).unwrap().claims.remove(0).unwrap()
    }

    #[test]
    fn a_claim_inside_below_and_above_the_interval() {
        let measured = Summary::of(&[0.60, 0.61, 0.62, 0.61, 0.60]);
        assert_eq!(
            absolute(&claim(0.61), 0.61, &measured).label(),
            "REPRODUCED"
        );
        let below = absolute(&claim(0.70), 0.70, &measured);
        assert_eq!(below.label(), "NOT REPRODUCED");
        assert!(
            below.why().contains("below the claimed 0.7000 by 0.0920"),
            "{}",
            below.why()
        );
        let above = absolute(&claim(0.50), 0.50, &measured);
        assert!(above.why().contains("above"), "{}", above.why());
    }

    #[test]
    fn too_few_or_too_scattered_seeds_are_inconclusive() {
        assert!(matches!(
            absolute(&claim(0.6), 0.6, &Summary::of(&[0.6])),
            Verdict::Inconclusive {
                seeds_needed: Some(2),
                ..
            }
        ));
        let wide = Summary::of(&[0.50, 0.70, 0.55, 0.66]);
        match absolute(&claim(0.6), 0.6, &wide) {
            Verdict::Inconclusive {
                seeds_needed: Some(n),
                why,
            } => {
                assert!(n > 4, "{n}");
                assert!(
                    why.contains(&format!("about {n} seeds would settle it")),
                    "{why}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn relative_claims() {
        assert_eq!(
            relative(Relation::Greater, &Summary::of(&[0.05, 0.06, 0.04])).label(),
            "REPRODUCED"
        );
        assert_eq!(
            relative(Relation::Greater, &Summary::of(&[-0.05, -0.06, -0.04])).label(),
            "NOT REPRODUCED"
        );
        assert_eq!(
            relative(Relation::Less, &Summary::of(&[0.01, -0.02, 0.03])).label(),
            "INCONCLUSIVE"
        );
    }

    #[test]
    fn the_t_interval_matches_a_hand_computation() {
        let s = Summary::of(&[1.0, 2.0, 3.0]);
        // mean 2, sd 1, t(0.975, 2) = 4.302653, half = 4.302653 / sqrt(3)
        assert!((s.ci95[1] - (2.0 + 4.302_653 / 3f64.sqrt())).abs() < 1e-5);
    }
}
