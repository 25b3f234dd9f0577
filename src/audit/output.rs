//! What an audit writes: a table for the terminal, `audit.json`, `audit.md`, `audit.html`.

use super::auditor::ClaimResult;
use super::claims::{Claim, Form, Relation};
use super::verdict::{Adjust, Verdict};
use crate::fsutil::write_atomic;
use crate::report::learning_curves;
use crate::run_dir::RunDir;
use std::fmt::Write;
use std::path::Path;

/// What the audit's files say about how it was run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Settings {
    pub source: String,
    /// Seeds per run (training audits), or the results file the values came from.
    pub seeds: Option<usize>,
    pub results: Option<String>,
    pub alpha: f64,
    pub adjust: Adjust,
    /// A rehearsal's smoke scale, when this was one.
    pub rehearsal: Option<String>,
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
            format!("same as {} (±{})", than(), c.margin)
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

/// The table's cells of one claim: claimed, margin, mean, sd, n, interval, level.
fn cells(r: &ClaimResult) -> [String; 7] {
    let claimed = r.claim.as_ref().map_or("-".into(), claimed);
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
    let interval = r
        .interval
        .map_or("-".into(), |[a, b]| format!("{a:+.4} to {b:+.4}"));
    let level = r.level.map_or("-".into(), |l| format!("{l:.4}"));
    [claimed, margin, mean, sd, n, interval, level]
}

const HEADERS: [&str; 10] = [
    "claim", "verdict", "claimed", "margin", "mean", "sd", "n", "interval", "level", "why",
];

/// The verdict table, one row per claim, for the terminal.
pub fn table(results: &[ClaimResult]) -> String {
    let row = |c: &[&str]| {
        format!(
            "{:<28} {:<15} {:>12} {:>7} {:>8} {:>8} {:>3} {:<20} {:>7} {}\n",
            c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9]
        )
    };
    let mut out = row(&HEADERS);
    for r in results {
        let c = cells(r);
        out.push_str(&row(&[
            &r.id,
            r.verdict.label(),
            &c[0],
            &c[1],
            &c[2],
            &c[3],
            &c[4],
            &c[5],
            &c[6],
            r.verdict.why(),
        ]));
    }
    out
}

fn markdown(results: &[ClaimResult], settings: &Settings) -> String {
    let mut md = format!(
        "# Audit\n\nSource: {}\n\nStatistics: {}. The interval is the (1 - 2 level) interval of measured minus claimed (for a relative claim without a claimed difference: of the effect in the claimed direction); REPRODUCED means it lies inside +-margin, NOT REPRODUCED that it lies outside.\n\n| {} |\n|{}\n",
        md_cell(&settings.source),
        settings.describe(),
        HEADERS.join(" | "),
        "---|".repeat(HEADERS.len())
    );
    for r in results {
        let c = cells(r);
        let cells: Vec<String> = c.iter().map(|x| md_cell(x)).collect();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            md_cell(&r.id),
            r.verdict.label(),
            cells.join(" | "),
            md_cell(r.verdict.why())
        );
    }
    md.push_str("\n## Claims\n\n");
    for r in results {
        let _ = writeln!(md, "- **{}**: {}", md_cell(&r.id), md_cell(&r.sentence));
    }
    md
}

/// `text` as one cell of a Markdown table: no line breaks, no cell separator, and no raw
/// HTML (GitHub renders HTML inside Markdown).
fn md_cell(text: &str) -> String {
    html_escape(text)
        .replace(['\n', '\r'], " ")
        .replace('|', "\\|")
}

/// `text` with HTML's special characters escaped.
fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn verdict_colour(v: &Verdict) -> &'static str {
    match v {
        Verdict::Reproduced { .. } => "#2e7d32",
        Verdict::NotReproduced { .. } => "#c62828",
        Verdict::Inconclusive { .. } => "#ef8f00",
        Verdict::NotRun { .. } => "#9e9e9e",
        Verdict::Rehearsed { .. } => "#1565c0",
        Verdict::Failed { .. } => "#6a1b9a",
    }
}

/// One row per claim on a common axis, in units of each claim's margin: the margin band,
/// the reproduction's interval and estimate, and (when the claim gives runs and spread)
/// the claim's own 95% interval around 0.
fn forest_plot(results: &[ClaimResult]) -> String {
    let (label_w, plot_w, row_h) = (260.0, 480.0, 26.0);
    // Margins either side of the claim: enough for every interval, 2 to 20.
    let span = results
        .iter()
        .filter_map(|r| Some((r.evidence.as_ref()?, r.interval?)))
        .flat_map(|(e, [lo, hi])| [lo.abs() / e.margin, hi.abs() / e.margin])
        .filter(|u| u.is_finite())
        .fold(2.0_f64, f64::max)
        .ceil()
        .min(20.0);
    let x = |u: f64| label_w + (u.clamp(-span, span) + span) / (2.0 * span) * plot_w;
    let height = row_h * (results.len() as f64 + 2.0);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">",
        label_w + plot_w + 140.0
    );
    let axis_y = row_h * (results.len() as f64 + 0.5);
    let half_span = (span / 2.0).round();
    for u in [-span, -half_span, -1.0, 0.0, 1.0, half_span, span] {
        let _ = write!(
            svg,
            "<line x1=\"{0}\" x2=\"{0}\" y1=\"0\" y2=\"{axis_y}\" stroke=\"#ddd\"/><text x=\"{0}\" y=\"{1}\" text-anchor=\"middle\">{u}</text>",
            x(u),
            axis_y + 14.0
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">difference from the claim (effect, for a claimed direction), in margins</text>",
        x(0.0),
        axis_y + 30.0
    );
    for (i, r) in results.iter().enumerate() {
        let y = row_h * (i as f64 + 0.5);
        let colour = verdict_colour(&r.verdict);
        let _ = write!(
            svg,
            "<text x=\"4\" y=\"{}\">{}</text><text x=\"{}\" y=\"{}\" fill=\"{colour}\">{}</text>",
            y + 4.0,
            html_escape(&r.id),
            label_w + plot_w + 8.0,
            y + 4.0,
            r.verdict.label()
        );
        let (Some(e), Some([lo, hi])) = (&r.evidence, r.interval) else {
            continue;
        };
        let m = e.margin;
        let (band_lo, band_hi) = match e.question {
            super::verdict::Question::Equivalence { .. } => (-1.0, 1.0),
            super::verdict::Question::Effect { .. } => (-span, 1.0),
            super::verdict::Question::Bound { .. } => (-span, 0.0),
        };
        let _ = write!(
            svg,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#e8eaf6\"/>",
            x(band_lo),
            y - row_h * 0.35,
            x(band_hi) - x(band_lo),
            row_h * 0.7
        );
        if let super::verdict::Question::Equivalence { claimed } = e.question
            && let (Some(spread), true) = (claimed.spread, claimed.runs > 1)
        {
            let half = 1.96 * spread / (claimed.runs as f64).sqrt() / m;
            let _ = write!(
                svg,
                "<line x1=\"{0}\" x2=\"{1}\" y1=\"{2}\" y2=\"{2}\" stroke=\"#555\" stroke-width=\"5\" stroke-opacity=\"0.35\"/>",
                x(-half),
                x(half),
                y + 7.0
            );
        }
        let _ = write!(
            svg,
            "<line x1=\"{}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"{colour}\" stroke-width=\"2\"/><circle cx=\"{}\" cy=\"{y}\" r=\"4\" fill=\"{colour}\"/>",
            x(lo / m),
            x(hi / m),
            x(e.estimate / m)
        );
    }
    svg.push_str("</svg>");
    svg
}

fn html(results: &[ClaimResult], out: &Path, md_table: &str, settings: &Settings) -> String {
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>cifar-repro audit</title><style>body{font-family:sans-serif;margin:2em}pre{background:#f6f6f6;padding:1em;overflow-x:auto}.runs{display:flex;flex-wrap:wrap;gap:1em}</style></head><body><h1>cifar-repro audit</h1>",
    );
    let _ = write!(
        html,
        "<p>{}</p><p>Each row: the shaded band is the claim's margin (for a claimed direction, everything below the smallest effect of interest); the line is the reproduction's interval, the dot its estimate; a grey bar is the claim's own 95% interval when it gives runs and spread. Green REPRODUCED, red NOT REPRODUCED, amber INCONCLUSIVE, grey NOT RUN.</p>{}",
        html_escape(&settings.describe()),
        forest_plot(results)
    );
    let _ = write!(
        html,
        "<pre>{}</pre>",
        md_table.replace('&', "&amp;").replace('<', "&lt;")
    );
    for r in results {
        let _ = write!(
            html,
            "<h2>{} &mdash; {}</h2><p>{}</p><div class=\"runs\">",
            html_escape(&r.id),
            r.verdict.label(),
            html_escape(r.verdict.why())
        );
        for run in &r.runs {
            if let Ok(m) = RunDir::open(&out.join(run)).manifest() {
                let _ = write!(
                    html,
                    "<div><p>{} (seed {})</p>{}</div>",
                    run.display(),
                    m.config.run.seed,
                    learning_curves(&m.epochs)
                );
            }
        }
        html.push_str("</div>");
    }
    html.push_str("</body></html>\n");
    html
}

/// Writes `audit.json`, `audit.md` and `audit.html` into `out`.
pub fn write(out: &Path, results: &[ClaimResult], settings: &Settings) -> Result<(), OutputError> {
    let json = serde_json::json!({ "settings": settings, "claims": results });
    let text = serde_json::to_string_pretty(&json).map_err(std::io::Error::other);
    let files = [
        ("audit.json", text),
        ("audit.md", Ok(markdown(results, settings))),
        (
            "audit.html",
            Ok(html(results, out, &table(results), settings)),
        ),
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
    pub path: std::path::PathBuf,
    pub source: std::io::Error,
}
