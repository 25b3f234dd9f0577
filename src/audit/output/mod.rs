//! What an audit writes: a table for the terminal (with the reasons below it), and
//! `audit.json`, `audit.md` (a plain table for a pull-request comment) and `audit.html`
//! (a report a person reads: a table, the forest plot, each claim's seeds, each run
//! group's learning curves).

mod html;
mod markdown;
mod plots;
mod provenance;
mod terminal;

pub use terminal::table;

use super::auditor::ClaimResult;
use super::claims::{Claim, Form, Relation};
use super::verdict::Adjust;
use crate::fsutil::write_atomic;
use std::path::{Path, PathBuf};

pub use provenance::{BUILD_COMMIT, Provenance};

/// What the audit's files say about how it was run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Settings {
    /// The claim file.
    pub source: String,
    /// Seeds per run (training audits), or the results file the values came from.
    pub seeds: Option<usize>,
    /// The `--results` file, when the values came from one.
    pub results: Option<String>,
    /// The family's α.
    pub alpha: f64,
    /// How α was shared among the claims.
    pub adjust: Adjust,
    /// A rehearsal's smoke scale, when this was one.
    pub rehearsal: Option<String>,
    /// Where and with what it ran.
    pub provenance: Provenance,
}

impl Settings {
    /// One line: where the values came from, alpha and the adjustment.
    pub fn describe(&self) -> String {
        let values = match (&self.results, self.seeds) {
            (Some(file), _) => format!("per-seed values from {file}"),
            (None, Some(n)) => format!("{n} seeds per run"),
            (None, None) => "-".into(),
        };
        let adjust = match self.adjust {
            Adjust::Holm => "Holm-adjusted across the file's claims",
            Adjust::Unadjusted => "each claim on its own (no multiplicity adjustment)",
        };
        let rehearsal = match &self.rehearsal {
            Some(scale) => format!("REHEARSAL ({scale}): the numbers mean nothing; "),
            None => String::new(),
        };
        format!("{rehearsal}{values}; alpha {} ({adjust})", self.alpha)
    }
}

/// What a claim claims, in a few words.
fn claimed(c: &Claim) -> String {
    let than = || c.than.as_ref().map_or("?", |t| t.run.as_str());
    match c.form() {
        Ok(Form::Value(v)) if c.runs > 1 => format!(
            "{v:.4} (sd {:.4}, {} runs)",
            c.spread.unwrap_or(f64::NAN),
            c.runs
        ),
        Ok(Form::Value(v)) => format!("{v:.4}"),
        Ok(Form::Difference(_)) if c.relation == Some(Relation::Same) => {
            format!("same as {}", than())
        }
        Ok(Form::Difference(d)) => format!("{d:+.4} vs {}", than()),
        Ok(Form::Effect(Relation::Greater)) => format!("greater than {}", than()),
        Ok(Form::Effect(_)) => format!("less than {}", than()),
        Ok(Form::Bound { relation, bound }) => {
            let side = if relation == Relation::Less { "<" } else { ">" };
            let of = match c.since_epoch {
                Some(e) => format!("gain since epoch {e} "),
                None => String::new(),
            };
            format!("{of}{side} {bound}")
        }
        Ok(Form::Reproducible) => "bit-identical rerun".into(),
        Err(_) => "-".into(),
    }
}

/// The cells every table shows for a claim.
struct Cells {
    claimed: String,
    margin: String,
    mean: String,
    sd: String,
    n: String,
    interval: String,
    level: String,
}

impl Cells {
    fn of(r: &ClaimResult) -> Self {
        let margin = match &r.claim {
            Some(c) if c.form() != Ok(Form::Reproducible) => format!("{}", c.margin),
            _ => "-".into(),
        };
        let (mean, sd, n) = match &r.summary {
            Some(s) => (
                format!("{:.4}", s.mean),
                format!("{:.4}", s.std),
                s.n.to_string(),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        Self {
            claimed: r.claim.as_ref().map_or("-".into(), claimed),
            margin,
            mean,
            sd,
            n,
            interval: shown_interval(r),
            level: r.level.map_or("-".into(), |l| format!("{l:.4}")),
        }
    }
}

/// The interval its verdict read, with its confidence, on the sign of the row's mean: a
/// relative claim of "less" reads its effect in the claimed direction, shown here as this
/// run minus the other, like the mean beside it.
fn shown_interval(r: &ClaimResult) -> String {
    let Some([lo, hi]) = r.interval else {
        return "-".into();
    };
    let flip = matches!(
        r.claim.as_ref().map(Claim::form),
        Some(Ok(Form::Effect(Relation::Less)))
    );
    let [lo, hi] = if flip { [-hi, -lo] } else { [lo, hi] };
    let confidence = r.confidence.map_or(String::new(), |c| {
        let percent = format!("{:.2}", 100.0 * c);
        format!(
            " ({}%)",
            percent.trim_end_matches('0').trim_end_matches('.')
        )
    });
    format!("{lo:+.4} to {hi:+.4}{confidence}")
}

/// A percentile rounded, as "1st", "22nd", "33rd", "40th".
fn ordinal(percentile: f64) -> String {
    let n = percentile.round().clamp(0.0, 100.0) as u32;
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// What a reader is told about a claim beyond its verdict, one sentence each: failures,
/// where the claim sits, P(A>B), the test set's noise, the claim's notes.
fn remarks(r: &ClaimResult) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(f) = &r.failures {
        out.push(f.describe(r.values.len()));
    }
    if let Some(p) = &r.placement {
        out.push(format!(
            "the claim sits at the {} percentile of the seeds ({} of one more run's predictive distribution); one more run reaches it or beyond with probability {:.3}",
            ordinal(p.empirical_percentile),
            ordinal(p.predictive_percentile),
            p.tail
        ));
        out.extend(p.lucky.clone());
    }
    if let Some(s) = &r.superiority {
        out.push(format!(
            "P(the claimed way) {:.2}, {:.0}% bootstrap interval {:.2} to {:.2} ({} resamples): {}; Noether: {} seeds to show it at the margin's size, {} at P = 0.75",
            s.probability,
            100.0 * s.confidence,
            s.interval[0],
            s.interval[1],
            s.resamples,
            s.decision,
            s.seeds_for_margin,
            s.seeds_for_meaningful
        ));
    }
    if let Some(t) = &r.test_set {
        out.push(format!(
            "test set: {} images, binomial standard error {:.4}",
            t.images, t.se
        ));
        out.extend(t.warning.clone());
    }
    out.extend(r.notes.iter().cloned());
    out
}

/// Writes `audit.json`, `audit.md` and `audit.html` into `out`.
pub fn write(out: &Path, results: &[ClaimResult], settings: &Settings) -> Result<(), OutputError> {
    let json = serde_json::json!({ "settings": settings, "claims": results });
    let text = serde_json::to_string_pretty(&json).map_err(std::io::Error::other);
    let files = [
        ("audit.json", text),
        ("audit.md", Ok(markdown::render(results, settings))),
        ("audit.html", Ok(html::render(results, out, settings))),
    ];
    for (name, text) in files {
        let path = out.join(name);
        text.and_then(|t| write_atomic(&path, t.as_bytes()))
            .map_err(|source| OutputError { path, source })?;
    }
    Ok(())
}

/// An audit file that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("writing {}: {source}", path.display())]
pub struct OutputError {
    /// The file.
    pub path: PathBuf,
    /// The error.
    pub source: std::io::Error,
}

#[cfg(test)]
mod tests {
    #[test]
    fn percentiles_read_as_ordinals() {
        let read: Vec<String> = [1.0, 2.2, 33.0, 11.0, 12.0, 13.4, 21.0, 40.0, 99.6]
            .map(super::ordinal)
            .to_vec();
        assert_eq!(
            read,
            [
                "1st", "2nd", "33rd", "11th", "12th", "13th", "21st", "40th", "100th"
            ]
        );
    }
}
