//! The verdict table for the terminal: at most 120 columns, then each claim's reason and
//! remarks below it.

use super::{Cells, remarks};
use crate::audit::auditor::ClaimResult;

/// `text` in `width` columns: cut with "…" when longer.
fn fit(text: &str, width: usize) -> String {
    match text.chars().count() > width {
        true => crate::text::shorten(text, width.saturating_sub(1)),
        false => text.to_owned(),
    }
}

/// The verdict table, one row per claim, then the reasons.
pub fn table(results: &[ClaimResult]) -> String {
    let row = |c: [&str; 8]| {
        format!(
            "{:<30} {:<14} {:<22} {:>6} {:>7} {:>3} {:<27} {:>6}\n",
            fit(c[0], 30),
            c[1],
            fit(c[2], 22),
            fit(c[3], 6),
            c[4],
            c[5],
            c[6],
            c[7]
        )
    };
    let mut out = row([
        "claim", "verdict", "claimed", "margin", "mean", "n", "interval", "level",
    ]);
    for r in results {
        let c = Cells::of(r);
        out.push_str(&row([
            &r.id,
            r.verdict.label(),
            &c.claimed,
            &c.margin,
            &c.mean,
            &c.n,
            &c.interval,
            &c.level,
        ]));
    }
    out.push('\n');
    for r in results {
        out.push_str(&format!(
            "{} ({}): {}\n",
            r.id,
            r.verdict.label(),
            r.verdict.why()
        ));
        for remark in remarks(r) {
            out.push_str(&format!("  - {remark}\n"));
        }
    }
    out
}
