//! A run's whole configuration (TOML, unknown keys rejected with their line) and the
//! built-in presets for the report's experiments. Each component owns its own section's
//! type (`ModelConfig`, `OptimConfig`, `AugmentConfig`); this layer puts them together,
//! below everything that runs, records or compares a run.

use crate::augment::AugmentConfig;
pub use crate::determinism::Determinism;
use crate::determinism::SourceRoots;

mod presets;
mod resolve;
pub use crate::model::MAX_WIDTH;
use crate::model::{MemoryFormat, ModelConfig, Precision};
use crate::optim::{OptimConfig, Schedule};
pub use presets::TRAIN_PRESETS;
pub use resolve::{
    MAX_CHAIN, Resolved, RunSpec, recipe_difference, resolve, same_recipe, set_override,
};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where preprocessing runs: the CPU kernels, or batched ops on the training device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Preprocess {
    /// The CPU kernels on every core.
    Cpu,
    /// Batched tensor ops on the training device.
    Device,
}

/// The device to train on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// CUDA when libtorch sees it, else the CPU.
    Auto,
    /// The CPU.
    Cpu,
    /// The first CUDA device; an error without one.
    Cuda,
}

pub(crate) fn default_eval_batch() -> usize {
    256
}

pub(crate) fn default_trace_every() -> usize {
    10
}

/// The loop's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoopConfig {
    /// Passes over the training images.
    pub epochs: usize,
    /// Training images per step (the last partial batch is dropped).
    pub batch_size: usize,
    /// The root of the seed tree.
    pub seed: u64,
    /// Where to train.
    pub device: DeviceChoice,
    /// libtorch intra-op threads (0: libtorch's default).
    #[serde(default)]
    pub threads: usize,
    /// How much nondeterminism libtorch may use.
    pub determinism: Determinism,
    /// Which backend augments the training batches.
    pub preprocess: Preprocess,
    /// Test images per forward pass.
    #[serde(default = "default_eval_batch")]
    pub eval_batch_size: usize,
    /// Record the loss and a cheap weights hash every this many steps.
    #[serde(default = "default_trace_every")]
    pub trace_every: usize,
    /// Train on the first N training images only (quick runs); none: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_limit: Option<usize>,
    /// Roots of their own for some sources of randomness (`init`, `order`, `augment`,
    /// `mix`), so that a variance study varies one while the rest keep `seed`'s.
    #[serde(default, skip_serializing_if = "SourceRoots::is_empty")]
    pub sources: SourceRoots,
    /// Multiply one weight, drawn from this seed's `poke` stream, by 1 + 1e-3 right after
    /// initialisation: the numerics arm of a variance study on a CPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poke: Option<u64>,
    /// Checkpoints kept: the newest and the ones before it, in case the newest is damaged
    /// (written only when not the default, 2).
    #[serde(default = "default_checkpoints_kept", skip_serializing_if = "is_two")]
    pub checkpoints_kept: usize,
    /// Evaluate on the first N test images only (quick runs, rehearsals); none: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_limit: Option<usize>,
    /// The model's and the batches' memory format (written only when not the default,
    /// so a default config's TOML, hash and audit run key are as before).
    #[serde(default, skip_serializing_if = "is_default")]
    pub memory_format: MemoryFormat,
    /// fp32, or bf16 autocast with fp32 weights and optimiser (written only when not the
    /// default).
    #[serde(default, skip_serializing_if = "is_default")]
    pub precision: Precision,
}

pub(crate) fn default_checkpoints_kept() -> usize {
    2
}

fn is_two(value: &usize) -> bool {
    *value == 2
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
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
    /// Start from the final weights of another run of the same seed and data (two-stage
    /// training, E6): a preset or config file with overrides, like a claim's run. `train`
    /// takes that run's folder with `--init-from`; an audit trains it first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<RunSpec>,
    /// The `[model]` section.
    pub model: ModelConfig,
    /// The `[augment]` section.
    pub augment: AugmentConfig,
    /// The `[optim]` section.
    pub optim: OptimConfig,
    /// The `[schedule]` section.
    pub schedule: Schedule,
    /// The `[loop]` section.
    #[serde(rename = "loop")]
    pub loop_: LoopConfig,
}

/// A config that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No preset has this name.
    #[error("unknown preset {0:?}; known: {known}", known = TRAIN_PRESETS.join(", "))]
    UnknownPreset(String),
    /// The TOML does not parse or has unknown keys (with the line).
    #[error("{0}")]
    Toml(String),
    /// A value out of its range, or keys that contradict each other.
    #[error("config: {0}")]
    Invalid(String),
    /// A config TOML cannot hold.
    #[error("cannot write the config as TOML: {0}")]
    Serialize(String),
    /// A config file that cannot be read or is not a config.
    #[error("{}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A preset or file that is no longer valid with its overrides.
    #[error("{0} with overrides: {1}")]
    Overridden(String, Box<ConfigError>),
    /// `init_from` runs that loop or chain too far.
    #[error(
        "init_from: the chain {0} comes back to a run or is longer than 8 runs; each run must start from a different one"
    )]
    Chain(String),
}

impl TrainConfig {
    /// Reads a config file's TOML; errors name the key and line.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        if let Some(found) = crate::text::non_finite_number(text) {
            return Err(ConfigError::Toml(found.to_string()));
        }
        let config: Self = toml::from_str(text)
            .map_err(|e| ConfigError::Toml(crate::text::toml_error(text, &e)))?;
        if let Some(found) = crate::text::non_finite_number(&config.to_toml()?) {
            return Err(ConfigError::Invalid(format!(
                "{} = {}: too large for the 32-bit number it is kept in",
                found.key, found.literal
            )));
        }
        config.validate()?;
        Ok(config)
    }

    /// The resolved TOML (every default filled in). It feeds `config_sha256` and the
    /// audit's run keys, so a failure is an error, never an empty string.
    pub fn to_toml(&self) -> Result<String, ConfigError> {
        toml::to_string(self).map_err(|e| ConfigError::Serialize(e.to_string()))
    }

    /// Checks what serde cannot: every number is in its range, and the run fits this
    /// machine (threads, memory). Each error names the key and the allowed range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.augment
            .validate()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let r = &self.loop_;
        // TOML integers are i64: a larger seed could not be written to config.toml.
        in_range("loop.seed", r.seed, 0..=i64::MAX as u64)?;
        in_range("loop.epochs", r.epochs, 1..=100_000)?;
        in_range("loop.batch_size", r.batch_size, 2..=65_536)?;
        in_range("loop.eval_batch_size", r.eval_batch_size, 1..=65_536)?;
        in_range("loop.trace_every", r.trace_every, 1..=1_000_000_000)?;
        if let Some(limit) = r.train_limit.filter(|&l| l < r.batch_size) {
            return Err(ConfigError::Invalid(format!(
                "loop.train_limit = {limit} is out of range: it must be at least loop.batch_size ({})",
                r.batch_size
            )));
        }
        in_range("loop.checkpoints_kept", r.checkpoints_kept, 1..=1000)?;
        let seeds = [
            r.poke,
            r.sources.init,
            r.sources.order,
            r.sources.augment,
            r.sources.mix,
        ];
        for seed in seeds.into_iter().flatten() {
            in_range("loop.poke / loop.sources", seed, 0..=i64::MAX as u64)?;
        }
        if let Some(limit) = r.test_limit {
            in_range("loop.test_limit", limit, 1..=usize::MAX)?;
        }
        check_threads(r.threads).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let invalid = |e: &dyn std::fmt::Display| ConfigError::Invalid(e.to_string());
        self.model.validate().map_err(|e| invalid(&e))?;
        self.optim.validate().map_err(|e| invalid(&e))?;
        self.schedule
            .validate(r.epochs, self.optim.lr)
            .map_err(|e| invalid(&e))?;
        Ok(())
    }

    /// The training images a run uses out of `available` (`loop.train_limit`).
    pub fn train_images_used(&self, available: usize) -> usize {
        self.loop_.train_limit.unwrap_or(available).min(available)
    }

    /// The test images a run evaluates out of `available` (`loop.test_limit`).
    pub fn test_images_used(&self, available: usize) -> usize {
        self.loop_.test_limit.unwrap_or(available).min(available)
    }

    /// The optimiser steps a run takes with `available` training images (full batches).
    pub fn steps(&self, available: usize) -> usize {
        self.loop_.epochs * (self.train_images_used(available) / self.loop_.batch_size.max(1))
    }

    /// Bytes a run needs at its peak on the CPU: weights, gradients and two optimiser
    /// slots per parameter, plus the larger of what a training step keeps for its batch
    /// and what evaluation holds (a few of its largest layer's outputs per image).
    pub fn estimated_training_bytes(&self) -> u64 {
        self.memory_peak().0
    }

    /// The estimated peak bytes, and whether a training step or an evaluation batch
    /// reaches it (each named with its batch size).
    pub fn memory_peak(&self) -> (u64, String) {
        let side = self.augment.output_side();
        let footprint = self.model.footprint(side);
        let train = (self.loop_.batch_size as u64).saturating_mul(footprint.activations_per_image);
        let eval = (self.loop_.eval_batch_size as u64)
            .saturating_mul(footprint.largest_activation.saturating_mul(3));
        let bytes = |activations: u64| {
            4u64.saturating_mul(
                footprint
                    .parameters
                    .saturating_mul(4)
                    .saturating_add(activations),
            )
        };
        match train >= eval {
            true => (
                bytes(train),
                format!("a training step of batch {}", self.loop_.batch_size),
            ),
            false => (
                bytes(eval),
                format!(
                    "an evaluation batch of {} (loop.eval_batch_size)",
                    self.loop_.eval_batch_size
                ),
            ),
        }
    }
}

fn in_range<T: crate::text::Shown>(
    key: &str,
    value: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<(), ConfigError> {
    crate::text::in_range(key, value, range).map_err(ConfigError::Invalid)
}

/// A thread count above the cores this process may use.
#[derive(Debug, thiserror::Error)]
#[error(
    "loop.threads = {asked} is out of range: allowed 0..={max} (0: libtorch's default; at most the {max} cores this process may use)"
)]
pub struct TooManyThreads {
    /// The threads asked for.
    pub asked: usize,
    /// The cores this process may use.
    pub max: usize,
}

/// Refuses a thread count above the cores this process may use.
pub fn check_threads(asked: usize) -> Result<(), TooManyThreads> {
    let max = crate::runtime::available_cores();
    if asked > max {
        return Err(TooManyThreads { asked, max });
    }
    Ok(())
}
