//! E7, the report's preprocessing measurement: one epoch of a run's pipeline on the CPU
//! kernels and on the device backend, and that epoch's training steps, in seconds.

use super::{StepBench, StepSpec, synchronize};
use crate::augment::{AugmentError, Backend, BatchPlan, Pipeline};
use crate::config::TrainConfig;
use crate::data::Split;
use crate::determinism::SeedTree;
use crate::model::ModelError;
use std::time::Instant;
use tch::Device;

/// An epoch that cannot be measured.
#[derive(Debug, thiserror::Error)]
pub enum EpochBenchError {
    /// The images measured make no whole batch.
    #[error(
        "{images} images make no whole batch of {batch_size}; lower the batch size or measure more images"
    )]
    NoWholeBatch {
        /// The images measured.
        images: usize,
        /// The run's batch size.
        batch_size: usize,
    },
    /// The pipeline failed on a batch.
    #[error(transparent)]
    Augment(#[from] AugmentError),
    /// The run's model cannot be built.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// E7's figures, scaled to a whole epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochTimes {
    /// Preprocessing on the CPU kernels (every core).
    pub cpu_preprocessing: f64,
    /// Preprocessing with the device backend on the training device.
    pub device_preprocessing: f64,
    /// Training steps on the device-preprocessed batches.
    pub training: f64,
}

/// A run's epoch, measured on the first images of its training split.
pub struct EpochBench<'a> {
    config: &'a TrainConfig,
    train: &'a Split,
    device: Device,
    used: usize,
    /// Images measured: the whole batches among those used.
    pub measured: usize,
    /// The factor from the images measured to the epoch's.
    pub scale: f64,
}

impl<'a> EpochBench<'a> {
    /// Measures on the first `limit` images of `train` (all of them without a limit), with
    /// times scaled to `epoch_images`.
    pub fn new(
        config: &'a TrainConfig,
        train: &'a Split,
        device: Device,
        limit: Option<usize>,
        epoch_images: usize,
    ) -> Result<Self, EpochBenchError> {
        let used = limit.unwrap_or(usize::MAX).min(train.len());
        let batch_size = config.loop_.batch_size;
        let measured = used / batch_size * batch_size;
        if measured == 0 {
            return Err(EpochBenchError::NoWholeBatch {
                images: used,
                batch_size,
            });
        }
        Ok(EpochBench {
            config,
            train,
            device,
            used,
            measured,
            scale: epoch_images as f64 / measured as f64,
        })
    }

    /// Times preprocessing on each backend, then training, and scales each to the epoch.
    pub fn run(&self) -> Result<EpochTimes, EpochBenchError> {
        let cpu = self.time_preprocessing(Backend::cpu_all_cores())?;
        let on_device = self.time_preprocessing(Backend::Device(self.device))?;
        let training = self.time_training()?;
        Ok(EpochTimes {
            cpu_preprocessing: cpu * self.scale,
            device_preprocessing: on_device * self.scale,
            training: training * self.scale,
        })
    }

    fn plan(&self) -> BatchPlan {
        BatchPlan {
            epoch: 0,
            order: (0..self.used).collect(),
            batch_size: self.config.loop_.batch_size,
            drop_last: true,
        }
    }

    fn pipeline(&self, backend: Backend) -> Pipeline {
        Pipeline::new(
            &self.train.images,
            &self.train.labels,
            self.config.augment.clone(),
            SeedTree::new(self.config.loop_.seed),
            backend,
        )
    }

    fn time_preprocessing(&self, backend: Backend) -> Result<f64, EpochBenchError> {
        let started = Instant::now();
        for batch in self.pipeline(backend).prefetch(self.plan(), 1) {
            batch?;
            synchronize(self.device);
        }
        Ok(started.elapsed().as_secs_f64())
    }

    fn time_training(&self) -> Result<f64, EpochBenchError> {
        let mut bench = StepBench::new(&StepSpec::of_run(self.config), self.device)?;
        let started = Instant::now();
        for batch in self
            .pipeline(Backend::Device(self.device))
            .prefetch(self.plan(), 1)
        {
            let batch = batch?;
            let labels = batch.augmented.labels.to_device(self.device);
            bench.step_on(&batch.augmented.images, &labels);
        }
        Ok(started.elapsed().as_secs_f64())
    }
}
