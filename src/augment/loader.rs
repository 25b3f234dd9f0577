//! A batch iterator that prepares the next batches on another thread while the current
//! one trains. Each batch draws its parameters from its own stream
//! (`augment/epoch/E/batch/B`), so order and parameters do not depend on the threading.

use super::{AugmentConfig, AugmentError, Augmented, Backend, BatchParams, apply, draw_batch};
use crate::determinism::{SeedTree, stream_names};
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;
use tch::Tensor;

/// Which images go into which batch in one epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchPlan {
    /// The epoch, 0-based (it names the batches' streams).
    pub epoch: usize,
    /// Image indices in the order they are visited.
    pub order: Vec<usize>,
    /// Images per batch.
    pub batch_size: usize,
    /// Leave out a last batch smaller than `batch_size`.
    pub drop_last: bool,
}

impl BatchPlan {
    /// The index lists of each batch.
    pub fn batches(&self) -> Vec<Vec<usize>> {
        self.order
            .chunks(self.batch_size.max(1))
            .filter(|c| !self.drop_last || c.len() == self.batch_size)
            .map(<[usize]>::to_vec)
            .collect()
    }
}

/// One prepared batch.
#[derive(Debug)]
pub struct Batch {
    /// Position of the batch in its epoch.
    pub index: usize,
    /// Every parameter drawn for it.
    pub params: BatchParams,
    /// The images and labels they made.
    pub augmented: Augmented,
}

/// What batches are made from: a split's images and labels, the pipeline, the seed tree
/// and the backend that runs it.
#[derive(Debug)]
pub struct Pipeline {
    /// u8 `N x 3 x 32 x 32`.
    pub images: Tensor,
    /// int64 `N`.
    pub labels: Tensor,
    /// The pipeline.
    pub config: AugmentConfig,
    /// Where every batch's streams come from.
    pub tree: SeedTree,
    /// What runs the pipeline.
    pub backend: Backend,
}

impl Pipeline {
    /// A pipeline over `images` and `labels`, the images moved to where `backend` runs
    /// (a shallow copy when they are there already).
    pub fn new(
        images: &Tensor,
        labels: &Tensor,
        config: AugmentConfig,
        tree: SeedTree,
        backend: Backend,
    ) -> Self {
        Pipeline {
            images: images.to_device(backend.device()),
            labels: labels.shallow_clone(),
            config,
            tree,
            backend,
        }
    }

    /// Prepares one batch: draws its parameters from its own stream and runs them.
    pub fn prepare(
        &self,
        epoch: usize,
        index: usize,
        indices: &[usize],
    ) -> Result<Batch, AugmentError> {
        let mut stream = self.tree.stream(&stream_names::augment(epoch, index));
        let mut mix = self.tree.stream(&stream_names::mix(epoch, index));
        let params = draw_batch(&self.config, indices, &mut stream, &mut mix);
        let picked = Tensor::from_slice(&indices.iter().map(|&i| i as i64).collect::<Vec<_>>());
        let images = self
            .images
            .index_select(0, &picked.to_device(self.images.device()));
        let labels = self
            .labels
            .index_select(0, &picked.to_device(self.labels.device()));
        let augmented = apply(&images, &labels, &params, self.backend)?;
        Ok(Batch {
            index,
            params,
            augmented,
        })
    }

    /// Prepares the batches of `plan` on a worker thread, at most `depth` ahead.
    pub fn prefetch(self, plan: BatchPlan, depth: usize) -> Prefetcher {
        let (sender, receiver) = sync_channel(depth.max(1));
        let worker = std::thread::spawn(move || {
            for (index, indices) in plan.batches().iter().enumerate() {
                let batch = self.prepare(plan.epoch, index, indices);
                let failed = batch.is_err();
                if sender.send(batch).is_err() || failed {
                    return; // the consumer stopped, or this batch failed
                }
            }
        });
        Prefetcher {
            receiver,
            worker: Some(worker),
        }
    }
}

/// Batches prepared ahead on a worker thread, in plan order.
pub struct Prefetcher {
    receiver: Receiver<Result<Batch, AugmentError>>,
    worker: Option<JoinHandle<()>>,
}

impl Iterator for Prefetcher {
    type Item = Result<Batch, AugmentError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.receiver.recv().ok()
    }
}

impl Drop for Prefetcher {
    fn drop(&mut self) {
        // Unblock a worker waiting on a full queue, then wait for it to finish.
        while self.receiver.try_recv().is_ok() {}
        let (_, dead) = sync_channel(1);
        drop(std::mem::replace(&mut self.receiver, dead));
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}
