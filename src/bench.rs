//! Throughput measurement shared by `cifar-repro bench` and the criterion benches: a
//! training step on a batch already in memory, a median rate over timed repeats, and E7's
//! epoch (`epoch`).

mod epoch;

pub use epoch::{EpochBench, EpochBenchError, EpochTimes};

use crate::config::TrainConfig;
use crate::model::{
    Arch, Autocast, Freeze, MemoryFormat, Model, ModelConfig, ModelError, Precision, Stem,
};
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
    memory_format: MemoryFormat,
    precision: Precision,
}

/// What a timed training step runs: the model, the image side and batch, and how the
/// model computes.
#[derive(Debug, Clone, PartialEq)]
pub struct StepSpec {
    /// The ResNet depth.
    pub arch: Arch,
    /// The stem: torchvision's ImageNet stem or the CIFAR one.
    pub stem: Stem,
    /// Channels of the first stage (64 in torchvision).
    pub width: i64,
    /// Which layers are frozen (no gradients, BatchNorm in eval mode).
    pub freeze: Freeze,
    /// The image side in pixels.
    pub side: i64,
    /// Images per step.
    pub batch: i64,
    /// Contiguous or channels-last tensors.
    pub memory_format: MemoryFormat,
    /// fp32, or bf16 autocast.
    pub precision: Precision,
}

impl StepSpec {
    /// The model it trains.
    fn model(&self) -> ModelConfig {
        ModelConfig {
            arch: self.arch,
            stem: self.stem,
            width: self.width,
            classes: 10,
            freeze: self.freeze,
            pretrained: None,
            pool: crate::model::Pool::Mean,
        }
    }

    /// The estimated peak bytes of a step: parameters, their gradients and Adam's two
    /// moments, and the activations autograd keeps for the batch (as training estimates
    /// them, [`TrainConfig::memory_peak`]).
    pub fn peak_bytes(&self) -> u64 {
        let footprint = self.model().footprint(self.side);
        let activations = footprint
            .activations_per_image
            .saturating_mul(self.batch.unsigned_abs());
        4u64.saturating_mul(
            footprint
                .parameters
                .saturating_mul(4)
                .saturating_add(activations),
        )
    }

    /// torchvision's model as it is (width 64, ImageNet stem, nothing frozen), fp32 and
    /// contiguous: what a plain PyTorch script trains.
    pub fn torchvision(arch: Arch, side: i64, batch: i64) -> Self {
        Self {
            arch,
            stem: Stem::Imagenet,
            width: 64,
            freeze: Freeze::None,
            side,
            batch,
            memory_format: MemoryFormat::Contiguous,
            precision: Precision::Fp32,
        }
    }

    /// The training step of a run's config.
    pub fn of_run(config: &TrainConfig) -> Self {
        let m = &config.model;
        Self {
            arch: m.arch,
            stem: m.stem,
            width: m.width,
            freeze: m.freeze,
            side: config.augment.output_side(),
            batch: config.loop_.batch_size as i64,
            memory_format: config.loop_.memory_format,
            precision: config.loop_.precision,
        }
    }
}

impl StepBench {
    /// The model and Adam optimiser of `spec` and a batch of its size. The images are a
    /// fixed smooth pattern, not random: a step's time does not depend on the values, and
    /// benchmarks need no random stream.
    pub fn new(spec: &StepSpec, device: Device) -> Result<Self, ModelError> {
        let model = Model::new(&spec.model(), device, 0)?;
        model.set_memory_format(spec.memory_format);
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
        let (batch, side) = (spec.batch, spec.side);
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
            memory_format: spec.memory_format,
            precision: spec.precision,
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

    /// One forward pass in eval mode without gradients (what evaluation does per batch),
    /// synchronised.
    pub fn forward(&self) {
        let _guard = tch::no_grad_guard();
        let images = self.memory_format.apply(&self.images);
        let _autocast = Autocast::enter(self.precision, self.device);
        let _ = self.model.net.forward_t(&images, false);
        synchronize(self.device);
    }

    /// One training step on a given batch (already on the device), synchronised.
    pub fn step_on(&mut self, images: &Tensor, labels: &Tensor) {
        let images = self.memory_format.apply(images);
        let loss = {
            let _autocast = Autocast::enter(self.precision, self.device);
            self.model
                .net
                .forward_t(&images, true)
                .cross_entropy_for_logits(labels)
        };
        Optimizer::zero_grad(&self.params);
        loss.backward();
        self.optimizer.step(&self.params, 1e-3);
        synchronize(self.device);
    }
}

/// Items per second over timed rounds: the slowest, the median and the fastest.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    /// The slowest round.
    pub min: f64,
    /// The median round.
    pub median: f64,
    /// The fastest round.
    pub max: f64,
}

/// Items per second of `f`, which handles `items` per call: one untimed warm-up call,
/// then `repeats` rounds of `calls` timed calls.
pub fn rates(items: usize, calls: usize, repeats: usize, mut f: impl FnMut()) -> Rates {
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
    Rates {
        min: rates[0],
        median: rates[rates.len() / 2],
        max: rates[rates.len() - 1],
    }
}
