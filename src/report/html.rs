//! `report.html`: a self-contained page with the run's learning curves, confusion matrix
//! and misclassified examples (pictures inlined).

use super::svg::{confusion_heatmap, learning_curves};
use crate::manifest::Manifest;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// One misclassified test image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Misclassified {
    /// Index in the test split.
    pub index: usize,
    /// The true class's name.
    pub truth: String,
    /// The predicted class's name.
    pub predicted: String,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Renders the page. `cells` are the misclassified examples' PNGs, in the order of `misclassified`.
pub fn render(
    manifest: &Manifest,
    classes: &[String],
    misclassified: &[Misclassified],
    cells: &[Vec<u8>],
) -> String {
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>cifar-repro run</title><style>body{font-family:sans-serif;margin:2em auto;max-width:70em;padding:0 1em}table{border-collapse:collapse;display:block;overflow-x:auto}td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}td{white-space:nowrap}svg{max-width:100%;height:auto}.why{font-size:14px}.grid{display:flex;flex-wrap:wrap;gap:8px}.cell{font-size:11px;text-align:center;width:80px}.cell img{width:64px;height:64px;image-rendering:pixelated}</style></head><body>",
    );
    write_summary(&mut html, manifest);
    if let Some(last) = manifest.epochs.last() {
        let t = &last.test;
        let _ = write!(
            html,
            "<h2>Final test metrics</h2><table><tr><th>accuracy</th><th>95% interval</th><th>loss</th><th>macro precision</th><th>macro recall</th><th>macro F1</th></tr><tr><td>{:.4}</td><td>{:.4} to {:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td></tr></table>",
            t.accuracy,
            t.accuracy_ci95[0],
            t.accuracy_ci95[1],
            t.loss,
            t.macro_precision,
            t.macro_recall,
            t.macro_f1
        );
        let _ = write!(
            html,
            "<h2>Learning curves</h2>{}",
            learning_curves(&manifest.epochs)
        );
        let _ = write!(
            html,
            "<h2>Confusion matrix (test, final epoch)</h2>{}",
            confusion_heatmap(&t.confusion, classes)
        );
    }
    write_misclassified(&mut html, misclassified, cells);
    write_epochs(&mut html, manifest);
    html.push_str("</table></body></html>\n");
    html
}

/// The run in one paragraph: its status, seed, device, size, data and time.
fn write_summary(html: &mut String, manifest: &Manifest) {
    let c = &manifest.config;
    let _ = write!(
        html,
        "<h1>cifar-repro run</h1><p>{}</p>",
        escape(&c.description)
    );
    let status = match manifest.status {
        crate::manifest::RunStatus::Completed => "completed",
        crate::manifest::RunStatus::Running => "running (or stopped midway)",
        crate::manifest::RunStatus::Diverged => "diverged",
    };
    let _ = write!(
        html,
        "<p>status <b>{status}</b>, seed {}, device {}, {} epochs, batch {}, {} train images used of {}, {} test images ({}), {:.1} s</p>",
        c.loop_.seed,
        escape(&manifest.device.to_lowercase()),
        manifest.epochs.len(),
        c.loop_.batch_size,
        manifest.data.train_used,
        manifest.data.train_records,
        manifest.data.test_records,
        if manifest.data.full {
            "full CIFAR-10"
        } else {
            "a sample, not the full CIFAR-10"
        },
        manifest.wall_seconds
    );
    let r = &manifest.runtime;
    let _ = write!(
        html,
        "<p class=\"why\">Ran with cifar-repro {} on libtorch {} ({} CUDA devices, CPU capability {}, {} threads), numerics class {}; config SHA-256 {}; data {}</p>",
        escape(&r.crate_version),
        escape(&r.libtorch_version),
        r.cuda_device_count,
        escape(&r.cpu_capability),
        r.threads,
        escape(
            manifest
                .numerics
                .as_ref()
                .map_or("not recorded", |n| n.name.as_str())
        ),
        escape(&manifest.config_sha256),
        escape(&manifest.data.path.display().to_string())
    );
}

/// The misclassified test images, each with its true and predicted class.
fn write_misclassified(html: &mut String, misclassified: &[Misclassified], cells: &[Vec<u8>]) {
    let _ = write!(
        html,
        "<h2>Misclassified test images ({} shown)</h2><div class=\"grid\">",
        misclassified.len()
    );
    for (m, png) in misclassified.iter().zip(cells) {
        let data = base64::engine::general_purpose::STANDARD.encode(png);
        let _ = write!(
            html,
            "<div class=\"cell\"><img src=\"data:image/png;base64,{data}\" alt=\"test image {}\"><br>#{}<br>true: {}<br>predicted: <b>{}</b></div>",
            m.index,
            m.index,
            escape(&m.truth),
            escape(&m.predicted)
        );
    }
}

/// One row per epoch: the learning rate, losses, accuracies, times and weights digest.
fn write_epochs(html: &mut String, manifest: &Manifest) {
    html.push_str("</div><h2>Epochs</h2><table><tr><th>epoch</th><th>lr</th><th>train loss</th><th>train acc</th><th>test loss</th><th>test acc</th><th>seconds</th><th>training pass s</th><th>in steps s</th><th>weights SHA-256</th></tr>");
    for e in &manifest.epochs {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{:.2e}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td><td><code>{}</code></td></tr>",
            e.epoch + 1,
            e.lr,
            e.train.loss,
            e.train.accuracy,
            e.test.loss,
            e.test.accuracy,
            e.seconds,
            e.train_seconds,
            e.step_seconds,
            &e.weights_sha256[..16]
        );
    }
}
