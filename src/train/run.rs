//! The training loop: epochs of prefetched, augmented batches; an evaluation of the test
//! split after each; fingerprints, metrics, checkpoints and the manifest as it goes.

use super::checkpoint;
use super::replay::Recorder;
use crate::augment::{AugmentConfig, AugmentError, Backend, BatchPlan, Pipeline};
use crate::config::{ConfigError, Preprocess, TrainConfig};
use crate::data::{Cifar10, NUM_CLASSES};
use crate::determinism::NumericsClass;
use crate::determinism::SeedTree;
use crate::hash::{hex, sha256_hex};
use crate::manifest::{
    DataRecord, Diverged, EpochRecord, Manifest, ManifestError, RunStatus, SeedRecord, TracePoint,
    append_metrics,
};
use crate::metrics::{Metrics, Tally};
use crate::model::{Model, ModelError};
use crate::optim::Optimizer;
use crate::runtime::RuntimeInfo;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::nn::ModuleT;
use tch::{Device, Kind, Tensor};

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Augment(#[from] AugmentError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Checkpoint(#[from] checkpoint::CheckpointError),
    #[error(
        "the loss became {loss} at epoch {epoch}, step {step}: the run diverged (manifest marked diverged); lower the learning rate"
    )]
    Diverged {
        epoch: usize,
        step: usize,
        loss: f64,
    },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{}: no checkpoint to start from (model.init_from_run)", .0.display())]
    NoStartCheckpoint(PathBuf),
    #[error("{images} training images make no full batch of {batch_size}")]
    NoFullBatch { images: usize, batch_size: usize },
    #[error("{}: {source}", dir.display())]
    OptimState { dir: PathBuf, source: tch::TchError },
    #[error("{}: optimiser state does not fit the model", .0.display())]
    OptimStateMismatch(PathBuf),
    #[error("reading a tensor back from libtorch: {0}")]
    Tensor(#[from] tch::TchError),
    #[error(
        "this run needs about {needed_gib:.1} GiB for a training step (model.width {width}, {side}x{side} images, batch {batch}) but the machine has {available_gib:.1} GiB available; lower model.width, loop.batch_size or the image size"
    )]
    TooBig {
        needed_gib: f64,
        available_gib: f64,
        width: i64,
        side: i64,
        batch: usize,
    },
    #[error(transparent)]
    Record(#[from] super::replay::RecordError),
    #[error("--record-steps records a fresh run from its first step; it cannot resume one")]
    RecordOnResume,
    #[error(
        "cannot serialise a batch's augmentation parameters for the manifest's fingerprint: {0}"
    )]
    Fingerprint(serde_json::Error),
    #[error("the numerics probe failed: {0}")]
    Probe(tch::TchError),
}

/// Receives progress as a run goes.
pub trait Observer {
    /// After each training step of an epoch.
    fn step(&mut self, epoch: usize, step: usize, steps: usize, loss: f64);
    /// After each epoch.
    fn epoch(&mut self, record: &EpochRecord, epochs: usize);
    /// Something the user should know (a refused checkpoint, a resume point).
    fn note(&mut self, message: &str);
}

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

/// The name of the stream that orders epoch `epoch`.
pub fn order_stream(epoch: usize) -> String {
    format!("order/epoch/{epoch}")
}

/// A digest of every trainable weight that costs one reduction per tensor.
fn weights_digest(params: &[(String, Tensor)]) -> String {
    let mut hasher = Sha256::new();
    for (_, p) in params {
        hasher.update(p.sum(Kind::Double).double_value(&[]).to_le_bytes());
    }
    hex(&hasher.finalize()[..8])
}

/// Mean loss of a batch: cross-entropy against labels, or against soft targets after Mixup/CutMix.
fn batch_loss(logits: &Tensor, labels: &Tensor, mixed: Option<&Tensor>) -> Tensor {
    match mixed {
        Some(targets) => (targets * logits.log_softmax(1, Kind::Float))
            .sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
            .mean(Kind::Float)
            .neg(),
        None => logits.cross_entropy_for_logits(labels),
    }
}

/// Evaluates `model` on a split; returns the metrics and every prediction.
pub fn evaluate(
    model: &Model,
    images: &Tensor,
    labels: &Tensor,
    augment: &AugmentConfig,
    batch_size: usize,
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
        batch_size,
        drop_last: false,
    };
    let mut tally = Tally::new(NUM_CLASSES);
    let mut predictions = Vec::with_capacity(n);
    for batch in pipeline.prefetch(plan, 2) {
        let batch = batch?;
        let logits = model
            .net
            .forward_t(&batch.augmented.images.to_device(device), false);
        let labels = batch.augmented.labels.to_device(device);
        let loss = logits.cross_entropy_for_logits(&labels).double_value(&[]);
        tally.add(&logits, &labels, loss)?;
        predictions.extend(Vec::<i64>::try_from(
            logits.argmax(1, false).to_device(Device::Cpu),
        )?);
    }
    Ok((tally.metrics(), predictions))
}

/// Fault injection for testing `verify`: with `CIFAR_REPRO_NUDGE_AFTER_STEP=k` in the
/// environment, one weight is nudged by 1e-3 right after optimiser step k. It is not part
/// of the config, on purpose, so that two runs differ only in their numbers.
fn injected_nudge() -> Option<usize> {
    let step = std::env::var("CIFAR_REPRO_NUDGE_AFTER_STEP")
        .ok()?
        .parse()
        .ok()?;
    tracing::warn!(
        "CIFAR_REPRO_NUDGE_AFTER_STEP={step}: one weight will be nudged after step {step} (fault injection)"
    );
    Some(step)
}

fn nudge(params: &[(String, Tensor)]) {
    let _guard = tch::no_grad_guard();
    if let Some((_, p)) = params.first() {
        let _ = p.flatten(0, -1).get(0).g_add_scalar_(1e-3);
    }
}

/// Evaluates `model` on the test split of `data` with `config`'s eval pipeline.
pub fn evaluate_test(
    model: &Model,
    data: &Cifar10,
    config: &TrainConfig,
    device: Device,
) -> Result<(Metrics, Vec<i64>), TrainError> {
    evaluate(
        model,
        &data.test.images,
        &data.test.labels,
        &config.augment,
        config.run.eval_batch_size,
        device,
    )
}

/// The outcome of a finished run.
pub struct Finished {
    pub manifest: Manifest,
    pub model: Model,
    /// The final model's test predictions.
    pub predictions: Vec<i64>,
}

/// How a run starts, and what it records beyond its manifest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrainOptions {
    /// Continue the run in the folder from its newest valid checkpoint.
    pub resume: bool,
    /// Record the first this many steps for a PyTorch replay (`replay/`; 0: none).
    pub record_steps: usize,
}

/// Refuses, before anything is allocated, a CPU run whose estimated training memory
/// exceeds the memory the machine has available (on CUDA libtorch reports no free memory,
/// so only the CPU is checked).
pub fn check_memory(config: &TrainConfig, device: Device) -> Result<(), TrainError> {
    let (Device::Cpu, Some(available)) = (device, crate::runtime::available_memory_bytes()) else {
        return Ok(());
    };
    let needed = config.estimated_training_bytes();
    if needed <= available {
        return Ok(());
    }
    const GIB: f64 = (1u64 << 30) as f64;
    Err(TrainError::TooBig {
        needed_gib: needed as f64 / GIB,
        available_gib: available as f64 / GIB,
        width: config.model.width,
        side: config.augment.output_side(),
        batch: config.run.batch_size.max(config.run.eval_batch_size),
    })
}

/// Trains `config` on `data` into the run folder `out` (which must exist) on `device`.
/// With `resume`, continues the run in `out` from its newest checkpoint that passes its
/// hash check (model, optimiser state, epoch and step; every random stream is a pure
/// function of the seed tree and the epoch and batch, so nothing else needs restoring).
pub fn train(
    config: &TrainConfig,
    data: &Cifar10,
    out: &Path,
    device: Device,
    options: TrainOptions,
    observer: &mut dyn Observer,
) -> Result<Finished, TrainError> {
    let TrainOptions {
        resume,
        record_steps,
    } = options;
    if resume && record_steps > 0 {
        return Err(TrainError::RecordOnResume);
    }
    let started = Instant::now();
    config.validate()?;
    check_memory(config, device)?;
    let flags = crate::determinism::flags::apply(config.run.determinism, config.run.threads);
    let tree = SeedTree::new(config.run.seed);
    let mut model = Model::new(&config.model, device, tree.seed("init"))?;
    if let (false, Some(run)) = (resume, &config.model.init_from_run) {
        let newest = checkpoint::list(run)
            .pop()
            .ok_or_else(|| TrainError::NoStartCheckpoint(run.clone()))?;
        checkpoint::verify(&newest)?;
        model.load(&newest.join("model.safetensors"), false)?;
    }
    let params = model.trainable();
    let mut optimizer = Optimizer::new(config.optim.clone(), &params);

    let train_used = config
        .run
        .train_limit
        .unwrap_or(data.train.len())
        .min(data.train.len());
    let train_images = data.train.images.narrow(0, 0, train_used as i64);
    let train_labels = data.train.labels.narrow(0, 0, train_used as i64);
    let (backend, stored) = match config.run.preprocess {
        Preprocess::Cpu => (
            Backend::cpu_threads(config.run.threads),
            train_images.shallow_clone(),
        ),
        Preprocess::Device => (Backend::Device(device), train_images.to_device(device)),
    };
    let steps_per_epoch = train_used / config.run.batch_size;
    if steps_per_epoch == 0 {
        return Err(TrainError::NoFullBatch {
            images: train_used,
            batch_size: config.run.batch_size,
        });
    }
    let total_steps = steps_per_epoch * config.run.epochs;
    let record_steps = record_steps.min(total_steps);
    let mut manifest = Manifest {
        status: RunStatus::Running,
        config: config.clone(),
        config_sha256: sha256_hex(config.to_toml()?.as_bytes()),
        seeds: SeedRecord {
            root: config.run.seed,
            streams: vec![
                "init".into(),
                "order/epoch/E".into(),
                "augment/epoch/E/batch/B".into(),
            ],
            init_torch_seed: Some(tree.seed("init")),
        },
        runtime: RuntimeInfo::current(),
        numerics: Some(NumericsClass::measure(device).map_err(TrainError::Probe)?),
        device: format!("{device:?}"),
        determinism: flags,
        data: DataRecord {
            path: data.path.clone(),
            kind: data.kind,
            full: data.is_full(),
            train_records: data.train.len(),
            train_used,
            test_records: data.test.len(),
            files: data.files.clone(),
        },
        epochs: Vec::new(),
        resumed_at_epochs: Vec::new(),
        final_test: None,
        diverged: None,
        wall_seconds: 0.0,
    };
    let mut global_step = 0;
    let mut start_epoch = 0;
    if resume {
        crate::fsutil::remove_leftovers(out);
        crate::fsutil::remove_leftovers(&out.join("checkpoints"));
        let previous = Manifest::read(out)?;
        let (dir, state) =
            checkpoint::newest_valid(out, previous.epochs.len(), &mut |m| observer.note(m))?;
        model.load(&dir.join("model.safetensors"), false)?;
        let saved: std::collections::HashMap<String, Tensor> =
            Tensor::read_safetensors(dir.join("optim.safetensors"))
                .map_err(|source| TrainError::OptimState {
                    dir: dir.clone(),
                    source,
                })?
                .into_iter()
                .collect();
        if !optimizer.load_state(state.optimizer_step, &saved, &params) {
            return Err(TrainError::OptimStateMismatch(dir));
        }
        manifest.epochs = previous
            .epochs
            .into_iter()
            .take(state.epochs_done)
            .collect();
        manifest.resumed_at_epochs = previous.resumed_at_epochs;
        manifest.resumed_at_epochs.push(state.epochs_done);
        crate::manifest::rewrite_metrics(out, &manifest.epochs)?;
        (start_epoch, global_step) = (state.epochs_done, state.global_step);
        observer.note(&format!(
            "resuming after epoch {} (step {global_step}) from {}",
            state.epochs_done,
            dir.display()
        ));
    }
    manifest.write(out)?;

    let mut recorder = match record_steps {
        0 => None,
        steps => Some(Recorder::start(
            out,
            steps,
            model.vs.variables().into_iter().collect(),
        )?),
    };
    let mut predictions = Vec::new();
    let nudge_after = injected_nudge();
    for epoch in start_epoch..config.run.epochs {
        let epoch_started = Instant::now();
        let order = tree.stream(&order_stream(epoch)).permutation(train_used);
        let order_bytes: Vec<u8> = order
            .iter()
            .flat_map(|&i| (i as u64).to_le_bytes())
            .collect();
        let plan = BatchPlan {
            epoch,
            order,
            batch_size: config.run.batch_size,
            drop_last: true,
        };
        let pipeline = Pipeline {
            images: stored.shallow_clone(),
            labels: train_labels.shallow_clone(),
            config: config.augment.clone(),
            tree,
            backend,
        };
        let mut augment_hash = Sha256::new();
        let mut tally = Tally::new(NUM_CLASSES);
        let mut trace = Vec::new();
        let mut step_seconds = 0.0;
        let mut lr = config.optim.lr;
        let loop_started = Instant::now();
        for batch in pipeline.prefetch(plan, 2) {
            let batch = batch?;
            augment_hash
                .update(serde_json::to_vec(&batch.params).map_err(TrainError::Fingerprint)?);
            let step_started = Instant::now();
            lr = config
                .schedule
                .lr(config.optim.lr, global_step, steps_per_epoch, total_steps);
            let images = batch.augmented.images.to_device(device);
            let labels = batch.augmented.labels.to_device(device);
            let mixed = batch
                .augmented
                .mixed_targets
                .as_ref()
                .map(|t| t.to_device(device));
            let logits = model.net.forward_t(&images, true);
            let loss = batch_loss(&logits, &labels, mixed.as_ref());
            let loss_value = loss.double_value(&[]);
            if !loss_value.is_finite() {
                manifest.status = RunStatus::Diverged;
                manifest.diverged = Some(Diverged {
                    epoch,
                    step: global_step,
                    loss: loss_value,
                });
                manifest.wall_seconds = started.elapsed().as_secs_f64();
                manifest.write(out)?;
                return Err(TrainError::Diverged {
                    epoch,
                    step: global_step,
                    loss: loss_value,
                });
            }
            if let Some(r) = recorder.as_mut().filter(|r| r.wants(global_step + 1)) {
                r.step(global_step + 1, &images, &labels, mixed.as_ref(), lr)?;
            }
            Optimizer::zero_grad(&params);
            loss.backward();
            optimizer.step(&params, lr);
            global_step += 1;
            if let Some(r) = recorder.as_ref().filter(|_| global_step == record_steps) {
                r.finish(
                    model.vs.variables().into_iter().collect(),
                    &config.optim,
                    &config.model,
                )?;
                recorder = None;
            }
            if nudge_after == Some(global_step) {
                nudge(&params);
            }
            step_seconds += step_started.elapsed().as_secs_f64();
            tally.add(&logits.detach(), &labels, loss_value)?;
            if global_step % config.run.trace_every.max(1) == 0 {
                trace.push(TracePoint {
                    step: global_step,
                    loss: loss_value,
                    weights_digest: weights_digest(&params),
                });
            }
            observer.step(epoch, batch.index + 1, steps_per_epoch, loss_value);
            tracing::debug!(epoch, step = global_step, loss = loss_value, "step");
        }
        let train_seconds = loop_started.elapsed().as_secs_f64();
        let (test, epoch_predictions) = evaluate_test(&model, data, config, device)?;
        predictions = epoch_predictions;
        let record = EpochRecord {
            epoch,
            order_sha256: sha256_hex(&order_bytes),
            augment_sha256: hex(&augment_hash.finalize()),
            weights_sha256: model.weights_sha256(),
            lr,
            steps: steps_per_epoch,
            train: tally.metrics(),
            test,
            seconds: epoch_started.elapsed().as_secs_f64(),
            train_seconds,
            step_seconds,
            trace,
        };
        // The epoch's record first, its checkpoint second: a crash in between leaves a
        // record without a checkpoint, which resuming drops and redoes; never a checkpoint
        // whose epoch has no record.
        append_metrics(out, &record)?;
        observer.epoch(&record, config.run.epochs);
        manifest.epochs.push(record);
        manifest.wall_seconds = started.elapsed().as_secs_f64();
        manifest.write(out)?;
        checkpoint::save(out, &model, &optimizer, &params, epoch + 1, global_step, 2)?;
        tracing::debug!(epoch = epoch + 1, step = global_step, "checkpoint written");
    }
    manifest.status = RunStatus::Completed;
    manifest.final_test = manifest.epochs.last().map(|e| e.test.clone());
    manifest.wall_seconds = started.elapsed().as_secs_f64();
    manifest.write(out)?;
    Ok(Finished {
        manifest,
        model,
        predictions,
    })
}
