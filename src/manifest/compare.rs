//! Comparing two runs' manifests (`verify`): are they bit-identical, and if not, where did they first part?
//!
//! Inputs (config, data files) are compared first; then epoch by epoch the data order,
//! the augmentation parameters, the step trace (loss and weights digest), the weights
//! after the epoch and the metrics. Differences in the environment (versions, device,
//! determinism flags, thread count) are not divergences themselves but the likely causes
//! of one.

use crate::manifest::{EpochRecord, Manifest, RunStatus};
use serde::Serialize;

/// The stage at which two runs first part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Their configs (other than where the data lies, the device and the thread count).
    Config,
    /// The data files' SHA-256.
    DataFiles,
    /// The weights before the first step.
    InitialWeights,
    /// An epoch's data order.
    DataOrder,
    /// An epoch's augmentation parameters.
    Augmentation,
    /// The loss at a traced step.
    Loss,
    /// The weights digest at a traced step, or the weights after an epoch.
    Weights,
    /// An epoch's metrics.
    Metrics,
    /// One run has more epochs than the other, or another status.
    Length,
}

impl Stage {
    /// What differed, in words.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Config => "config",
            Stage::DataFiles => "data files",
            Stage::InitialWeights => "initial weights",
            Stage::DataOrder => "data order",
            Stage::Augmentation => "augmentation parameters",
            Stage::Loss => "loss",
            Stage::Weights => "weights",
            Stage::Metrics => "metrics",
            Stage::Length => "length",
        }
    }

    /// The verb its name takes: "weights differ", "config differs".
    fn differ(self) -> &'static str {
        match self {
            Stage::DataFiles
            | Stage::InitialWeights
            | Stage::Augmentation
            | Stage::Weights
            | Stage::Metrics => "differ",
            _ => "differs",
        }
    }
}

/// Where two runs first differ.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FirstDifference {
    /// Epoch (1-based, as logs and checkpoints count), when inside training.
    pub epoch: Option<usize>,
    /// Global optimiser step (after this many updates), when the trace pins it.
    pub step: Option<usize>,
    /// What differs.
    pub stage: Stage,
    /// The two values, or what of them differs.
    pub detail: String,
}

impl FirstDifference {
    /// "at epoch 2, step 9: weights differ (...)", or "before training: config differs
    /// (...)".
    pub fn describe(&self) -> String {
        let place = match (self.epoch, self.step) {
            (None, _) => "before training".to_owned(),
            (Some(e), None) => format!("at epoch {e}"),
            (Some(e), Some(s)) => format!("at epoch {e}, step {s}"),
        };
        format!(
            "{place}: {} {} ({})",
            self.stage.name(),
            self.stage.differ(),
            self.detail
        )
    }
}

/// The outcome of comparing two runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The first difference; none when the runs are identical.
    pub divergence: Option<FirstDifference>,
    /// Environment differences, each a sentence ("thread count differs: 1 vs 2").
    pub environment: Vec<String>,
    /// Epochs both runs have.
    pub epochs_compared: usize,
}

impl Comparison {
    /// The likely cause of the divergence.
    pub fn likely_cause(&self, a: &Manifest, b: &Manifest) -> String {
        let Some(d) = &self.divergence else {
            return String::new();
        };
        let unfinished = [a, b].iter().any(|m| m.status == RunStatus::Running);
        match d.stage {
            Stage::Config if d.detail.starts_with("loop.precision") || d.detail.starts_with("loop.memory_format") => format!(
                "{}: the runs compute in a different precision or memory format, whose kernels round differently; give both the same --precision and --memory-format",
                d.detail
            ),
            Stage::Config | Stage::DataFiles => "the runs were given different inputs".into(),
            Stage::Length if unfinished => {
                "one run is unfinished (status running): finish it with `train --resume` before comparing".into()
            }
            Stage::Length => "one run stopped early (diverged) or trained more epochs".into(),
            _ => match self.environment.first() {
                Some(first) => first.clone(),
                None if a.device.eq_ignore_ascii_case("cpu") => "the environments recorded are the same, and on a CPU libtorch's kernels give the same bits at a fixed thread count: something cifar-repro does not record differs (a system library, the hardware); run both again on one machine".into(),
                None if a.determinism.mode != crate::determinism::Determinism::Strict => format!(
                    "determinism mode is {}: libtorch may pick non-deterministic GPU kernels; rerun both with --determinism strict",
                    format!("{:?}", a.determinism.mode).to_lowercase()
                ),
                None => "an operation without a deterministic kernel, or hardware differences, in strict mode".into(),
            },
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

/// The first differing key of two configs, as a dotted path. Where the data lies is not
/// compared (its files are, by hash); the thread count and device are left to the
/// environment check, which names them as causes.
fn config_difference(a: &Manifest, b: &Manifest) -> Option<String> {
    // How the model computes first: it decides every number, and its defaults are not
    // written into a config's TOML.
    let (p, q) = (&a.config.loop_, &b.config.loop_);
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
        config.loop_.threads = 0;
        config.loop_.device = crate::config::DeviceChoice::Auto;
        config.data = std::path::PathBuf::new();
        config.description = String::new();
        serde_json::to_value(config).ok()
    };
    let (x, y) = (comparable(a)?, comparable(b)?);
    json_difference("", &x, &y)
}

/// The first dotted key at which two JSON values differ, with both values.
fn json_difference(path: &str, x: &serde_json::Value, y: &serde_json::Value) -> Option<String> {
    match (x, y) {
        (serde_json::Value::Object(p), serde_json::Value::Object(q)) => {
            let mut keys: Vec<&String> = p.keys().chain(q.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|k| {
                let null = serde_json::Value::Null;
                let sub = match path {
                    "" => k.clone(),
                    _ => format!("{path}.{k}"),
                };
                json_difference(&sub, p.get(k).unwrap_or(&null), q.get(k).unwrap_or(&null))
            })
        }
        _ if x != y => Some(format!("{path}: {x} vs {y}")),
        _ => None,
    }
}

fn before(stage: Stage, detail: String) -> FirstDifference {
    FirstDifference {
        epoch: None,
        step: None,
        stage,
        detail,
    }
}

/// The first data file whose name or SHA-256 differs.
fn data_difference(a: &Manifest, b: &Manifest) -> Option<String> {
    let files = |m: &Manifest| {
        m.data
            .files
            .iter()
            .map(|f| (f.name.clone(), f.sha256.clone()))
            .collect::<Vec<_>>()
    };
    let (x, y) = (files(a), files(b));
    if x.len() != y.len() {
        return Some(format!("{} files vs {}", x.len(), y.len()));
    }
    x.into_iter()
        .zip(y)
        .find(|(p, q)| p != q)
        .map(|((name, x), (_, y))| format!("{name}: SHA-256 {x} vs {y}"))
}

/// Where epoch `x` and `y` (the same epoch of two runs) first differ.
fn epoch_difference(x: &EpochRecord, y: &EpochRecord) -> Option<FirstDifference> {
    let at = |step, stage, detail| {
        Some(FirstDifference {
            epoch: Some(x.epoch + 1),
            step,
            stage,
            detail,
        })
    };
    if x.order_sha256 != y.order_sha256 {
        let detail = format!("order SHA-256 {} vs {}", x.order_sha256, y.order_sha256);
        return at(None, Stage::DataOrder, detail);
    }
    if x.augment_sha256 != y.augment_sha256 {
        let detail = format!("SHA-256 {} vs {}", x.augment_sha256, y.augment_sha256);
        return at(None, Stage::Augmentation, detail);
    }
    if let Some((p, q)) = x.trace.iter().zip(&y.trace).find(|(p, q)| p != q) {
        let stage = if p.loss != q.loss {
            Stage::Loss
        } else {
            Stage::Weights
        };
        let detail = format!(
            "at step {}: loss {} vs {}, weights digest {} vs {}",
            p.step, p.loss, q.loss, p.weights_digest, q.weights_digest
        );
        return at(Some(p.step), stage, detail);
    }
    if x.weights_sha256 != y.weights_sha256 {
        let detail = format!(
            "weights SHA-256 after the epoch {} vs {}",
            x.weights_sha256, y.weights_sha256
        );
        return at(None, Stage::Weights, detail);
    }
    if !same(&x.train, &y.train) || !same(&x.test, &y.test) {
        let detail = format!(
            "test accuracy {} vs {}, loss {} vs {}",
            x.test.accuracy, y.test.accuracy, x.test.loss, y.test.loss
        );
        return at(None, Stage::Metrics, detail);
    }
    None
}

/// Whether two records are the same as written (NaN equals NaN: a diverged run's loss is
/// the same in two identical runs).
fn same<T: Serialize>(a: &T, b: &T) -> bool {
    match (serde_json::to_value(a), serde_json::to_value(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Where `a` and `b` first differ, and how many epochs were compared to find it.
fn first_difference(a: &Manifest, b: &Manifest) -> (Option<FirstDifference>, usize) {
    if let Some(d) = config_difference(a, b) {
        return (Some(before(Stage::Config, d)), 0);
    }
    if let Some(d) = data_difference(a, b) {
        return (Some(before(Stage::DataFiles, d)), 0);
    }
    if let (Some(x), Some(y)) = (&a.initial_weights_sha256, &b.initial_weights_sha256)
        && x != y
    {
        let detail = format!("SHA-256 {x} vs {y}");
        return (Some(before(Stage::InitialWeights, detail)), 0);
    }
    for (i, (x, y)) in a.epochs.iter().zip(&b.epochs).enumerate() {
        if let Some(d) = epoch_difference(x, y) {
            return (Some(d), i + 1);
        }
    }
    let compared = a.epochs.len().min(b.epochs.len());
    if a.epochs.len() != b.epochs.len() || a.status != b.status {
        let detail = format!(
            "{} epochs ({:?}) vs {} epochs ({:?})",
            a.epochs.len(),
            a.status,
            b.epochs.len(),
            b.status
        );
        let d = FirstDifference {
            epoch: Some(compared + 1),
            step: None,
            stage: Stage::Length,
            detail,
        };
        return (Some(d), compared);
    }
    (None, compared)
}

/// Compares run `a` with run `b`.
pub fn compare(a: &Manifest, b: &Manifest) -> Comparison {
    let (divergence, epochs_compared) = first_difference(a, b);
    Comparison {
        divergence,
        environment: environment(a, b),
        epochs_compared,
    }
}
