//! A run's whole configuration (TOML, unknown keys rejected with their line) and the
//! built-in presets for the report's experiments.

use crate::augment::AugmentConfig;
use crate::model::{Arch, Freeze, ModelConfig, Stem};
use crate::optim::{OptimConfig, OptimKind, Schedule};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// How much of libtorch's nondeterminism is shut off (see `determinism`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Determinism {
    Strict,
    Seeded,
    Off,
}

/// Where preprocessing runs: the CPU kernels, or batched ops on the training device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preprocess {
    Cpu,
    Device,
}

/// The device to train on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    Auto,
    Cpu,
    Cuda,
}

fn default_eval_batch() -> usize {
    256
}

fn default_trace_every() -> usize {
    10
}

/// The loop's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoopConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub seed: u64,
    pub device: DeviceChoice,
    /// libtorch intra-op threads (0: libtorch's default).
    #[serde(default)]
    pub threads: usize,
    pub determinism: Determinism,
    pub preprocess: Preprocess,
    #[serde(default = "default_eval_batch")]
    pub eval_batch_size: usize,
    /// Record the loss and a cheap weights hash every this many steps.
    #[serde(default = "default_trace_every")]
    pub trace_every: usize,
    /// Train on the first N training images only (quick runs); none: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_limit: Option<usize>,
}

/// Everything a run needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// A one-line description (the preset's, or yours).
    #[serde(default)]
    pub description: String,
    /// The data set path (folder or .tar.gz); `--data` overrides it.
    pub data: PathBuf,
    pub model: ModelConfig,
    pub augment: AugmentConfig,
    pub optim: OptimConfig,
    pub schedule: Schedule,
    #[serde(rename = "loop")]
    pub run: LoopConfig,
}

/// A config that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown preset {0:?}; known: {known}", known = TRAIN_PRESETS.join(", "))]
    UnknownPreset(String),
    #[error("{0}")]
    Toml(String),
    #[error("config: {0}")]
    Invalid(String),
}

/// The built-in run presets.
pub const TRAIN_PRESETS: [&str; 8] = [
    "quickstart",
    "e1-baseline",
    "e2-regularised",
    "e3-frozen",
    "e4-finetune",
    "e5-scheduler",
    "e6-two-stage",
    "final",
];

impl TrainConfig {
    /// A built-in preset. Where the report is silent these are our documented choices:
    /// fine-tuning uses Adam at 1e-4 with batch 64; the scheduler (E5, FINAL) is cosine
    /// with one warm-up epoch; E3/E4 train 15 epochs like E1.
    pub fn preset(name: &str) -> Result<Self, ConfigError> {
        let augment =
            |p: &str| AugmentConfig::preset(p).map_err(|e| ConfigError::Invalid(e.to_string()));
        let adam = |lr: f64, weight_decay: f64| OptimConfig {
            name: OptimKind::Adam,
            lr,
            weight_decay,
            momentum: 0.0,
            nesterov: false,
            betas: [0.9, 0.999],
            eps: 1e-8,
        };
        let run = |epochs: usize, batch_size: usize| LoopConfig {
            epochs,
            batch_size,
            seed: 42,
            device: DeviceChoice::Auto,
            threads: 0,
            determinism: Determinism::Seeded,
            preprocess: Preprocess::Cpu,
            eval_batch_size: default_eval_batch(),
            trace_every: default_trace_every(),
            train_limit: None,
        };
        let scratch = ModelConfig {
            arch: Arch::Resnet50,
            stem: Stem::Cifar,
            width: 64,
            classes: 10,
            freeze: Freeze::None,
            pretrained: None,
            init_from_run: None,
        };
        let pretrained = ModelConfig {
            stem: Stem::Imagenet,
            pretrained: Some(PathBuf::from("weights/resnet50-11ad3fa6.pth")),
            ..scratch.clone()
        };
        let full = PathBuf::from("data/cifar-10-binary.tar.gz");
        let cosine = Schedule::Cosine {
            warmup_epochs: 1.0,
            min_lr: 0.0,
        };
        let e1 = TrainConfig {
            description:
                "E1: ResNet50 from scratch, normalisation only, Adam 1e-3, 15 epochs, batch 512"
                    .into(),
            data: full,
            model: scratch.clone(),
            augment: augment("e1-baseline")?,
            optim: adam(1e-3, 0.0),
            schedule: Schedule::Constant,
            run: run(15, 512),
        };
        let e4 = TrainConfig {
            description: "E4: all layers fine-tuned from the pretrained weights (Adam 1e-4, batch 64: our choice)".into(),
            model: pretrained.clone(),
            augment: augment("e3-frozen")?,
            optim: adam(1e-4, 1e-4),
            run: run(15, 64),
            ..e1.clone()
        };
        let e5 = TrainConfig {
            description:
                "E5: E4 plus a learning-rate schedule (cosine with 1 warm-up epoch: our choice)"
                    .into(),
            schedule: cosine,
            ..e4.clone()
        };
        let config = match name {
            "quickstart" => TrainConfig {
                description: "CPU-sized: ResNet-18 (width 16, CIFAR stem) on the vendored slice, E2 augmentation".into(),
                data: PathBuf::from("golden/data"),
                model: ModelConfig { arch: Arch::Resnet18, width: 16, ..scratch },
                augment: augment("e2-regularised")?,
                optim: adam(2e-3, 0.0),
                run: LoopConfig { device: DeviceChoice::Cpu, ..run(6, 64) },
                ..e1
            },
            "e1-baseline" => e1,
            "e2-regularised" => TrainConfig {
                description: "E2: E1 plus flip, crop, colour jitter and weight decay 1e-4, 40 epochs".into(),
                augment: augment("e2-regularised")?,
                optim: adam(1e-3, 1e-4),
                run: run(40, 512),
                ..e1
            },
            "e3-frozen" => TrainConfig {
                description: "E3: ImageNet-pretrained ResNet50, backbone frozen, 224x224, ImageNet normalisation".into(),
                model: ModelConfig { freeze: Freeze::Backbone, ..pretrained },
                optim: adam(1e-3, 1e-4),
                schedule: Schedule::Constant,
                run: run(15, 512),
                ..e4
            },
            "e4-finetune" => e4,
            "e5-scheduler" => e5,
            "e6-two-stage" => TrainConfig {
                description: "E6: fine-tune all layers starting from an E3 run's final weights".into(),
                model: ModelConfig { init_from_run: Some(PathBuf::from("runs/e3-frozen")), pretrained: None, ..pretrained },
                ..e5
            },
            "final" => TrainConfig {
                description: "FINAL: full fine-tuning, CPU preprocessing, 15 epochs, scheduler".into(),
                ..e5
            },
            other => return Err(ConfigError::UnknownPreset(other.to_owned())),
        };
        Ok(config)
    }

    /// Reads a config file's TOML; errors name the key and line.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text)
            .map_err(|e| ConfigError::Toml(e.to_string().trim().replace('\n', " ")))?;
        config.validate()?;
        Ok(config)
    }

    /// The resolved TOML (every default filled in).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.augment
            .validate()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let bad = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        if self.run.epochs == 0 {
            return bad("loop.epochs must be at least 1");
        }
        if self.run.batch_size < 2 {
            return bad("loop.batch_size must be at least 2 (BatchNorm needs two images)");
        }
        if !(self.optim.lr > 0.0 && self.optim.lr.is_finite()) {
            return bad("optim.lr must be positive");
        }
        if self.model.width < 1 {
            return bad("model.width must be at least 1");
        }
        Ok(())
    }
}
