//! Evaluating a model: a split through the eval pipeline, and a finished run's newest
//! checkpoint recomputed and compared with what the run recorded (`cifar-repro eval`).

use super::error::TrainError;
use crate::augment::{AugmentConfig, Backend, BatchPlan, Pipeline};
use crate::config::{LoopConfig, TrainConfig};
use crate::data::{Cifar10, NUM_CLASSES};
use crate::determinism::SeedTree;
use crate::manifest::RunStatus;
use crate::metrics::{Metrics, Tally};
use crate::model::{Autocast, Model};
use crate::run_dir::RunDir;
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

/// Evaluates `net` on a split; returns the metrics and every prediction.
pub fn evaluate(
    net: &dyn ModuleT,
    images: &Tensor,
    labels: &Tensor,
    augment: &AugmentConfig,
    run: &LoopConfig,
    device: Device,
) -> Result<(Metrics, Vec<i64>), TrainError> {
    let _guard = tch::no_grad_guard();
    let n = labels.size()[0] as usize;
    let pipeline = Pipeline::new(
        images,
        labels,
        eval_augment(augment),
        SeedTree::new(0),
        Backend::cpu_all_cores(),
    );
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
        let logits = net.forward_t(&images, false);
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
        &model.net,
        &data.test.images.narrow(0, 0, used),
        &data.test.labels.narrow(0, 0, used),
        &config.augment,
        &config.loop_,
        device,
    )
}

/// A run's newest checkpoint, evaluated again.
#[derive(Debug, Clone)]
pub struct Recomputed {
    /// The checkpoint evaluated.
    pub checkpoint: PathBuf,
    /// The epoch (counted from 1) the checkpoint was written after.
    pub epoch: usize,
    /// Whether that epoch is the run's last (the run completed).
    pub is_final: bool,
    /// The test metrics computed now.
    pub metrics: Metrics,
    /// The test metrics the run recorded for that epoch.
    pub recorded: Option<Metrics>,
    /// How the test set evaluated differs from the run's (its SHA-256), when it does:
    /// the metrics are then not comparable with the record.
    pub other_test_set: Option<String>,
}

impl Recomputed {
    /// The first test metric that differs from the run's record, with both values; none
    /// when every one agrees (the loss within 1e-6 relative, as a sum over batches may round
    /// differently on another device or thread count; everything else exactly).
    pub fn difference(&self) -> Option<String> {
        let Some(r) = &self.recorded else {
            return Some("the run recorded no test metrics for that epoch".into());
        };
        let m = &self.metrics;
        let exact = [
            ("count", r.count as f64, m.count as f64),
            ("accuracy", r.accuracy, m.accuracy),
            ("accuracy_ci95[0]", r.accuracy_ci95[0], m.accuracy_ci95[0]),
            ("accuracy_ci95[1]", r.accuracy_ci95[1], m.accuracy_ci95[1]),
            ("macro_precision", r.macro_precision, m.macro_precision),
            ("macro_recall", r.macro_recall, m.macro_recall),
            ("macro_f1", r.macro_f1, m.macro_f1),
        ];
        if let Some((name, x, y)) = exact.into_iter().find(|(_, x, y)| x != y) {
            return Some(format!("{name}: recorded {x}, recomputed {y}"));
        }
        if r.per_class_accuracy != m.per_class_accuracy || r.confusion != m.confusion {
            return Some("per-class accuracy or the confusion matrix".into());
        }
        let loss_agrees = (r.loss - m.loss).abs() <= 1e-6 * r.loss.abs().max(1.0)
            || (r.loss.is_nan() && m.loss.is_nan());
        (!loss_agrees).then(|| format!("loss: recorded {}, recomputed {}", r.loss, m.loss))
    }
}

/// Evaluates the newest checkpoint of the run in `dir` on the test split of `data`
/// (default: the run's data), after checking the folder and the checkpoint's hashes.
pub fn recompute(
    dir: &RunDir,
    data: Option<&Path>,
    device: Device,
) -> Result<Recomputed, TrainError> {
    let manifest = dir.manifest()?;
    let mut config = manifest.config.clone();
    config.model.pretrained = None;
    let checkpoint = dir.final_checkpoint()?;
    let mut model = Model::new(&config.model, device, 0)?;
    model.set_memory_format(config.loop_.memory_format);
    checkpoint.load_model(&mut model)?;
    let data = Cifar10::load(data.unwrap_or(&config.data))?;
    let other_test_set = test_set_difference(&manifest.data.files, &data.files);
    let (metrics, _) = evaluate_test(&model, &data, &config, device)?;
    let epoch = checkpoint.state.epochs_done;
    let recorded = manifest
        .epochs
        .get(epoch.wrapping_sub(1))
        .map(|e| e.test.clone());
    Ok(Recomputed {
        checkpoint: checkpoint.dir,
        epoch,
        is_final: manifest.status == RunStatus::Completed && epoch == manifest.epochs.len(),
        metrics,
        recorded,
        other_test_set,
    })
}

/// How the test batch in `now` differs from the one the run recorded, if it does.
fn test_set_difference(
    recorded: &[crate::data::FileSummary],
    now: &[crate::data::FileSummary],
) -> Option<String> {
    let test = |files: &[crate::data::FileSummary]| {
        files
            .iter()
            .find(|f| f.name.ends_with("test_batch.bin"))
            .map(|f| f.sha256.clone())
    };
    let (was, is) = (test(recorded), test(now));
    (was != is).then(|| {
        let short =
            |d: Option<String>| d.map_or("none".into(), |d| d[..12.min(d.len())].to_owned());
        format!(
            "its test_batch.bin has SHA-256 {}..., the run's {}...",
            short(is),
            short(was)
        )
    })
}
