//! Plots as standalone SVG: learning curves and a confusion-matrix heat map.

use crate::manifest::EpochRecord;
use std::fmt::Write;

const W: f64 = 420.0;
const H: f64 = 260.0;
const PAD: f64 = 40.0;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The range the y axis shows for `series`: its finite values' span, widened when flat.
fn value_range(series: &[(&str, &str, Vec<f64>)]) -> (f64, f64) {
    let values: Vec<f64> = series
        .iter()
        .flat_map(|s| s.2.iter().copied())
        .filter(|v| v.is_finite())
        .collect();
    let (lo, hi) = values
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, h), &v| (l.min(v), h.max(v)));
    if values.is_empty() {
        (0.0, 1.0)
    } else if hi - lo < 1e-12 {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo, hi)
    }
}

/// A line chart of `series` (name, colour, values per epoch) titled `title`.
fn line_chart(title: &str, series: &[(&str, &str, Vec<f64>)]) -> String {
    let (lo, hi) = value_range(series);
    let n = series.iter().map(|s| s.2.len()).max().unwrap_or(0).max(2);
    let x = |i: usize| PAD + (W - 2.0 * PAD) * i as f64 / (n - 1) as f64;
    let y = |v: f64| H - PAD - (H - 2.0 * PAD) * (v - lo) / (hi - lo);
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">"#
    );
    let _ = write!(
        svg,
        r#"<rect width="{W}" height="{H}" fill="white"/><text x="{}" y="16" text-anchor="middle" font-size="13">{}</text>"#,
        W / 2.0,
        escape(title)
    );
    let _ = write!(
        svg,
        r#"<line x1="{PAD}" y1="{0}" x2="{1}" y2="{0}" stroke="black"/><line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{0}" stroke="black"/>"#,
        H - PAD,
        W - PAD
    );
    for (v, label) in [(lo, lo), (hi, hi)] {
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end">{label:.3}</text>"#,
            PAD - 4.0,
            y(v) + 4.0
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">epoch</text>"#,
        W / 2.0,
        H - 8.0
    );
    for (k, (name, colour, vals)) in series.iter().enumerate() {
        // One polyline per series and its name in the legend.
        let points: Vec<String> = vals
            .iter()
            .enumerate()
            .map(|(i, &v)| format!("{:.1},{:.1}", x(i), y(v)))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            points.join(" ")
        );
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" fill="{colour}">{}</text>"#,
            W - PAD - 90.0,
            PAD + 14.0 * k as f64,
            escape(name)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Loss and accuracy curves, train and test, side by side.
pub fn learning_curves(epochs: &[EpochRecord]) -> String {
    let get = |f: &dyn Fn(&EpochRecord) -> f64| epochs.iter().map(f).collect::<Vec<f64>>();
    let loss = line_chart(
        "loss",
        &[
            ("train", "#1f77b4", get(&|e| e.train.loss)),
            ("test", "#d62728", get(&|e| e.test.loss)),
        ],
    );
    let accuracy = line_chart(
        "accuracy",
        &[
            ("train", "#1f77b4", get(&|e| e.train.accuracy)),
            ("test", "#d62728", get(&|e| e.test.accuracy)),
        ],
    );
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{H}" viewBox="0 0 {} {H}"><g>{loss}</g><g transform="translate({W},0)">{accuracy}</g></svg>"#,
        2.0 * W,
        2.0 * W
    )
}

/// The confusion matrix (rows true, columns predicted) as a heat map with counts.
pub fn confusion_heatmap(confusion: &[Vec<u64>], classes: &[String]) -> String {
    let n = confusion.len();
    let cell = 34.0;
    let left = 80.0;
    let top = 80.0;
    let size = left + cell * n as f64 + 10.0;
    let max = confusion
        .iter()
        .flatten()
        .copied()
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{}" font-family="sans-serif" font-size="10">"#,
        top + cell * n as f64 + 10.0
    );
    let _ = write!(
        svg,
        r#"<rect width="100%" height="100%" fill="white"/><text x="{left}" y="14" font-size="12">rows: true class, columns: predicted</text>"#
    );
    for (i, row) in confusion.iter().enumerate() {
        let name = classes.get(i).map_or(String::new(), |c| escape(c));
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end">{name}</text>"#,
            left - 4.0,
            top + cell * (i as f64 + 0.6)
        );
        let _ = write!(
            svg,
            r#"<text transform="translate({},{}) rotate(-60)">{name}</text>"#,
            left + cell * (i as f64 + 0.5),
            top - 4.0
        );
        for (j, &count) in row.iter().enumerate() {
            let shade = (255.0 * (1.0 - count as f64 / max)) as u8;
            let text = if shade < 128 { "white" } else { "black" };
            let (cx, cy) = (left + cell * j as f64, top + cell * i as f64);
            let _ = write!(
                svg,
                r#"<rect x="{cx}" y="{cy}" width="{cell}" height="{cell}" fill="rgb({shade},{shade},255)" stroke="silver"/>"#
            );
            let _ = write!(
                svg,
                r#"<text x="{}" y="{}" text-anchor="middle" fill="{text}">{count}</text>"#,
                cx + cell / 2.0,
                cy + cell * 0.6
            );
        }
    }
    svg.push_str("</svg>");
    svg
}
