//! Augmentation: random parameters drawn once from the determinism layer, recorded, and
//! handed to either backend (CPU kernels or batched tensor ops on a device), which give the
//! same output within 1e-5. Semantics follow torchvision.transforms.v2.functional.

mod config;
pub mod cpu;
pub mod device;
mod loader;
pub mod mix;
mod params;

pub use config::{
    AugmentConfig, AugmentError, CIFAR_MEAN, CIFAR_STD, CropConfig, ErasingConfig, IMAGENET_MEAN,
    IMAGENET_STD, JitterConfig, MixConfig, NamedNormalize, Normalize, PRESETS, PaddingMode,
};
pub use loader::{Batch, BatchPlan, Pipeline, Prefetcher};
pub use params::{
    BatchParams, CropParams, EraseParams, ImageParams, JitterOp, JitterParams, MixParams,
    NormalizeParams, draw_batch,
};

use tch::Tensor;

/// Which backend runs the augmentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The CPU kernels, on this many threads.
    Cpu {
        /// Threads the images are spread over.
        threads: usize,
    },
    /// Batched tensor ops on this device.
    Device(tch::Device),
}

impl Backend {
    /// The CPU kernels on every core the process may use.
    pub fn cpu_all_cores() -> Self {
        Self::cpu_threads(0)
    }

    /// The CPU kernels on `threads` threads (0: every core the process may use), so a
    /// run's `loop.threads` bounds its augmentation as well as libtorch.
    pub fn cpu_threads(threads: usize) -> Self {
        let cores = crate::runtime::available_cores();
        Backend::Cpu {
            threads: if threads == 0 {
                cores
            } else {
                threads.min(cores)
            },
        }
    }

    /// The backend in words: "the CPU kernels on 2 threads", "device ops on Cuda(0)".
    pub fn describe(&self) -> String {
        match self {
            Backend::Cpu { threads } => format!("the CPU kernels on {threads} threads"),
            Backend::Device(device) => {
                format!("device ops on {}", crate::runtime::device_name(*device))
            }
        }
    }

    /// Where this backend's images must live.
    pub fn device(&self) -> tch::Device {
        match self {
            Backend::Cpu { .. } => tch::Device::Cpu,
            Backend::Device(device) => *device,
        }
    }
}

/// An augmented batch.
#[derive(Debug)]
pub struct Augmented {
    /// Float `N x 3 x S x S`.
    pub images: Tensor,
    /// The labels, `N`, int64.
    pub labels: Tensor,
    /// Soft targets `N x 10` when Mixup or CutMix mixed the batch.
    pub mixed_targets: Option<Tensor>,
}

/// Runs a batch's parameters on `images` (u8 `N x 3 x 32 x 32`, the images the
/// parameters' indices name, in order) with `backend`.
pub fn apply(
    images: &Tensor,
    labels: &Tensor,
    params: &BatchParams,
    backend: Backend,
) -> Result<Augmented, AugmentError> {
    let out = match backend {
        Backend::Cpu { threads } => cpu::apply(images, &params.images, threads)?,
        Backend::Device(device) => device::apply(&images.to_device(device), &params.images)?,
    };
    let labels = labels.to_device(out.device());
    Ok(match &params.mix {
        None => Augmented {
            images: out,
            labels,
            mixed_targets: None,
        },
        Some(m) => {
            let (images, targets) = mix::apply(&out, &labels, m);
            Augmented {
                images,
                labels,
                mixed_targets: Some(targets),
            }
        }
    })
}
