//! Comparing two runs' manifests (`verify`): are they bit-identical, and if not, where did they first part?
//!
//! Inputs (config, data files) are compared first; then epoch by epoch the data order,
//! the augmentation parameters, the step trace (loss and weights digest), the weights
//! after the epoch and the metrics. Differences in the environment (versions, device,
//! determinism flags, thread count) are not divergences themselves but the likely causes
//! of one.

use crate::manifest::Manifest;
use serde::Serialize;

/// Where two runs first differ.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FirstDifference {
    /// Epoch (0-based), when inside training.
    pub epoch: Option<usize>,
    /// Global optimiser step (after this many updates), when the trace pins it.
    pub step: Option<usize>,
    /// What differed first: config, data files, data order, augmentation parameters,
    /// weights, metrics, length.
    pub what: String,
    pub detail: String,
}

/// The outcome of comparing two runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub divergence: Option<FirstDifference>,
    /// Environment differences, each a sentence ("thread count differs: 1 vs 2").
    pub environment: Vec<String>,
    pub epochs_compared: usize,
}

impl Comparison {
    /// The likely cause of the divergence.
    pub fn likely_cause(&self, a: &Manifest) -> String {
        if let Some(first) = self.environment.first() {
            return first.clone();
        }
        match &self.divergence {
            Some(d) if d.what == "config" && (d.detail.starts_with("loop.precision") || d.detail.starts_with("loop.memory_format")) => format!(
                "{}: the runs compute in a different precision or memory format, whose kernels round differently; give both the same --precision and --memory-format",
                d.detail
            ),
            Some(d) if d.what == "config" || d.what == "data files" => "the runs were given different inputs".into(),
            _ if a.determinism.mode != crate::determinism::Determinism::Strict => format!(
                "determinism mode is {:?}: libtorch may pick non-deterministic kernels; rerun both with --determinism strict",
                a.determinism.mode
            ),
            _ => "an operation without a deterministic kernel, or hardware differences, in strict mode".into(),
        }
    }
}

/// Environment differences, most specific first: the first one is named as the likely
/// cause of a divergence.
fn environment(a: &Manifest, b: &Manifest) -> Vec<String> {
    let flags = |m: &Manifest| crate::determinism::Flags {
        threads: 0,
        ..m.determinism.clone()
    };
    let class = |m: &Manifest| {
        m.numerics
            .as_ref()
            .map_or("unrecorded".to_owned(), |c| c.name.clone())
    };
    let pairs = [
        (
            "thread count",
            a.determinism.threads.to_string(),
            b.determinism.threads.to_string(),
        ),
        ("device", a.device.clone(), b.device.clone()),
        (
            "determinism mode",
            format!("{:?}", a.determinism.mode),
            format!("{:?}", b.determinism.mode),
        ),
        (
            "determinism flags",
            format!("{:?}", flags(a)),
            format!("{:?}", flags(b)),
        ),
        (
            "libtorch version",
            a.runtime.libtorch_version.clone(),
            b.runtime.libtorch_version.clone(),
        ),
        ("numerics class", class(a), class(b)),
        (
            "CPU capability",
            a.runtime.cpu_capability.clone(),
            b.runtime.cpu_capability.clone(),
        ),
        (
            "cifar-repro version",
            a.runtime.crate_version.clone(),
            b.runtime.crate_version.clone(),
        ),
        (
            "cuDNN version",
            format!("{:?}", a.runtime.cudnn_version),
            format!("{:?}", b.runtime.cudnn_version),
        ),
    ];
    pairs
        .into_iter()
        .filter(|(_, x, y)| x != y)
        .map(|(name, x, y)| match name {
            "numerics class" => format!(
                "numerics class differs: {x} vs {y} (the two machines' kernels round differently)"
            ),
            _ => format!("{name} differs: {x} vs {y}"),
        })
        .collect()
}

/// The first differing key of two configs, as a dotted path. The thread count and device
/// are left to the environment check, which names them as causes.
fn config_difference(a: &Manifest, b: &Manifest) -> Option<String> {
    // How the model computes first: it decides every number, and its defaults are not
    // written into a config's TOML.
    let (p, q) = (&a.config.run, &b.config.run);
    let spelled = |value: serde_json::Result<serde_json::Value>| {
        value.map_or_else(|e| e.to_string(), |v| v.to_string())
    };
    for (key, x, y) in [
        (
            "precision",
            serde_json::to_value(p.precision),
            serde_json::to_value(q.precision),
        ),
        (
            "memory_format",
            serde_json::to_value(p.memory_format),
            serde_json::to_value(q.memory_format),
        ),
    ] {
        let (x, y) = (spelled(x), spelled(y));
        if x != y {
            return Some(format!("loop.{key}: {x} vs {y}"));
        }
    }
    let comparable = |m: &Manifest| {
        let mut config = m.config.clone();
        config.run.threads = 0;
        config.run.device = crate::config::DeviceChoice::Auto;
        serde_json::to_value(config).ok()
    };
    let (x, y) = (comparable(a)?, comparable(b)?);
    fn walk(path: &str, x: &serde_json::Value, y: &serde_json::Value) -> Option<String> {
        match (x, y) {
            (serde_json::Value::Object(p), serde_json::Value::Object(q)) => {
                let mut keys: Vec<&String> = p.keys().chain(q.keys()).collect();
                keys.sort();
                keys.dedup();
                keys.into_iter().find_map(|k| {
                    let null = serde_json::Value::Null;
                    let sub = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(&sub, p.get(k).unwrap_or(&null), q.get(k).unwrap_or(&null))
                })
            }
            _ if x != y => Some(format!("{path}: {x} vs {y}")),
            _ => None,
        }
    }
    walk("", &x, &y)
}

/// Compares run `a` with run `b`.
pub fn compare(a: &Manifest, b: &Manifest) -> Comparison {
    let environment = environment(a, b);
    let at = |epoch, step, what: &str, detail: String| {
        Some(FirstDifference {
            epoch,
            step,
            what: what.into(),
            detail,
        })
    };
    let mut divergence = config_difference(a, b).and_then(|d| at(None, None, "config", d));
    if divergence.is_none() {
        let files = |m: &Manifest| {
            m.data
                .files
                .iter()
                .map(|f| (f.name.clone(), f.sha256.clone()))
                .collect::<Vec<_>>()
        };
        if let Some(((name, x), (_, y))) = files(a).into_iter().zip(files(b)).find(|(p, q)| p != q)
        {
            divergence = at(
                None,
                None,
                "data files",
                format!("{name}: SHA-256 {x} vs {y}"),
            );
        }
    }
    let mut epochs_compared = 0;
    if divergence.is_none() {
        for (x, y) in a.epochs.iter().zip(&b.epochs) {
            epochs_compared += 1;
            let e = Some(x.epoch);
            if x.order_sha256 != y.order_sha256 {
                divergence = at(
                    e,
                    None,
                    "data order",
                    format!("order SHA-256 {} vs {}", x.order_sha256, y.order_sha256),
                );
            } else if x.augment_sha256 != y.augment_sha256 {
                divergence = at(
                    e,
                    None,
                    "augmentation parameters",
                    format!("SHA-256 {} vs {}", x.augment_sha256, y.augment_sha256),
                );
            } else if let Some((p, q)) = x.trace.iter().zip(&y.trace).find(|(p, q)| p != q) {
                let what = if p.loss != q.loss { "loss" } else { "weights" };
                let detail = format!(
                    "at step {}: loss {} vs {}, weights digest {} vs {}",
                    p.step, p.loss, q.loss, p.weights_digest, q.weights_digest
                );
                divergence = at(e, Some(p.step), what, detail);
            } else if x.weights_sha256 != y.weights_sha256 {
                divergence = at(
                    e,
                    None,
                    "weights",
                    format!(
                        "weights SHA-256 after the epoch {} vs {}",
                        x.weights_sha256, y.weights_sha256
                    ),
                );
            } else if x.train != y.train || x.test != y.test {
                divergence = at(
                    e,
                    None,
                    "metrics",
                    format!(
                        "test accuracy {} vs {}, loss {} vs {}",
                        x.test.accuracy, y.test.accuracy, x.test.loss, y.test.loss
                    ),
                );
            }
            if divergence.is_some() {
                break;
            }
        }
        if divergence.is_none() && (a.epochs.len() != b.epochs.len() || a.status != b.status) {
            divergence = at(
                Some(epochs_compared),
                None,
                "length",
                format!(
                    "{} epochs ({:?}) vs {} epochs ({:?})",
                    a.epochs.len(),
                    a.status,
                    b.epochs.len(),
                    b.status
                ),
            );
        }
    }
    Comparison {
        divergence,
        environment,
        epochs_compared,
    }
}
