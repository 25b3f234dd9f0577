//! Throughput measurement shared by `cifar-repro bench` and the criterion benches: a
//! training step on a batch already in memory, and a median rate over timed repeats.

use crate::model::{Arch, Freeze, Model, ModelConfig, ModelError, Stem};
use crate::optim::{OptimConfig, OptimKind, Optimizer};
use crate::runtime::{CudaMissing, check_required_cuda};
use std::time::Instant;
use tch::nn::ModuleT;
use tch::{Device, Kind, Tensor};

/// The devices a benchmark times, named as its ids name them: the CPU, and CUDA when
/// libtorch sees it. Without CUDA the `groups`' CUDA rows are skipped with one line on
/// stderr, unless `REQUIRE_CUDA=1` (GPU runners) makes that an error.
pub fn bench_devices(groups: &str) -> Result<Vec<(&'static str, Device)>, CudaMissing> {
    if tch::Cuda::is_available() {
        return Ok(vec![("cpu", Device::Cpu), ("cuda", Device::Cuda(0))]);
    }
    check_required_cuda()?;
    eprintln!("{groups}: skipped, no CUDA device");
    Ok(vec![("cpu", Device::Cpu)])
}

/// Waits for the device's queued work (a no-op on CPU), so that timings include it.
pub fn synchronize(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

/// A model, its Adam optimiser (lr 1e-3, no weight decay, as `torch.optim.Adam`'s
/// defaults) and one fixed batch, for timing training steps.
pub struct StepBench {
    model: Model,
    optimizer: Optimizer,
    params: Vec<(String, Tensor)>,
    images: Tensor,
    labels: Tensor,
    device: Device,
}

impl StepBench {
    /// A `width`-channel ResNet with `stem` and `freeze`, and a batch of `batch` images of
    /// `side` x `side`. The images are a fixed smooth pattern, not random: a step's time
    /// does not depend on the values, and benchmarks need no random stream.
    pub fn new(
        arch: Arch,
        stem: Stem,
        width: i64,
        freeze: Freeze,
        side: i64,
        batch: i64,
        device: Device,
    ) -> Result<Self, ModelError> {
        let config = ModelConfig {
            arch,
            stem,
            width,
            classes: 10,
            freeze,
            pretrained: None,
            init_from_run: None,
        };
        let model = Model::new(&config, device, 0)?;
        let params = model.trainable();
        let optimizer = Optimizer::new(
            OptimConfig {
                name: OptimKind::Adam,
                lr: 1e-3,
                weight_decay: 0.0,
                momentum: 0.0,
                nesterov: false,
                betas: [0.9, 0.999],
                eps: 1e-8,
            },
            &params,
        );
        let images = (Tensor::arange(batch * 3 * side * side, (Kind::Float, device)) * 0.01)
            .sin()
            .view([batch, 3, side, side]);
        let labels = Tensor::arange(batch, (Kind::Int64, device)).remainder(10);
        Ok(Self {
            model,
            optimizer,
            params,
            images,
            labels,
            device,
        })
    }

    /// The batch size.
    pub fn batch(&self) -> usize {
        self.labels.size()[0] as usize
    }

    /// One training step (forward, loss, backward, Adam update), synchronised.
    pub fn step(&mut self) {
        self.step_on(&self.images.shallow_clone(), &self.labels.shallow_clone());
    }

    /// One training step on a given batch (already on the device), synchronised.
    pub fn step_on(&mut self, images: &Tensor, labels: &Tensor) {
        let loss = self
            .model
            .net
            .forward_t(images, true)
            .cross_entropy_for_logits(labels);
        Optimizer::zero_grad(&self.params);
        loss.backward();
        self.optimizer.step(&self.params, 1e-3);
        synchronize(self.device);
    }
}

/// Items per second of `f`, which handles `items` per call: one untimed warm-up call,
/// then the median over `repeats` rounds of `calls` timed calls.
pub fn median_rate(items: usize, calls: usize, repeats: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut rates: Vec<f64> = (0..repeats.max(1))
        .map(|_| {
            let started = Instant::now();
            for _ in 0..calls.max(1) {
                f();
            }
            (items * calls.max(1)) as f64 / started.elapsed().as_secs_f64()
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}
