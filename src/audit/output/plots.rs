//! The audit report's plots as inline SVG, written with maud (every text escaped by
//! construction): the forest plot of all claims, a strip plot of one claim's seeds, and a
//! run group's learning curves overlaid.

use crate::audit::auditor::ClaimResult;
use crate::audit::claims::{Form, Relation};
use crate::audit::verdict::{Question, Verdict};
use crate::manifest::EpochRecord;
use maud::{Markup, html};

/// The colour each verdict is drawn in.
pub fn colour(v: &Verdict) -> &'static str {
    match v {
        Verdict::Reproduced { .. } => "#2e7d32",
        Verdict::NotReproduced { .. } => "#c62828",
        Verdict::Inconclusive { .. } => "#ef8f00",
        Verdict::NotRun { .. } => "#9e9e9e",
        Verdict::Rehearsed { .. } => "#1565c0",
        Verdict::Failed { .. } => "#6a1b9a",
    }
}

/// A linear map from `[lo, hi]` onto `[x0, x1]`, values outside clamped.
#[derive(Clone, Copy)]
struct Scale {
    lo: f64,
    hi: f64,
    x0: f64,
    x1: f64,
}

impl Scale {
    /// A scale covering `values` (finite ones), padded by 5% and never of zero width.
    fn covering(values: impl Iterator<Item = f64>, x0: f64, x1: f64) -> Self {
        let (lo, hi) = values
            .filter(|v| v.is_finite())
            .fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(v), h.max(v)));
        let (lo, hi) = if lo > hi { (0.0, 1.0) } else { (lo, hi) };
        let pad = ((hi - lo) * 0.05).max(1e-6);
        Self {
            lo: lo - pad,
            hi: hi + pad,
            x0,
            x1,
        }
    }

    fn at(&self, v: f64) -> f64 {
        let t = ((v - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0);
        self.x0 + t * (self.x1 - self.x0)
    }
}

const WIDTH: f64 = 1200.0;
const LABEL: f64 = 330.0;
const PLOT: f64 = 720.0;
const ROW: f64 = 26.0;

/// One row per claim on a common axis in units of each claim's margin: the margin band,
/// the interval and the estimate; a grey bar is the claim's own 95% interval when it gives
/// runs and spread.
pub fn forest(results: &[ClaimResult]) -> Markup {
    let span = results
        .iter()
        .filter_map(|r| Some((r.evidence.as_ref()?, r.interval?)))
        .flat_map(|(e, [lo, hi])| [lo.abs() / e.margin, hi.abs() / e.margin])
        .filter(|u| u.is_finite())
        .fold(2.0_f64, f64::max)
        .ceil()
        .min(20.0);
    let scale = Scale {
        lo: -span,
        hi: span,
        x0: LABEL,
        x1: LABEL + PLOT,
    };
    let height = ROW * (results.len() as f64 + 2.5);
    let axis_y = ROW * (results.len() as f64 + 0.5);
    let ticks = [
        -span,
        -(span / 2.0).round(),
        -1.0,
        0.0,
        1.0,
        (span / 2.0).round(),
        span,
    ];
    html! {
        svg xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {WIDTH} {height}")) width="100%" font-family="sans-serif" font-size="13" role="img" {
            @for u in ticks {
                line x1=(scale.at(u)) x2=(scale.at(u)) y1="0" y2=(axis_y) stroke="#ddd" {}
                text x=(scale.at(u)) y=(axis_y + 16.0) text-anchor="middle" { (u) }
            }
            text x=(scale.at(0.0)) y=(axis_y + 34.0) text-anchor="middle" { "difference from the claim (effect, for a claimed direction), in margins" }
            @for (i, r) in results.iter().enumerate() {
                (forest_row(r, ROW * (i as f64 + 0.5), scale, span))
            }
        }
    }
}

fn forest_row(r: &ClaimResult, y: f64, scale: Scale, span: f64) -> Markup {
    let c = colour(&r.verdict);
    let label = crate::text::shorten(&r.id, 44);
    let bar = r.evidence.as_ref().zip(r.interval).map(|(e, [lo, hi])| {
        let m = e.margin;
        let (band_lo, band_hi) = match e.question {
            Question::Equivalence { .. } | Question::TestSet { .. } => (-1.0, 1.0),
            Question::Effect { .. } => (-span, 1.0),
            Question::Bound { .. } => (-span, 0.0),
        };
        let own = match e.question {
            Question::Equivalence { claimed } if claimed.runs > 1 => claimed
                .spread
                .map(|s| 1.96 * s / (claimed.runs as f64).sqrt() / m),
            _ => None,
        };
        (band_lo, band_hi, lo / m, hi / m, e.estimate / m, own)
    });
    html! {
        text x="4" y=(y + 4.0) { title { (r.id) } (label) }
        text x=(LABEL + PLOT + 10.0) y=(y + 4.0) fill=(c) { (r.verdict.label()) }
        @if let Some((band_lo, band_hi, lo, hi, estimate, own)) = bar {
            rect x=(scale.at(band_lo)) y=(y - ROW * 0.35) width=(scale.at(band_hi) - scale.at(band_lo)) height=(ROW * 0.7) fill="#e8eaf6" {}
            @if let Some(half) = own {
                line x1=(scale.at(-half)) x2=(scale.at(half)) y1=(y + 7.0) y2=(y + 7.0) stroke="#555" stroke-width="5" stroke-opacity="0.35" {}
            }
            line x1=(scale.at(lo)) x2=(scale.at(hi)) y1=(y) y2=(y) stroke=(c) stroke-width="2" {}
            circle cx=(scale.at(estimate)) cy=(y) r="4" fill=(c) {}
        }
    }
}

/// What a claim's strip plot draws, in the units of the quantity its verdict reads (the
/// metric, or the paired differences): the seeds, the reference (the claimed value, 0 for
/// an effect, the bound), the band of the margin and the interval.
struct Strip {
    seeds: Vec<f64>,
    reference: f64,
    band: Option<(f64, f64)>,
    interval: Option<(f64, f64)>,
    what: &'static str,
}

fn strip_of(r: &ClaimResult) -> Option<Strip> {
    let claim = r.claim.as_ref()?;
    let seeds: Vec<f64> = r.values.iter().flatten().copied().collect();
    if seeds.is_empty() {
        return None;
    }
    let m = claim.margin;
    let iv = r.interval;
    let (reference, band, interval, what) = match claim.form().ok()? {
        Form::Value(v) | Form::Difference(v) => {
            let what = if claim.than.is_some() {
                "paired difference"
            } else {
                "value"
            };
            (
                v,
                Some((v - m, v + m)),
                iv.map(|[a, b]| (v + a, v + b)),
                what,
            )
        }
        Form::Effect(relation) => {
            let s = if relation == Relation::Greater {
                1.0
            } else {
                -1.0
            };
            let margin_line = (s * m).min(0.0)..=(s * m).max(0.0);
            let band = Some((*margin_line.start(), *margin_line.end()));
            let interval = iv.map(|[a, b]| ((s * a).min(s * b), (s * a).max(s * b)));
            (0.0, band, interval, "paired difference")
        }
        Form::Bound { relation, bound } => {
            let interval = iv.map(|[a, b]| match relation {
                Relation::Less => (bound - b, bound - a),
                _ => (bound + a, bound + b),
            });
            (bound, None, interval, "value")
        }
        Form::Reproducible => return None,
    };
    Some(Strip {
        seeds,
        reference,
        band,
        interval,
        what,
    })
}

/// A claim's seeds as dots on one axis, with the claimed value (or 0, or the bound), its
/// margin band and the interval the verdict read.
pub fn strip(r: &ClaimResult) -> Option<Markup> {
    let s = strip_of(r)?;
    let (w, h) = (WIDTH, 86.0);
    let mut extent: Vec<f64> = s.seeds.clone();
    extent.push(s.reference);
    extent.extend(s.band.map(|b| [b.0, b.1]).into_iter().flatten());
    extent.extend(s.interval.map(|i| [i.0, i.1]).into_iter().flatten());
    let scale = Scale::covering(extent.into_iter(), 40.0, w - 40.0);
    let c = colour(&r.verdict);
    Some(html! {
        svg xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {w} {h}")) width="100%" font-family="sans-serif" font-size="12" role="img" {
            @if let Some((a, b)) = s.band {
                rect x=(scale.at(a)) y="8" width=(scale.at(b) - scale.at(a)) height="40" fill="#e8eaf6" {}
            }
            line x1=(scale.at(s.reference)) x2=(scale.at(s.reference)) y1="4" y2="52" stroke="#333" stroke-dasharray="4 3" {}
            @for v in &s.seeds {
                circle cx=(scale.at(*v)) cy="28" r="5" fill=(c) fill-opacity="0.7" {}
            }
            @if let Some((a, b)) = s.interval {
                line x1=(scale.at(a)) x2=(scale.at(b)) y1="60" y2="60" stroke=(c) stroke-width="3" {}
            }
            text x="40" y="80" { (format!("{:.4}", scale.lo)) }
            text x=(w - 40.0) y="80" text-anchor="end" { (format!("{:.4}", scale.hi)) }
            text x=(w / 2.0) y="80" text-anchor="middle" {
                (format!("each seed's {} (dots), the claim's reference {:.4} (dashed), its margin (band), the interval (bar)", s.what, s.reference))
            }
        }
    })
}

/// Per epoch, the median and the extremes over the seeds of one series.
fn band(series: &[Vec<f64>]) -> Vec<(f64, f64, f64)> {
    let epochs = series.iter().map(Vec::len).max().unwrap_or(0);
    (0..epochs)
        .filter_map(|e| {
            let mut at: Vec<f64> = series
                .iter()
                .filter_map(|s| s.get(e).copied())
                .filter(|v| v.is_finite())
                .collect();
            at.sort_by(f64::total_cmp);
            let n = at.len();
            (n > 0).then(|| (at[0], (at[(n - 1) / 2] + at[n / 2]) / 2.0, at[n - 1]))
        })
        .collect()
}

/// One panel: the seeds' `metric` per epoch overlaid (median line, min–max band), with a
/// horizontal line at each claimed value.
pub fn curves(
    title: &str,
    runs: &[Vec<EpochRecord>],
    metric: fn(&EpochRecord) -> f64,
    claimed: &[f64],
) -> Markup {
    let series: Vec<Vec<f64>> = runs
        .iter()
        .map(|r| r.iter().map(metric).collect())
        .collect();
    let stats = band(&series);
    let (w, h, pad) = (580.0, 260.0, 44.0);
    let values = stats
        .iter()
        .flat_map(|(a, _, b)| [*a, *b])
        .chain(claimed.iter().copied());
    let y = Scale::covering(values, h - pad, pad);
    let n = stats.len().max(2);
    let x = |i: usize| pad + (w - 2.0 * pad) * i as f64 / (n - 1) as f64;
    let upper: Vec<String> = stats
        .iter()
        .enumerate()
        .map(|(i, s)| format!("{:.1},{:.1}", x(i), y.at(s.2)))
        .collect();
    let lower: Vec<String> = stats
        .iter()
        .enumerate()
        .rev()
        .map(|(i, s)| format!("{:.1},{:.1}", x(i), y.at(s.0)))
        .collect();
    let median: Vec<String> = stats
        .iter()
        .enumerate()
        .map(|(i, s)| format!("{:.1},{:.1}", x(i), y.at(s.1)))
        .collect();
    html! {
        svg xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {w} {h}")) width="100%" font-family="sans-serif" font-size="12" role="img" {
            text x=(w / 2.0) y="18" text-anchor="middle" font-size="14" { (title) }
            line x1=(pad) y1=(h - pad) x2=(w - pad) y2=(h - pad) stroke="#333" {}
            line x1=(pad) y1=(pad) x2=(pad) y2=(h - pad) stroke="#333" {}
            polygon points=(format!("{} {}", upper.join(" "), lower.join(" "))) fill="#1565c0" fill-opacity="0.18" {}
            polyline points=(median.join(" ")) fill="none" stroke="#1565c0" stroke-width="2" {}
            @for v in claimed {
                line x1=(pad) x2=(w - pad) y1=(y.at(*v)) y2=(y.at(*v)) stroke="#c62828" stroke-dasharray="6 4" {}
                text x=(w - pad) y=(y.at(*v) - 4.0) text-anchor="end" fill="#c62828" { (format!("claimed {v:.4}")) }
            }
            text x=(pad - 4.0) y=(pad + 4.0) text-anchor="end" { (format!("{:.3}", y.hi)) }
            text x=(pad - 4.0) y=(h - pad) text-anchor="end" { (format!("{:.3}", y.lo)) }
            text x=(w / 2.0) y=(h - 10.0) text-anchor="middle" { (format!("epoch (1 to {}): median of {} seeds, band from the lowest to the highest", stats.len(), runs.len())) }
        }
    }
}
