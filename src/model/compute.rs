//! How a model computes: its memory format (`contiguous` or `channels_last`) and its
//! precision (`fp32`, or `bf16` autocast with fp32 weights, gradients and optimiser
//! state), each done through the same ATen calls PyTorch makes.

use crate::ffi::{
    cifar_repro_autocast_enter_bf16, cifar_repro_autocast_exit, cifar_repro_channels_last,
    cifar_repro_set_channels_last_,
};
use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};

/// The memory layout of the model's 4-d weights and of the image batches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum MemoryFormat {
    /// NCHW, PyTorch's default.
    #[default]
    Contiguous,
    /// NHWC (`memory_format=torch.channels_last`): oneDNN's and cuDNN's faster layout.
    ChannelsLast,
}

/// The precision of the forward pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Everything in fp32.
    #[default]
    Fp32,
    /// `torch.autocast(device, dtype=torch.bfloat16)`: convolutions and matrix products
    /// in bf16, weights, gradients and the optimiser in fp32.
    Bf16,
}

impl MemoryFormat {
    /// `images` in this format (a shallow copy when contiguous).
    pub fn apply(self, images: &Tensor) -> Tensor {
        match self {
            MemoryFormat::Contiguous => images.shallow_clone(),
            // SAFETY: a live tensor handle; the shim returns a new at::Tensor whose
            // ownership `from_ptr` takes.
            MemoryFormat::ChannelsLast => unsafe {
                Tensor::from_ptr(cifar_repro_channels_last(images.as_ptr()))
            },
        }
    }

    /// Puts every 4-d variable in this format in place, as `module.to(memory_format=...)`
    /// (from the contiguous format a model is built in).
    pub fn apply_to_variables(self, variables: impl IntoIterator<Item = Tensor>) {
        if self == MemoryFormat::Contiguous {
            return;
        }
        for v in variables {
            if v.dim() == 4 {
                let mut v = v;
                // SAFETY: a live tensor handle; set_data swaps its storage for a
                // channels-last copy of the same values.
                unsafe { cifar_repro_set_channels_last_(v.as_mut_ptr()) };
            }
        }
    }
}

/// Autocast held for as long as the guard lives (bf16 only; fp32 does nothing).
pub struct Autocast {
    active: Option<(bool, bool)>,
}

impl Autocast {
    /// Turns autocast on for bf16 on `device` until the guard drops.
    pub fn enter(precision: Precision, device: Device) -> Self {
        let active = (precision == Precision::Bf16).then(|| {
            let cuda = device.is_cuda();
            // SAFETY: sets thread-local autocast state in ATen; undone in `drop`.
            (cuda, unsafe { cifar_repro_autocast_enter_bf16(cuda) })
        });
        Self { active }
    }
}

impl Drop for Autocast {
    fn drop(&mut self) {
        if let Some((cuda, before)) = self.active {
            // SAFETY: restores the state `enter` saved.
            unsafe { cifar_repro_autocast_exit(cuda, before) };
        }
    }
}
