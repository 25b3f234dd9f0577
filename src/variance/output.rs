//! What a variance study writes: `variance.json` (the study whole), `variance.md` (one
//! table per metric) and `variance.html` (per metric a dot-and-interval plot, one row per
//! arm, the test set's binomial sd as a dashed line, and the table).

use super::{ArmResult, Spread, Variance};
use crate::audit::output::OutputError;
use crate::fsutil::write_atomic;
use crate::text::markdown_cell as cell;
use maud::{DOCTYPE, Markup, html};
use std::fmt::Write;
use std::path::Path;

/// Writes `variance.json`, `variance.md` and `variance.html` into `out`.
pub fn write(out: &Path, study: &Variance) -> Result<(), OutputError> {
    let json = serde_json::to_string_pretty(study).map_err(std::io::Error::other);
    let files = [
        ("variance.json", json),
        ("variance.md", Ok(markdown(study))),
        ("variance.html", Ok(page(study))),
    ];
    for (name, text) in files {
        let path = out.join(name);
        text.and_then(|t| write_atomic(&path, t.as_bytes()))
            .map_err(|source| OutputError { path, source })?;
    }
    Ok(())
}

/// What the study is, in two sentences.
pub fn describe(study: &Variance) -> String {
    format!(
        "{}: {} runs per arm, root seed {}; every arm but the one named holds each stream at the root seed's. Intervals are {}% chi-square intervals of the sd. Sources interact: the arms' spreads are not parts of the \"all\" arm's and do not add up to it.",
        study.run,
        study.seeds,
        study.root,
        (100.0 * (1.0 - study.alpha)).round()
    )
}

/// The metrics of the study, in the order every arm lists them.
fn metrics(study: &Variance) -> Vec<&str> {
    study
        .arms
        .first()
        .map(|a| a.spreads.iter().map(|s| s.metric.as_str()).collect())
        .unwrap_or_default()
}

/// The cells of one arm's row for one metric: no mean without a usable run, and no
/// spread without two ("-").
fn cells(arm: &ArmResult, s: &Spread) -> [String; 8] {
    let opt = |v: Option<f64>, d: usize| v.map_or("-".into(), |v| format!("{v:.d$}"));
    let spread = s.n >= 2;
    [
        arm.arm.name().into(),
        arm.varies.clone(),
        format!("{}", s.n),
        opt((s.n > 0).then_some(s.mean), 4),
        opt(spread.then_some(s.sd), 4),
        match spread {
            true => format!("[{:.4}, {:.4}]", s.interval[0], s.interval[1]),
            false => "-".into(),
        },
        opt(s.test_set_sd, 4),
        opt(s.ratio_to_all, 2),
    ]
}

/// The arms' table for a terminal, one block per metric.
pub fn table(study: &Variance) -> String {
    let mut text = String::new();
    for (k, metric) in metrics(study).into_iter().enumerate() {
        let _ = writeln!(text, "{metric}:");
        let _ = writeln!(
            text,
            "  {:<9} {:>4} {:>8} {:>8} {:>19} {:>11} {:>8}",
            "arm", "n", "mean", "sd", "sd interval", "test-set sd", "sd / all"
        );
        for arm in &study.arms {
            let c = cells(arm, &arm.spreads[k]);
            let _ = writeln!(
                text,
                "  {:<9} {:>4} {:>8} {:>8} {:>19} {:>11} {:>8}",
                c[0], c[2], c[3], c[4], c[5], c[6], c[7]
            );
        }
    }
    for m in study.arms.iter().flat_map(|a| &a.missing) {
        let _ = writeln!(text, "left out: {m}");
    }
    for note in &study.notes {
        let _ = writeln!(text, "{note}");
    }
    text
}

const HEADER: [&str; 8] = [
    "arm",
    "varies",
    "n",
    "mean",
    "sd",
    "sd interval",
    "test-set sd",
    "sd / all",
];

/// `variance.md`.
pub fn markdown(study: &Variance) -> String {
    let mut md = format!("# Variance by source\n\n{}\n", cell(&describe(study)));
    for note in &study.notes {
        let _ = write!(md, "\n- {}", cell(note));
    }
    if !study.notes.is_empty() {
        md.push('\n');
    }
    for (k, metric) in metrics(study).into_iter().enumerate() {
        let _ = write!(
            md,
            "\n## {}\n\n| {} |\n|{}\n",
            cell(metric),
            HEADER.join(" | "),
            "---|".repeat(8)
        );
        for arm in &study.arms {
            let row: Vec<String> = cells(arm, &arm.spreads[k])
                .iter()
                .map(|c| cell(c))
                .collect();
            let _ = writeln!(md, "| {} |", row.join(" | "));
        }
    }
    let missing: Vec<&String> = study.arms.iter().flat_map(|a| &a.missing).collect();
    if !missing.is_empty() {
        md.push_str("\nLeft out of the spreads:\n\n");
        for m in missing {
            let _ = writeln!(md, "- {}", cell(m));
        }
    }
    md
}

const STYLE: &str = "body{font-family:sans-serif;margin:24px auto;max-width:1240px;padding:0 16px;color:#222}\
table{width:100%;border-collapse:collapse;font-size:14px;margin-bottom:8px}\
th,td{border-bottom:1px solid #ddd;padding:6px 8px;text-align:left;vertical-align:top;overflow-wrap:anywhere}\
th{background:#f3f3f3}svg{display:block;max-width:100%}p,li{font-size:14px}";

/// `variance.html`.
pub fn page(study: &Variance) -> String {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "cifar-repro variance: " (study.run) }
                style { (maud::PreEscaped(STYLE)) }
            }
            body {
                h1 { "Variance by source" }
                p { (describe(study)) }
                @if !study.notes.is_empty() { ul { @for n in &study.notes { li { (n) } } } }
                p { "Each row: the dot is the arm's standard deviation over its runs, the line its interval; the dashed line is the standard deviation the test set alone gives a model of that accuracy (binomial), a floor no number of seeds removes." }
                @for (k, metric) in metrics(study).into_iter().enumerate() {
                    h2 { (metric) }
                    (plot(study, k))
                    (html_table(study, k))
                }
                @let missing: Vec<&String> = study.arms.iter().flat_map(|a| &a.missing).collect();
                @if !missing.is_empty() {
                    h2 { "Left out of the spreads" }
                    ul { @for m in missing { li { (m) } } }
                }
            }
        }
    };
    page.into_string()
}

fn html_table(study: &Variance, k: usize) -> Markup {
    html! {
        table {
            thead { tr { @for h in HEADER { th { (h) } } } }
            tbody {
                @for arm in &study.arms {
                    tr { @for c in cells(arm, &arm.spreads[k]) { td { (c) } } }
                }
            }
        }
    }
}

const WIDTH: f64 = 1200.0;
const LABEL: f64 = 140.0;
const PLOT: f64 = 980.0;
const ROW: f64 = 30.0;

/// One row per arm on a common sd axis from 0: the interval, the sd, and the test set's
/// binomial sd as a dashed line.
fn plot(study: &Variance, k: usize) -> Markup {
    let spreads: Vec<&Spread> = study.arms.iter().map(|a| &a.spreads[k]).collect();
    let top = spreads
        .iter()
        .flat_map(|s| [s.sd, s.interval[1], s.test_set_sd.unwrap_or(0.0)])
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max)
        .max(1e-6)
        * 1.05;
    let x = |v: f64| LABEL + (v / top).clamp(0.0, 1.0) * PLOT;
    let height = ROW * spreads.len() as f64 + 40.0;
    let floor = spreads.iter().find_map(|s| s.test_set_sd);
    html! {
        svg viewBox=(format!("0 0 {WIDTH} {height}")) width=(WIDTH) role="img" aria-label=(format!("standard deviation of {} per arm", spreads.first().map_or("", |s| s.metric.as_str()))) {
            @for (row, (arm, s)) in study.arms.iter().zip(&spreads).enumerate() {
                @let y = ROW * row as f64 + 20.0;
                text x="4" y=(y + 4.0) font-size="13" { (arm.arm.name()) " (n " (s.n) ")" }
                @if s.interval.iter().all(|v| v.is_finite()) {
                    line x1=(x(s.interval[0])) x2=(x(s.interval[1])) y1=(y) y2=(y) stroke="#1565c0" stroke-width="2" {}
                }
                @if s.sd.is_finite() && s.n >= 2 {
                    circle cx=(x(s.sd)) cy=(y) r="5" fill="#1565c0" {}
                }
            }
            @let axis = ROW * spreads.len() as f64 + 10.0;
            line x1=(LABEL) x2=(LABEL + PLOT) y1=(axis) y2=(axis) stroke="#888" {}
            @for t in 0..=4 {
                @let v = top * t as f64 / 4.0;
                text x=(x(v)) y=(axis + 16.0) font-size="12" text-anchor="middle" { (format!("{v:.4}")) }
            }
            @if let Some(f) = floor {
                line x1=(x(f)) x2=(x(f)) y1="6" y2=(axis) stroke="#555" stroke-dasharray="5 4" {}
                text x=(x(f) + 4.0) y="12" font-size="12" fill="#555" { "test set" }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variance::Arm;

    #[test]
    fn an_arm_without_usable_runs_shows_no_numbers() {
        let arm = |n: usize| ArmResult {
            arm: Arm::Init,
            varies: "init".into(),
            runs: Vec::new(),
            missing: vec!["seed 1 diverged".into()],
            spreads: vec![Spread {
                metric: "test.accuracy".into(),
                n,
                mean: if n == 0 { 0.0 } else { 0.5 },
                sd: 0.0,
                interval: [f64::NAN, f64::NAN],
                test_set_sd: None,
                ratio_to_all: None,
            }],
        };
        let none = arm(0);
        assert_eq!(&cells(&none, &none.spreads[0])[3..6], ["-", "-", "-"]);
        let one = arm(1);
        assert_eq!(&cells(&one, &one.spreads[0])[3..6], ["0.5000", "-", "-"]);
    }
}
