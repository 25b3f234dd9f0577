//! `audit.html`, one self-contained page written with maud (every text escaped by
//! construction): the verdict table, the forest plot at full width, each claim with its
//! seeds' strip plot and what an auditor asks next, then each distinct run group's
//! learning curves drawn once, all seeds overlaid.

use super::plots;
use super::{Cells, Settings, remarks};
use crate::audit::auditor::ClaimResult;
use crate::audit::claims::{Claim, Form, Metric, MetricSplit};
use crate::manifest::EpochRecord;
use crate::run_dir::RunDir;
use maud::{DOCTYPE, Markup, html};
use std::path::{Path, PathBuf};

const STYLE: &str = "body{font-family:sans-serif;margin:24px auto;max-width:1240px;padding:0 16px;color:#222}\
table{width:100%;border-collapse:collapse;font-size:14px}\
th,td{border-bottom:1px solid #ddd;padding:6px 8px;text-align:left;vertical-align:top;overflow-wrap:break-word}\
th{background:#f3f3f3}col.claim{width:26%}col.verdict{width:12%}col.claimed{width:18%}\
.scroll{overflow-x:auto}.badge{font-weight:bold;white-space:nowrap}.claim{margin:28px 0;border-top:1px solid #ccc;padding-top:8px}\
.why{font-size:14px}.panels{display:grid;grid-template-columns:1fr 1fr;gap:12px}\
svg{display:block;max-width:100%}ul{font-size:14px}";

pub fn render(results: &[ClaimResult], out: &Path, settings: &Settings) -> String {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "cifar-repro audit" }
                style { (maud::PreEscaped(STYLE)) }
            }
            body {
                h1 { "cifar-repro audit" }
                p { (settings.source) }
                p { (settings.describe()) }
                p.why { "Ran with " (settings.provenance.describe()) }
                (summary(results))
                h2 { "All claims, in units of their margins" }
                p.why { "Each row: the shaded band is the claim's margin (for a claimed direction, everything below the smallest effect of interest); the line is the reproduction's interval, the dot its estimate; a grey bar is the claim's own 95% interval when it gives runs and spread. Green REPRODUCED, red NOT REPRODUCED, amber INCONCLUSIVE, grey NOT RUN, blue REHEARSED, purple FAILED." }
                (plots::forest(results))
                h2 { "Each claim" }
                @for r in results { (claim(r)) (runs_table(r)) }
                h2 { "Learning curves, one panel per run group" }
                @for g in groups(results, out) { (group(&g)) }
            }
        }
    };
    page.into_string()
}

fn summary(results: &[ClaimResult]) -> Markup {
    html! {
        div.scroll { table {
            colgroup { col.claim; col.verdict; col.claimed; col; col; col; col; col; }
            thead { tr { th { "claim" } th { "verdict" } th { "claimed" } th { "margin" } th { "mean" } th { "n" } th { "interval" } th { "level" } } }
            tbody {
                @for r in results {
                    @let c = Cells::of(r);
                    tr {
                        td { a href=(format!("#claim-{}", anchor(&r.id))) { (r.id) } }
                        td.badge style=(format!("color:{}", plots::colour(&r.verdict))) { (r.verdict.label()) }
                        td { (c.claimed) } td { (c.margin) } td { (c.mean) } td { (c.n) } td { (c.interval) } td { (c.level) }
                    }
                }
            }
        } }
    }
}

/// An id usable in a URL fragment.
fn anchor(id: &str) -> String {
    id.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

fn claim(r: &ClaimResult) -> Markup {
    html! {
        div.claim id=(format!("claim-{}", anchor(&r.id))) {
            h3 { (r.id) " " span.badge style=(format!("color:{}", plots::colour(&r.verdict))) { (r.verdict.label()) } }
            p { (r.sentence) }
            @if let Some(svg) = plots::strip(r) { (svg) }
            p.why { (r.verdict.why()) }
            @let more = remarks(r);
            @if !more.is_empty() { ul { @for m in &more { li { (m) } } } }
        }
    }
}

/// The page a run folder's link leads to: a program's record, or cifar-repro's run page.
fn run_pages(folder: &Path, program: bool) -> Vec<(String, String)> {
    let link = |name: &str| (name.to_owned(), folder.join(name).display().to_string());
    match program {
        true => vec![link("command.json"), link("stdout.txt"), link("stderr.txt")],
        false => vec![link("report.html"), link("manifest.json")],
    }
}

/// A claim's runs, one row each: its seed (and side, for a relative claim), the value it
/// gave the claim, its folder and its pages.
fn runs_table(r: &ClaimResult) -> Markup {
    let Some(claim) = &r.claim else {
        return html! {};
    };
    let program =
        |spec: &crate::audit::claims::RunSpec| crate::program::runner_name(&spec.run).is_some();
    let per_side = match (&claim.than, r.runs.len()) {
        (Some(_), n) if n >= 2 => n / 2,
        (_, n) => n.max(1),
    };
    html! {
        @if !r.runs.is_empty() {
            div.scroll { table {
                thead { tr { th { "seed" } th { "side" } th { "value" } th { "run folder" } th { "its pages" } } }
                tbody {
                    @for (i, folder) in r.runs.iter().enumerate() {
                        @let other = i >= per_side && claim.than.is_some();
                        @let spec = if other { claim.than.as_ref().unwrap_or(&claim.run) } else { &claim.run };
                        tr {
                            td { (if claim.reproducible { 1 } else { i % per_side + 1 }) }
                            td { (match (claim.reproducible, other) { (true, _) => format!("copy {}", i + 1), (_, true) => "than".into(), _ => "run".into() }) }
                            td { (r.values.get(i).copied().flatten().filter(|_| !other).map_or("-".to_owned(), |v| format!("{v:.4}"))) }
                            td { a href=(folder.display().to_string()) { (folder.display()) } }
                            td { @for (name, href) in run_pages(folder, program(spec)) { a href=(href) { (name) } " " } }
                        }
                    }
                }
            } }
        }
    }
}

/// The runs of one configuration over the audit's seeds, and the claimed values about
/// their test accuracy and loss.
struct Group {
    title: String,
    runs: Vec<Vec<EpochRecord>>,
    accuracy: Vec<f64>,
    loss: Vec<f64>,
}

/// Each distinct set of run folders (one side of a claim) once, in the order claims first
/// name it.
fn groups(results: &[ClaimResult], out: &Path) -> Vec<Group> {
    let mut seen: Vec<(Vec<PathBuf>, Group)> = Vec::new();
    for r in results {
        let Some(claim) = r
            .claim
            .as_ref()
            .filter(|c| c.form() != Ok(Form::Reproducible))
        else {
            continue;
        };
        for (i, side) in claim_sides(claim, &r.runs).into_iter().enumerate() {
            if side.is_empty() {
                continue;
            }
            let index = match seen.iter().position(|(k, _)| k.as_slice() == side) {
                Some(index) => index,
                None => {
                    seen.push((side.to_vec(), new_group(claim, i, side, out)));
                    seen.len() - 1
                }
            };
            if let (0, Ok(Form::Value(v)), MetricSplit::Test, None) =
                (i, claim.form(), claim.split, claim.at_epoch)
            {
                match claim.metric() {
                    Metric::Accuracy => seen[index].1.accuracy.push(v),
                    Metric::Loss => seen[index].1.loss.push(v),
                    _ => {}
                }
            }
        }
    }
    seen.into_iter()
        .map(|(_, g)| g)
        .filter(|g| !g.runs.is_empty())
        .collect()
}

/// A claim's run folders by side: its own run's, then (a relative claim) `than`'s.
fn claim_sides<'a>(claim: &Claim, runs: &'a [PathBuf]) -> Vec<&'a [PathBuf]> {
    match (&claim.than, runs.len()) {
        (Some(_), n) if n >= 2 => vec![&runs[..n / 2], &runs[n / 2..]],
        _ => vec![runs],
    }
}

/// The group of side `i` of `claim` (0: its run, 1: `than`), with every epoch of the
/// runs in `side` whose manifest reads; no claimed values yet.
fn new_group(claim: &Claim, i: usize, side: &[PathBuf], out: &Path) -> Group {
    let title = match i {
        0 => claim.run.describe(),
        _ => claim
            .than
            .as_ref()
            .map_or_else(String::new, |t| t.describe()),
    };
    let runs = side
        .iter()
        .filter_map(|p| RunDir::open(&out.join(p)).manifest().ok())
        .map(|m| m.epochs)
        .collect();
    Group {
        title,
        runs,
        accuracy: Vec::new(),
        loss: Vec::new(),
    }
}

fn group(g: &Group) -> Markup {
    html! {
        h3 { (g.title) }
        div.panels {
            (plots::curves("test accuracy", &g.runs, |e| e.test.accuracy, &g.accuracy))
            (plots::curves("test loss", &g.runs, |e| e.test.loss, &g.loss))
        }
    }
}
