//! Evaluating a model: a split through the eval pipeline, and a finished run's newest
//! checkpoint recomputed and compared with what the run recorded (`cifar-repro eval`).

use super::run_dir::RunDir;
use super::trainer::TrainError;
use crate::augment::{AugmentConfig, Backend, BatchPlan, Pipeline};
use crate::config::{LoopConfig, TrainConfig};
use crate::data::{Cifar10, NUM_CLASSES};
use crate::determinism::SeedTree;
use crate::manifest::Manifest;
use crate::metrics::{Metrics, Tally};
use crate::model::{Autocast, Model};
use std::path::{Path, PathBuf};
use tch::nn::ModuleT;
use tch::{Device, Tensor};

/// The eval pipeline of a training pipeline: its resize and normalisation, nothing random.
pub fn eval_augment(config: &AugmentConfig) -> AugmentConfig {
    AugmentConfig {
        crop: None,
        hflip: None,
        jitter: None,
        erasing: None,
        mixup: None,
        cutmix: None,
        resize: config.resize,
        normalize: config.normalize.clone(),
    }
}

/// Evaluates `model` on a split; returns the metrics and every prediction.
pub fn evaluate(
    model: &Model,
    images: &Tensor,
    labels: &Tensor,
    augment: &AugmentConfig,
    run: &LoopConfig,
    device: Device,
) -> Result<(Metrics, Vec<i64>), TrainError> {
    let _guard = tch::no_grad_guard();
    let n = labels.size()[0] as usize;
    let pipeline = Pipeline {
        images: images.shallow_clone(),
        labels: labels.shallow_clone(),
        config: eval_augment(augment),
        tree: SeedTree::new(0),
        backend: Backend::cpu_all_cores(),
    };
    let plan = BatchPlan {
        epoch: 0,
        order: (0..n).collect(),
        batch_size: run.eval_batch_size,
        drop_last: false,
    };
    let mut tally = Tally::new(NUM_CLASSES);
    let mut predictions = Vec::with_capacity(n);
    for batch in pipeline.prefetch(plan, 2) {
        let batch = batch?;
        let images = run
            .memory_format
            .apply(&batch.augmented.images.to_device(device));
        let labels = batch.augmented.labels.to_device(device);
        let _autocast = Autocast::enter(run.precision, device);
        let logits = model.net.forward_t(&images, false);
        let loss = logits.cross_entropy_for_logits(&labels).double_value(&[]);
        tally.add(&logits, &labels, loss)?;
        predictions.extend(Vec::<i64>::try_from(
            logits.argmax(1, false).to_device(Device::Cpu),
        )?);
    }
    Ok((tally.metrics(), predictions))
}

/// Evaluates `model` on the test split of `data` with `config`'s eval pipeline.
pub fn evaluate_test(
    model: &Model,
    data: &Cifar10,
    config: &TrainConfig,
    device: Device,
) -> Result<(Metrics, Vec<i64>), TrainError> {
    let used = config.test_images_used(data.test.len()) as i64;
    evaluate(
        model,
        &data.test.images.narrow(0, 0, used),
        &data.test.labels.narrow(0, 0, used),
        &config.augment,
        &config.run,
        device,
    )
}

/// A run's newest checkpoint, evaluated again.
#[derive(Debug, Clone)]
pub struct Recomputed {
    pub checkpoint: PathBuf,
    pub metrics: Metrics,
    /// The test metrics the run recorded for that epoch.
    pub recorded: Option<Metrics>,
}

impl Recomputed {
    /// Whether the recomputed metrics match the recorded ones (the same confusion matrix,
    /// the loss within 1e-6 relative); `None` when the run recorded none.
    pub fn matches(&self) -> Option<bool> {
        self.recorded.as_ref().map(|r| {
            r.confusion == self.metrics.confusion
                && (r.loss - self.metrics.loss).abs() <= 1e-6 * r.loss.abs().max(1.0)
        })
    }
}

/// Evaluates the newest checkpoint of the run in `dir` (whose manifest is `manifest`) on
/// the test split of `data` (default: the run's data), after checking its hashes.
pub fn recompute(
    dir: &RunDir,
    manifest: &Manifest,
    data: Option<&Path>,
    device: Device,
) -> Result<Recomputed, TrainError> {
    let mut config = manifest.config.clone();
    config.model.pretrained = None;
    let checkpoint = dir
        .newest_checkpoint()
        .ok_or_else(|| TrainError::NoCheckpoint(dir.path().to_owned()))?;
    super::checkpoint::verify(&checkpoint)?;
    let mut model = Model::new(&config.model, device, 0)?;
    model.set_memory_format(config.run.memory_format);
    model.load(&checkpoint.join("model.safetensors"), false)?;
    let data = Cifar10::load(data.unwrap_or(&config.data))?;
    let (metrics, _) = evaluate_test(&model, &data, &config, device)?;
    let recorded = manifest
        .epochs
        .iter()
        .find(|e| e.epoch + 1 == manifest.epochs.len())
        .map(|e| e.test.clone());
    Ok(Recomputed {
        checkpoint,
        metrics,
        recorded,
    })
}
