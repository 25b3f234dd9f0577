//! `audit.md`: a plain table that reads well in a pull-request comment, the reasons and
//! the claims' sentences below it. Nothing from a claim file reaches it unescaped.

use super::{Cells, Settings, remarks};
use crate::audit::auditor::ClaimResult;
use crate::text::markdown_cell as cell;
use std::fmt::Write;

pub fn render(results: &[ClaimResult], settings: &Settings) -> String {
    let mut md = format!(
        "# Audit\n\nSource: {}\n\nRan with: {}\n\nStatistics: {}. The interval is the one the verdict read, with its confidence: of measured minus claimed, or for a relative claim of this run minus the other. An interval wholly inside +-margin means REPRODUCED, wholly outside NOT REPRODUCED; an INCONCLUSIVE claim's interval is neither.\n\n",
        cell(&settings.source),
        cell(&settings.provenance.describe()),
        cell(&settings.describe()),
    );
    md.push_str("| claim | verdict | claimed | margin | mean | sd | n | interval | level |\n");
    md.push_str("|---|---|---|---|---|---|---|---|---|\n");
    for r in results {
        let c = Cells::of(r);
        let cells = [
            &c.claimed,
            &c.margin,
            &c.mean,
            &c.sd,
            &c.n,
            &c.interval,
            &c.level,
        ];
        let joined: Vec<String> = cells.iter().map(|x| cell(x)).collect();
        let _ = writeln!(
            md,
            "| {} | {} | {} |",
            cell(&r.id),
            r.verdict.label(),
            joined.join(" | ")
        );
    }
    md.push_str("\n## Why\n\n");
    for r in results {
        let _ = writeln!(
            md,
            "- **{}** ({}): {}",
            cell(&r.id),
            r.verdict.label(),
            cell(r.verdict.why())
        );
        for remark in remarks(r) {
            let _ = writeln!(md, "  - {}", cell(&remark));
        }
    }
    md.push_str("\n## Claims\n\n");
    for r in results {
        let _ = writeln!(md, "- **{}**: {}", cell(&r.id), cell(&r.sentence));
    }
    md
}
