//! The training loop as a `Trainer`: epochs of prefetched, augmented batches; an
//! evaluation of the test split after each; fingerprints, metrics, checkpoints and the
//! manifest, written into its `RunDir` as it goes.

use super::error::TrainError;
use super::evaluate::evaluate_test;
use super::replay::Recorder;
use crate::augment::{Backend, Batch, BatchPlan, Pipeline};
use crate::config::{Preprocess, TrainConfig};
use crate::data::{Cifar10, NUM_CLASSES};
use crate::determinism::{NumericsClass, SeedTree, stream_names};
use crate::run_dir::{Checkpoint, CheckpointError, RunDir};

use crate::config::recipe_difference;
use crate::hash::{hex, sha256_hex};
use crate::manifest::{Diverged, EpochRecord, InitRecord, Manifest, Phase, RunStatus, TracePoint};
use crate::metrics::Tally;
use crate::model::{Autocast, Model, Precision};
use crate::optim::Optimizer;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::time::Instant;
use tch::nn::ModuleT;
use tch::{Device, Kind, Tensor};

/// Receives progress as a run goes.
pub trait Observer {
    /// After each training step of an epoch.
    fn step(&mut self, epoch: usize, step: usize, steps: usize, loss: f64);
    /// After each epoch.
    fn epoch(&mut self, record: &EpochRecord, epochs: usize);
    /// Something the user should know (a refused checkpoint, a resume point).
    fn note(&mut self, message: &str);
}

/// The outcome of a finished run.
pub struct Finished {
    /// Its manifest, as written.
    pub manifest: Manifest,
    /// The final model.
    pub model: Model,
    /// The final model's test predictions.
    pub predictions: Vec<i64>,
}

/// How a run starts.
#[derive(Debug, Clone, PartialEq)]
pub enum Start {
    /// From the seed tree (and, for a config with `init_from`, the final weights of
    /// `init_from`'s run), recording the first `record_steps` steps for a PyTorch replay
    /// (`replay/`; 0: none).
    Fresh {
        /// Steps to record.
        record_steps: usize,
        /// The run to start from.
        init_from: Option<Box<Prerequisite>>,
    },
    /// From the run folder's newest checkpoint that passes its hash check (model,
    /// optimiser state, epoch and step; every random stream is a pure function of the seed
    /// tree and the epoch and batch, so nothing else needs restoring).
    Resume,
}

/// Test hooks, which the binary sets from its environment (docs/development.md, "Test
/// hooks"); none by default. They are not part of the config, on purpose, so that two
/// runs differ only in their numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hooks {
    /// Nudge one weight by 1e-3 right after this optimiser step (fault injection for
    /// testing `verify`).
    pub nudge_after_step: Option<usize>,
    /// Name the numerics class by this digest instead of the probe's (testing what
    /// happens on a machine whose class has no snapshot).
    pub numerics_digest: Option<String>,
}

/// Refuses, before anything is allocated, a CPU run whose estimated training memory
/// exceeds the memory the machine has available (on CUDA libtorch reports no free memory,
/// so only the CPU is checked).
pub fn check_memory(config: &TrainConfig, device: Device) -> Result<(), TrainError> {
    let (Device::Cpu, Some(available)) = (device, crate::runtime::available_memory_bytes()) else {
        return Ok(());
    };
    let (needed, what) = config.memory_peak();
    if needed <= available {
        return Ok(());
    }
    const GIB: f64 = (1u64 << 30) as f64;
    Err(TrainError::TooBig {
        needed_gib: needed as f64 / GIB,
        available_gib: available as f64 / GIB,
        width: config.model.width,
        side: config.augment.output_side(),
        what,
    })
}

/// Trains `config` on `data` into `dir` on `device`, from the start or resumed.
pub fn train(
    config: &TrainConfig,
    data: &Cifar10,
    dir: &RunDir,
    device: Device,
    start: Start,
    hooks: &Hooks,
    observer: &mut dyn Observer,
) -> Result<Finished, TrainError> {
    let mut trainer = match start {
        Start::Fresh {
            record_steps,
            init_from,
        } => Trainer::new(
            config,
            data,
            dir,
            device,
            hooks,
            record_steps,
            init_from.map(|p| *p),
        )?,
        Start::Resume => Trainer::resume(config, data, dir, device, hooks, observer)?,
    };
    while trainer.epochs_done() < config.loop_.epochs {
        trainer.run_epoch(observer)?;
    }
    trainer.finish()
}

/// A run in progress: the model, its optimiser, the data as the loop feeds it, and the
/// manifest so far.
pub struct Trainer<'a> {
    config: &'a TrainConfig,
    data: &'a Cifar10,
    dir: &'a RunDir,
    device: Device,
    hooks: Hooks,
    tree: SeedTree,
    model: Model,
    params: Vec<(String, Tensor)>,
    optimizer: Optimizer,
    /// The training images the pipeline reads (on the device for device preprocessing).
    images: Tensor,
    labels: Tensor,
    backend: Backend,
    steps_per_epoch: usize,
    total_steps: usize,
    global_step: usize,
    manifest: Manifest,
    recorder: Option<Recorder>,
    record_steps: usize,
    /// The newest epoch's test predictions.
    predictions: Vec<i64>,
    started: Instant,
}

/// What one epoch's steps add up.
struct EpochTally {
    augment_hash: Sha256,
    draws_hash: Sha256,
    /// The mix parameters' digest, when a batch mixed.
    mix_hash: Option<Sha256>,
    tally: Tally,
    trace: Vec<TracePoint>,
    step_seconds: f64,
    lr: f64,
}

impl EpochTally {
    fn new(lr: f64) -> Self {
        Self {
            augment_hash: Sha256::new(),
            draws_hash: Sha256::new(),
            mix_hash: None,
            tally: Tally::new(NUM_CLASSES),
            trace: Vec::new(),
            step_seconds: 0.0,
            lr,
        }
    }

    /// Folds a batch's augmentation parameters (with and without the images they went to)
    /// and its mix into the epoch's digests.
    fn add_draws(&mut self, params: &crate::augment::BatchParams) -> Result<(), TrainError> {
        self.augment_hash.update(augment_fingerprint(params, true)?);
        self.draws_hash.update(augment_fingerprint(params, false)?);
        if let Some(mix) = &params.mix {
            let bytes = serde_json::to_vec(mix).map_err(TrainError::Fingerprint)?;
            self.mix_hash.get_or_insert_with(Sha256::new).update(bytes);
        }
        Ok(())
    }
}

impl<'a> Trainer<'a> {
    /// A fresh run in `dir`: weights from the seed tree (or `model.init_from_run`), the
    /// first manifest written, and the first `record_steps` steps to be recorded.
    pub fn new(
        config: &'a TrainConfig,
        data: &'a Cifar10,
        dir: &'a RunDir,
        device: Device,
        hooks: &Hooks,
        record_steps: usize,
        init_from: Option<Prerequisite>,
    ) -> Result<Self, TrainError> {
        let mut trainer = Self::prepare(config, data, dir, device, hooks, Some(init_from))?;
        trainer.record_steps = record_steps.min(trainer.total_steps);
        trainer.dir.write_manifest(&mut trainer.manifest)?;
        if trainer.record_steps > 0 {
            trainer.recorder = Some(Recorder::start(
                &dir.replay_dir(),
                trainer.record_steps,
                trainer.model.vs.variables().into_iter().collect(),
            )?);
        }
        Ok(trainer)
    }

    /// The run in `dir`, continued from its newest valid checkpoint (the manifest and
    /// metrics cut back to that checkpoint's epochs), or started over in its folder when
    /// it was stopped before its first checkpoint: either way it ends as the run would
    /// have ended uninterrupted.
    pub fn resume(
        config: &'a TrainConfig,
        data: &'a Cifar10,
        dir: &'a RunDir,
        device: Device,
        hooks: &Hooks,
        observer: &mut dyn Observer,
    ) -> Result<Self, TrainError> {
        dir.clean_leftovers();
        let previous = dir.manifest_if_written()?;
        if let Some(p) = &previous {
            check_resumable(p, data, dir)?;
        }
        let recorded = previous.as_ref().map_or(0, |m| m.epochs.len());
        match dir.newest_valid_checkpoint(recorded, &mut |m| observer.note(m)) {
            Ok(checkpoint) => {
                let previous =
                    previous.ok_or_else(|| TrainError::NoManifest(dir.path().to_owned()))?;
                let mut trainer = Self::prepare(config, data, dir, device, hooks, None)?;
                trainer.continue_from(previous, &checkpoint, observer)?;
                Ok(trainer)
            }
            Err(CheckpointError::None(_)) => {
                observer.note("no checkpoint yet: the run starts over in its folder (its seeds give the same run)");
                let init_from = restart_prerequisite(config, previous.as_ref())?;
                let mut trainer = Self::new(config, data, dir, device, hooks, 0, init_from)?;
                trainer.manifest.resumed_at_epochs =
                    previous.map(|p| p.resumed_at_epochs).unwrap_or_default();
                trainer.manifest.resumed_at_epochs.push(0);
                dir.rewrite_metrics(&[])?;
                dir.write_manifest(&mut trainer.manifest)?;
                Ok(trainer)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Loads `checkpoint` (model, optimiser, positions) and cuts the manifest back to it.
    fn continue_from(
        &mut self,
        previous: Manifest,
        checkpoint: &Checkpoint,
        observer: &mut dyn Observer,
    ) -> Result<(), TrainError> {
        let state = &checkpoint.state;
        checkpoint.load_model(&mut self.model)?;
        checkpoint.load_optimizer(&mut self.optimizer, &self.params)?;
        let recorded = previous.epochs.get(state.epochs_done.wrapping_sub(1));
        if let Some(record) = recorded.filter(|r| r.weights_sha256 != self.model.weights_sha256()) {
            return Err(TrainError::CheckpointMismatch {
                dir: checkpoint.dir.clone(),
                epoch: record.epoch + 1,
            });
        }
        let manifest = &mut self.manifest;
        manifest.epochs = previous
            .epochs
            .into_iter()
            .take(state.epochs_done)
            .collect();
        manifest.resumed_at_epochs = previous.resumed_at_epochs;
        manifest.resumed_at_epochs.push(state.epochs_done);
        manifest.init_from = previous.init_from;
        manifest.initial_weights_sha256 = previous.initial_weights_sha256;
        manifest.seeds.poke = previous.seeds.poke;
        self.dir.rewrite_metrics(&manifest.epochs)?;
        self.global_step = state.global_step;
        observer.note(&format!(
            "resuming after epoch {} (step {}) from {}",
            state.epochs_done,
            state.global_step,
            checkpoint.dir.display()
        ));
        self.dir.write_manifest(&mut self.manifest)?;
        Ok(())
    }

    /// What a fresh and a resumed run share: the checks, libtorch's switches, the model
    /// (with `init_from`'s final weights when fresh), the optimiser, the data and the
    /// manifest's header.
    fn prepare(
        config: &'a TrainConfig,
        data: &'a Cifar10,
        dir: &'a RunDir,
        device: Device,
        hooks: &Hooks,
        fresh: Option<Option<Prerequisite>>,
    ) -> Result<Self, TrainError> {
        let started = Instant::now();
        check_runnable(config, data, device)?;
        let flags =
            crate::determinism::flags::apply(config.loop_.determinism, config.loop_.threads);
        let tree = SeedTree::with_sources(config.loop_.seed, config.loop_.sources);
        let mut model = Model::new(&config.model, device, tree.seed(stream_names::INIT))?;
        let fresh_run = fresh.is_some();
        let init_from = match fresh {
            Some(prerequisite) => start_from(config, data, &mut model, prerequisite)?,
            None => None,
        };
        let poked = match (fresh_run, config.loop_.poke) {
            (true, Some(seed)) => super::poke(&model.trainable(), seed),
            _ => None,
        };
        let initial_weights_sha256 = model.weights_sha256();
        model.set_memory_format(config.loop_.memory_format);
        let params = model.trainable();
        let optimizer = Optimizer::new(config.optim.clone(), &params);
        let (backend, images, labels) = training_data(config, data, device);
        let train_used = labels.size()[0] as usize;
        let steps_per_epoch = train_used / config.loop_.batch_size;
        let numerics = NumericsClass::measure(device, hooks.numerics_digest.as_deref())
            .map_err(TrainError::Probe)?;
        let mut manifest = Manifest::start(config, data, train_used, device, flags, numerics)?;
        manifest.init_from = init_from;
        manifest.initial_weights_sha256 = Some(initial_weights_sha256);
        manifest.seeds.poke = poked;
        warn_about(config, device, hooks);
        Ok(Self {
            config,
            data,
            dir,
            device,
            hooks: hooks.clone(),
            tree,
            model,
            params,
            optimizer,
            images,
            labels,
            backend,
            steps_per_epoch,
            total_steps: steps_per_epoch * config.loop_.epochs,
            global_step: 0,
            manifest,
            recorder: None,
            record_steps: 0,
            predictions: Vec::new(),
            started,
        })
    }

    /// Epochs finished so far.
    pub fn epochs_done(&self) -> usize {
        self.manifest.epochs.len()
    }

    /// Trains the next epoch, evaluates the test split, and records the epoch: its line
    /// in metrics.jsonl first, the manifest, then its checkpoint (a crash in between leaves
    /// a record without a checkpoint, which resuming drops and redoes; never a checkpoint
    /// whose epoch has no record).
    pub fn run_epoch(&mut self, observer: &mut dyn Observer) -> Result<EpochRecord, TrainError> {
        let epoch = self.epochs_done();
        let epoch_started = Instant::now();
        let train_used = self.labels.size()[0] as usize;
        let order = self
            .tree
            .stream(&stream_names::order(epoch))
            .permutation(train_used);
        let order_bytes: Vec<u8> = order
            .iter()
            .flat_map(|&i| (i as u64).to_le_bytes())
            .collect();
        let plan = BatchPlan {
            epoch,
            order,
            batch_size: self.config.loop_.batch_size,
            drop_last: true,
        };
        let pipeline = Pipeline::new(
            &self.images,
            &self.labels,
            self.config.augment.clone(),
            self.tree,
            self.backend,
        );
        let mut tally = EpochTally::new(self.config.optim.lr);
        let loop_started = Instant::now();
        for batch in pipeline.prefetch(plan, 2) {
            let batch = batch?;
            let loss = self.step(epoch, &batch, &mut tally)?;
            observer.step(epoch, batch.index + 1, self.steps_per_epoch, loss);
            tracing::debug!(epoch, step = self.global_step, loss, "step");
        }
        let train_seconds = loop_started.elapsed().as_secs_f64();
        let (test, predictions) = evaluate_test(&self.model, self.data, self.config, self.device)?;
        self.predictions = predictions;
        let record = EpochRecord {
            epoch,
            order_sha256: sha256_hex(&order_bytes),
            augment_sha256: hex(&tally.augment_hash.finalize()),
            draws_sha256: Some(hex(&tally.draws_hash.finalize())),
            mix_sha256: tally.mix_hash.map(|h| hex(&h.finalize())),
            weights_sha256: self.model.weights_sha256(),
            lr: tally.lr,
            steps: self.steps_per_epoch,
            train: tally.tally.metrics(),
            test,
            seconds: epoch_started.elapsed().as_secs_f64(),
            train_seconds,
            step_seconds: tally.step_seconds,
            trace: tally.trace,
        };
        self.record_epoch(record, observer)
    }

    /// Records a trained epoch: its metrics line, the manifest, then its checkpoint (a
    /// test loss that is not finite marks the run diverged instead of checkpointing it).
    fn record_epoch(
        &mut self,
        record: EpochRecord,
        observer: &mut dyn Observer,
    ) -> Result<EpochRecord, TrainError> {
        let epoch = record.epoch;
        self.dir.append_metrics(&record)?;
        observer.epoch(&record, self.config.loop_.epochs);
        self.manifest.epochs.push(record.clone());
        if !record.test.loss.is_finite() {
            return Err(self.diverged(epoch, record.test.loss, Phase::Evaluation));
        }
        self.manifest.wall_seconds = self.started.elapsed().as_secs_f64();
        self.dir.write_manifest(&mut self.manifest)?;
        self.dir.save_checkpoint(
            &self.model,
            &self.optimizer,
            &self.params,
            (epoch + 1, self.global_step),
            self.config.loop_.checkpoints_kept,
        )?;
        tracing::debug!(
            epoch = epoch + 1,
            step = self.global_step,
            "checkpoint written"
        );
        Ok(record)
    }

    /// One optimiser step on `batch`; returns its loss. A loss that is not finite marks
    /// the run diverged (in its manifest) and stops it.
    fn step(
        &mut self,
        epoch: usize,
        batch: &Batch,
        epoch_tally: &mut EpochTally,
    ) -> Result<f64, TrainError> {
        let config = self.config;
        epoch_tally.add_draws(&batch.params)?;
        let step_started = Instant::now();
        let lr = config.schedule.lr(
            config.optim.lr,
            self.global_step,
            self.steps_per_epoch,
            self.total_steps,
        );
        epoch_tally.lr = lr;
        let images = config
            .loop_
            .memory_format
            .apply(&batch.augmented.images.to_device(self.device));
        let labels = batch.augmented.labels.to_device(self.device);
        let mixed = batch
            .augmented
            .mixed_targets
            .as_ref()
            .map(|t| t.to_device(self.device));
        let (logits, loss) = {
            // The forward pass and the loss under autocast; backward outside, as PyTorch
            // recommends (and as the replay does).
            let _autocast = Autocast::enter(config.loop_.precision, self.device);
            let logits = self.model.net.forward_t(&images, true);
            let loss = batch_loss(&logits, &labels, mixed.as_ref());
            (logits, loss)
        };
        let loss_value = loss.double_value(&[]);
        if !loss_value.is_finite() {
            return Err(self.diverged(epoch, loss_value, Phase::Training));
        }
        let step = self.global_step + 1;
        if let Some(r) = self.recorder.as_mut().filter(|r| r.wants(step)) {
            r.step(step, &images, &labels, mixed.as_ref(), lr)?;
        }
        Optimizer::zero_grad(&self.params);
        loss.backward();
        self.optimizer.step(&self.params, lr);
        self.global_step = step;
        self.after_step(step)?;
        epoch_tally.step_seconds += step_started.elapsed().as_secs_f64();
        epoch_tally
            .tally
            .add(&logits.detach(), &labels, loss_value)?;
        if step.is_multiple_of(config.loop_.trace_every.max(1)) {
            epoch_tally.trace.push(TracePoint {
                step,
                loss: loss_value,
                weights_digest: weights_digest(&self.params),
            });
        }
        Ok(loss_value)
    }

    /// What follows optimiser step `step`: the replay recording finished at its last step,
    /// and the test hook that nudges the weights.
    fn after_step(&mut self, step: usize) -> Result<(), TrainError> {
        let config = self.config;
        if step == self.record_steps
            && let Some(r) = self.recorder.take()
        {
            r.finish(
                self.model.vs.variables().into_iter().collect(),
                &config.optim,
                &config.model,
                (config.loop_.memory_format, config.loop_.precision),
            )?;
        }
        if self.hooks.nudge_after_step == Some(step) {
            nudge(&self.params);
        }
        Ok(())
    }

    /// Marks the run diverged in its manifest (epoch, step, loss, phase) and returns the
    /// error that stops it; a failure to write the manifest is returned instead.
    fn diverged(&mut self, epoch: usize, loss: f64, phase: Phase) -> TrainError {
        let diverged = Diverged {
            epoch,
            step: self.global_step,
            loss,
            phase,
        };
        self.manifest.status = RunStatus::Diverged;
        self.manifest.diverged = Some(diverged.clone());
        self.manifest.wall_seconds = self.started.elapsed().as_secs_f64();
        match self.dir.write_manifest(&mut self.manifest) {
            Ok(()) => TrainError::Diverged(diverged),
            Err(e) => e.into(),
        }
    }

    /// Marks the run completed, with the last epoch's test metrics as its final ones.
    pub fn finish(mut self) -> Result<Finished, TrainError> {
        self.manifest.status = RunStatus::Completed;
        self.manifest.final_test = self.manifest.epochs.last().map(|e| e.test.clone());
        self.manifest.wall_seconds = self.started.elapsed().as_secs_f64();
        self.dir.write_manifest(&mut self.manifest)?;
        Ok(Finished {
            manifest: self.manifest,
            model: self.model,
            predictions: self.predictions,
        })
    }
}

/// The finished run a two-stage run starts from, and the config it must have been
/// trained with (`init_from` resolved with this run's seed and data).
#[derive(Debug, Clone, PartialEq)]
pub struct Prerequisite {
    /// Its folder.
    pub dir: PathBuf,
    /// The config it must have.
    pub expected: TrainConfig,
}

/// Checks, before anything is written, that `config` can train on `data` on `device`:
/// its values, its memory, a full batch, and the run it starts from when it has
/// `init_from` (given, completed, the expected recipe, the same data, a final checkpoint).
pub fn preflight(
    config: &TrainConfig,
    data: &Cifar10,
    device: Device,
    init_from: Option<&Prerequisite>,
) -> Result<(), TrainError> {
    check_runnable(config, data, device)?;
    check_prerequisite(config, data, init_from).map(drop)
}

/// The checks every run passes before it starts: its values, its memory, a full batch.
fn check_runnable(config: &TrainConfig, data: &Cifar10, device: Device) -> Result<(), TrainError> {
    config.validate()?;
    check_memory(config, device)?;
    let images = config.train_images_used(data.train.len());
    if images / config.loop_.batch_size == 0 {
        return Err(TrainError::NoFullBatch {
            images,
            batch_size: config.loop_.batch_size,
        });
    }
    Ok(())
}

/// The final checkpoint of the run `config` starts from and what the manifest records of
/// it, after checking that it is that run; none when `config` starts fresh.
fn check_prerequisite(
    config: &TrainConfig,
    data: &Cifar10,
    prerequisite: Option<&Prerequisite>,
) -> Result<Option<(Checkpoint, InitRecord)>, TrainError> {
    let (spec, prerequisite) = match (&config.init_from, prerequisite) {
        (None, None) => return Ok(None),
        (None, Some(_)) => return Err(TrainError::NoInitFrom),
        (Some(spec), None) => {
            return Err(TrainError::NeedsPrerequisite {
                spec: spec.describe(),
                seed: config.loop_.seed,
            });
        }
        (Some(spec), Some(p)) => (spec, p),
    };
    let unusable = |why: String| TrainError::Prerequisite {
        dir: prerequisite.dir.clone(),
        why,
    };
    let run = RunDir::open(&prerequisite.dir);
    let manifest = run.manifest().map_err(|e| unusable(e.to_string()))?;
    if manifest.status != RunStatus::Completed {
        return Err(unusable(format!(
            "its status is {:?}, not completed",
            manifest.status
        )));
    }
    if let Some((expected, found)) = recipe_difference(&prerequisite.expected, &manifest.config) {
        return Err(unusable(format!(
            "it is not a run of {} with seed {}: it has `{found}` where that has `{expected}`",
            spec.describe(),
            config.loop_.seed
        )));
    }
    if manifest.data.files != data.files {
        return Err(unusable(
            "it trained on other data files (their SHA-256 differ)".into(),
        ));
    }
    let checkpoint = run.final_checkpoint()?;
    if checkpoint.state.epochs_done != manifest.epochs.len() {
        return Err(unusable(
            "its newest checkpoint is not its final one".into(),
        ));
    }
    let record = InitRecord {
        run: prerequisite.dir.clone(),
        config_sha256: manifest.config_sha256,
        final_weights_sha256: manifest
            .epochs
            .last()
            .map(|e| e.weights_sha256.clone())
            .unwrap_or_default(),
    };
    Ok(Some((checkpoint, record)))
}

/// Loads the final weights of the run `config` starts from (`init_from`) into `model`.
fn start_from(
    config: &TrainConfig,
    data: &Cifar10,
    model: &mut Model,
    prerequisite: Option<Prerequisite>,
) -> Result<Option<InitRecord>, TrainError> {
    let Some((checkpoint, record)) = check_prerequisite(config, data, prerequisite.as_ref())?
    else {
        return Ok(None);
    };
    checkpoint.load_model(model)?;
    Ok(Some(record))
}

/// Why the run a previous manifest records cannot be continued: it diverged, or the data
/// given now are not its data.
fn check_resumable(previous: &Manifest, data: &Cifar10, dir: &RunDir) -> Result<(), TrainError> {
    if let (RunStatus::Diverged, Some(diverged)) = (previous.status, &previous.diverged) {
        return Err(TrainError::ResumeDiverged {
            dir: dir.path().to_owned(),
            diverged: diverged.clone(),
        });
    }
    if previous.data.files != data.files {
        return Err(TrainError::DataChanged(dir.path().to_owned()));
    }
    Ok(())
}

/// The run a two-stage run that is started over begins from: the one its manifest
/// records, taken as it is now.
fn restart_prerequisite(
    config: &TrainConfig,
    previous: Option<&Manifest>,
) -> Result<Option<Prerequisite>, TrainError> {
    let (Some(spec), Some(record)) = (
        &config.init_from,
        previous.and_then(|m| m.init_from.as_ref()),
    ) else {
        return Ok(None);
    };
    let prerequisite =
        RunDir::open(&record.run)
            .manifest()
            .map_err(|e| TrainError::Prerequisite {
                dir: record.run.clone(),
                why: format!("{e} (this run of {} starts from it)", spec.describe()),
            })?;
    Ok(Some(Prerequisite {
        dir: record.run.clone(),
        expected: prerequisite.config,
    }))
}

/// The training images and labels the loop reads (on the device for device
/// preprocessing), and the backend that augments them.
fn training_data(
    config: &TrainConfig,
    data: &Cifar10,
    device: Device,
) -> (Backend, Tensor, Tensor) {
    let train_used = config.train_images_used(data.train.len()) as i64;
    let images = data.train.images.narrow(0, 0, train_used);
    let labels = data.train.labels.narrow(0, 0, train_used);
    match config.loop_.preprocess {
        Preprocess::Cpu => (Backend::cpu_threads(config.loop_.threads), images, labels),
        Preprocess::Device => (Backend::Device(device), images.to_device(device), labels),
    }
}

/// Warnings about settings that cost more than the user may expect.
fn warn_about(config: &TrainConfig, device: Device, hooks: &Hooks) {
    if config.loop_.precision == Precision::Bf16
        && device == Device::Cpu
        && !crate::runtime::cpu_has_bf16()
    {
        tracing::warn!(
            "loop.precision = \"bf16\" on a CPU without bf16 instructions: oneDNN emulates it, correct but slower than fp32"
        );
    }
    if let Some(step) = hooks.nudge_after_step {
        tracing::warn!(
            "one weight will be nudged after step {step} (fault injection, a test hook)"
        );
    }
}

/// The bytes a batch's augmentation fingerprint hashes: its parameters' JSON with the mix
/// left out (for a run that does not mix, exactly the parameters' JSON), and without the
/// images' indices unless `with_indices`.
fn augment_fingerprint(
    params: &crate::augment::BatchParams,
    with_indices: bool,
) -> Result<Vec<u8>, TrainError> {
    let images = params
        .images
        .iter()
        .map(|i| crate::augment::ImageParams {
            index: if with_indices { i.index } else { 0 },
            ..i.clone()
        })
        .collect();
    let drawn = crate::augment::BatchParams { images, mix: None };
    serde_json::to_vec(&drawn).map_err(TrainError::Fingerprint)
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

fn nudge(params: &[(String, Tensor)]) {
    let _guard = tch::no_grad_guard();
    if let Some((_, p)) = params.first() {
        let _ = p.flatten(0, -1).get(0).g_add_scalar_(1e-3);
    }
}
