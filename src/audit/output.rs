//! What an audit writes: a table for the terminal, `audit.json`, `audit.md`, `audit.html`.

use super::run::ClaimResult;
use crate::fsutil::write_atomic;
use crate::manifest::Manifest;
use crate::report::learning_curves;
use std::fmt::Write;
use std::path::Path;

fn fmt_summary(r: &ClaimResult) -> (String, String, String) {
    match &r.summary {
        Some(s) if s.n >= 2 => (
            format!("{:.4}", s.mean),
            format!("{:.4}", s.std),
            format!("{:.4} to {:.4}", s.ci95[0], s.ci95[1]),
        ),
        Some(s) => (format!("{:.4}", s.mean), "-".into(), "-".into()),
        None => ("-".into(), "-".into(), "-".into()),
    }
}

fn claimed(r: &ClaimResult) -> String {
    match &r.claim {
        Some(c) => match (c.value, c.relation) {
            (Some(v), _) => format!("{v:.4}"),
            (None, Some(rel)) => format!(
                "{:?} than {}",
                rel,
                c.than.as_ref().map_or("?", |t| t.run.as_str())
            )
            .to_lowercase(),
            _ => "-".into(),
        },
        None => "-".into(),
    }
}

/// The verdict table, one row per claim, for the terminal.
pub fn table(results: &[ClaimResult]) -> String {
    let mut out = format!(
        "{:<28} {:<15} {:>10} {:>8} {:>8} {:<20} {}\n",
        "claim", "verdict", "claimed", "mean", "std", "95% t interval", "why"
    );
    for r in results {
        let (mean, std, ci) = fmt_summary(r);
        let _ = writeln!(
            out,
            "{:<28} {:<15} {:>10} {:>8} {:>8} {:<20} {}",
            r.id,
            r.verdict.label(),
            claimed(r),
            mean,
            std,
            ci,
            r.verdict.why()
        );
    }
    out
}

fn markdown(results: &[ClaimResult], source: &str, seeds: usize) -> String {
    let mut md = format!(
        "# Audit\n\nSource: {source}\n\nSeeds per run: {seeds}\n\n| claim | verdict | claimed | mean | std | 95% t interval | test-set 95% (pooled) | why |\n|---|---|---|---|---|---|---|---|\n"
    );
    for r in results {
        let (mean, std, ci) = fmt_summary(r);
        let pooled = r
            .pooled_accuracy_ci95
            .map_or("-".into(), |[a, b]| format!("{a:.4} to {b:.4}"));
        let _ = writeln!(
            md,
            "| {} | {} | {} | {mean} | {std} | {ci} | {pooled} | {} |",
            r.id,
            r.verdict.label(),
            claimed(r),
            r.verdict.why().replace('|', "/")
        );
    }
    md.push_str("\n## Claims\n\n");
    for r in results {
        let _ = writeln!(md, "- **{}**: {}", r.id, r.sentence);
    }
    md
}

fn html(results: &[ClaimResult], out: &Path, md_table: &str) -> String {
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>cifar-repro audit</title><style>body{font-family:sans-serif;margin:2em}pre{background:#f6f6f6;padding:1em;overflow-x:auto}.runs{display:flex;flex-wrap:wrap;gap:1em}</style></head><body><h1>cifar-repro audit</h1>",
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
            r.id,
            r.verdict.label(),
            r.verdict.why().replace('<', "&lt;")
        );
        for run in &r.runs {
            if let Ok(m) = Manifest::read(&out.join(run)) {
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
pub fn write(
    out: &Path,
    results: &[ClaimResult],
    source: &str,
    seeds: usize,
) -> std::io::Result<()> {
    let json = serde_json::json!({ "source": source, "seeds": seeds, "claims": results });
    write_atomic(
        &out.join("audit.json"),
        serde_json::to_string_pretty(&json)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    let md = markdown(results, source, seeds);
    write_atomic(&out.join("audit.md"), md.as_bytes())?;
    write_atomic(
        &out.join("audit.html"),
        html(results, out, &table(results)).as_bytes(),
    )
}
