//! Adam, AdamW and SGD, op for op as `torch.optim` does them (single-tensor path).

use crate::ffi::{
    cifar_repro_add_alpha, cifar_repro_add_alpha_, cifar_repro_addcdiv_, cifar_repro_addcmul_,
    cifar_repro_clear_grad,
};
use serde::{Deserialize, Serialize};
use tch::Tensor;

/// `tensor + alpha * other` in one kernel, as `torch.Tensor.add(other, alpha=alpha)`.
fn add_alpha(tensor: &Tensor, other: &Tensor, alpha: f64) -> Tensor {
    // SAFETY: two live tensor handles; the shim returns a new heap-allocated at::Tensor,
    // whose ownership `from_ptr` takes (tch's convention for the tensors its C API makes).
    unsafe {
        Tensor::from_ptr(cifar_repro_add_alpha(
            tensor.as_ptr(),
            other.as_ptr(),
            alpha,
        ))
    }
}

/// `tensor += alpha * other`, in place, as `torch.Tensor.add_(other, alpha=alpha)`.
fn add_alpha_(tensor: &mut Tensor, other: &Tensor, alpha: f64) {
    // SAFETY: as for `addcmul_`.
    unsafe { cifar_repro_add_alpha_(tensor.as_mut_ptr(), other.as_ptr(), alpha) }
}

/// `tensor += value * t1 * t2`, in place, as `torch.Tensor.addcmul_(t1, t2, value=value)`.
fn addcmul_(tensor: &mut Tensor, t1: &Tensor, t2: &Tensor, value: f64) {
    // SAFETY: three live tensor handles; the shim calls at::Tensor::addcmul_, which
    // checks shapes and dtypes (all of one parameter here) and does not keep the pointers.
    unsafe { cifar_repro_addcmul_(tensor.as_mut_ptr(), t1.as_ptr(), t2.as_ptr(), value) }
}

/// `tensor += value * t1 / t2`, in place, as `torch.Tensor.addcdiv_(t1, t2, value=value)`.
fn addcdiv_(tensor: &mut Tensor, t1: &Tensor, t2: &Tensor, value: f64) {
    // SAFETY: as for `addcmul_`.
    unsafe { cifar_repro_addcdiv_(tensor.as_mut_ptr(), t1.as_ptr(), t2.as_ptr(), value) }
}

/// The optimiser, as `torch.optim` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimKind {
    /// Adam with L2 weight decay added to the gradient.
    Adam,
    /// Adam with decoupled weight decay.
    Adamw,
    /// SGD with optional momentum, dampening 0, optional Nesterov.
    Sgd,
}

fn default_betas() -> [f64; 2] {
    [0.9, 0.999]
}

fn default_eps() -> f64 {
    1e-8
}

/// An optimiser and its hyper-parameters (the learning rate is the schedule's base).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimConfig {
    /// Which optimiser.
    pub name: OptimKind,
    /// The base learning rate (the schedule scales it).
    pub lr: f64,
    /// L2 penalty (Adam, SGD) or decoupled decay (AdamW).
    #[serde(default)]
    pub weight_decay: f64,
    /// SGD's momentum.
    #[serde(default)]
    pub momentum: f64,
    /// SGD with Nesterov momentum.
    #[serde(default)]
    pub nesterov: bool,
    /// Adam's and AdamW's moment decays.
    #[serde(default = "default_betas")]
    pub betas: [f64; 2],
    /// Adam's and AdamW's denominator term.
    #[serde(default = "default_eps")]
    pub eps: f64,
}

impl OptimConfig {
    /// Checks every number against its range, naming the key.
    pub fn validate(&self) -> Result<(), String> {
        use crate::text::in_range;
        in_range("optim.lr", self.lr, f64::MIN_POSITIVE..=10.0)?;
        in_range("optim.weight_decay", self.weight_decay, 0.0..=1.0)?;
        in_range("optim.momentum", self.momentum, 0.0..=0.999_999)?;
        in_range("optim.betas[0]", self.betas[0], 0.0..=0.999_999)?;
        in_range("optim.betas[1]", self.betas[1], 0.0..=0.999_999_999)?;
        in_range("optim.eps", self.eps, f64::MIN_POSITIVE..=1.0)
    }
}

/// An optimiser's state for a fixed list of parameters (in the order given at creation).
#[derive(Debug)]
pub struct Optimizer {
    /// The hyper-parameters.
    pub config: OptimConfig,
    /// Steps taken.
    pub step: u64,
    /// Per parameter: Adam's `exp_avg` and `exp_avg_sq`, or SGD's momentum buffer.
    slots: Vec<Vec<Tensor>>,
}

impl Optimizer {
    /// A fresh optimiser for `params`.
    pub fn new(config: OptimConfig, params: &[(String, Tensor)]) -> Self {
        let slots_per_param = match config.name {
            OptimKind::Adam | OptimKind::Adamw => 2,
            OptimKind::Sgd if config.momentum != 0.0 => 1,
            OptimKind::Sgd => 0,
        };
        let slots = params
            .iter()
            .map(|(_, p)| {
                (0..slots_per_param)
                    .map(|_| p.zeros_like().detach())
                    .collect()
            })
            .collect();
        Self {
            config,
            step: 0,
            slots,
        }
    }

    /// Drops the gradients of `params`, as `torch.optim`'s `zero_grad()` does by default
    /// (set to None): the next backward writes them afresh instead of adding to zeros.
    pub fn zero_grad(params: &[(String, Tensor)]) {
        for (_, p) in params {
            let mut handle = p.shallow_clone();
            // SAFETY: the pointer is a live `at::Tensor` handle owned by `handle`; the shim
            // only resets the gradient its autograd metadata holds (shared with `p`).
            unsafe { cifar_repro_clear_grad(handle.as_mut_ptr()) };
        }
    }

    /// One update of `params` (the same list, in the same order, as at creation) from
    /// their gradients, at learning rate `lr`.
    pub fn step(&mut self, params: &[(String, Tensor)], lr: f64) {
        let _guard = tch::no_grad_guard();
        self.step += 1;
        let c = self.config.clone();
        for ((_, param), slots) in params.iter().zip(&mut self.slots) {
            let grad = param.grad();
            if !grad.defined() {
                continue;
            }
            let mut param = param.shallow_clone();
            match c.name {
                OptimKind::Adam | OptimKind::Adamw => {
                    let grad = if c.name == OptimKind::Adam && c.weight_decay != 0.0 {
                        add_alpha(&grad, &param, c.weight_decay)
                    } else {
                        grad
                    };
                    if c.name == OptimKind::Adamw && c.weight_decay != 0.0 {
                        let _ = param.g_mul_scalar_(1.0 - lr * c.weight_decay);
                    }
                    let [b1, b2] = c.betas;
                    let (exp_avg, exp_avg_sq) = slots.split_at_mut(1);
                    let _ = exp_avg[0].lerp_(&grad, 1.0 - b1);
                    let mut exp_avg_sq = exp_avg_sq[0].g_mul_scalar_(b2);
                    addcmul_(&mut exp_avg_sq, &grad, &grad, 1.0 - b2);
                    let step = self.step as f64;
                    let bias_correction1 = 1.0 - b1.powf(step);
                    let bias_correction2_sqrt = (1.0 - b2.powf(step)).sqrt();
                    let mut denom = exp_avg_sq.sqrt();
                    let _ = denom
                        .g_div_scalar_(bias_correction2_sqrt)
                        .g_add_scalar_(c.eps);
                    addcdiv_(&mut param, &exp_avg[0], &denom, -lr / bias_correction1);
                }
                OptimKind::Sgd => {
                    let mut grad = if c.weight_decay != 0.0 {
                        add_alpha(&grad, &param, c.weight_decay)
                    } else {
                        grad
                    };
                    if let Some(buf) = slots.first_mut() {
                        if self.step == 1 {
                            buf.copy_(&grad);
                        } else {
                            let _ = buf.g_mul_scalar_(c.momentum).g_add_(&grad);
                        }
                        grad = if c.nesterov {
                            add_alpha(&grad, buf, c.momentum)
                        } else {
                            buf.shallow_clone()
                        };
                    }
                    add_alpha_(&mut param, &grad, -lr);
                }
            }
        }
    }

    /// The state tensors, named `<param>.<slot>`, for a checkpoint.
    pub fn state_tensors(&self, params: &[(String, Tensor)]) -> Vec<(String, Tensor)> {
        let names = ["exp_avg", "exp_avg_sq"];
        let mut out = Vec::new();
        for ((name, _), slots) in params.iter().zip(&self.slots) {
            for (i, slot) in slots.iter().enumerate() {
                let slot_name = if self.config.name == OptimKind::Sgd {
                    "momentum_buffer"
                } else {
                    names[i]
                };
                out.push((format!("{name}.{slot_name}"), slot.shallow_clone()));
            }
        }
        out
    }

    /// Restores state saved by [`Optimizer::state_tensors`]; the error names the first
    /// tensor that is missing or has another shape.
    pub fn load_state(
        &mut self,
        step: u64,
        saved: &std::collections::HashMap<String, Tensor>,
        params: &[(String, Tensor)],
    ) -> Result<(), StateMismatch> {
        let _guard = tch::no_grad_guard();
        for (name, tensor) in self.state_tensors(params) {
            match saved.get(&name) {
                Some(src) if src.size() == tensor.size() => {
                    let mut tensor = tensor;
                    tensor.copy_(&src.to_device(tensor.device()));
                }
                Some(src) => {
                    return Err(StateMismatch {
                        name,
                        found: Some(src.size()),
                        expected: tensor.size(),
                    });
                }
                None => {
                    return Err(StateMismatch {
                        name,
                        found: None,
                        expected: tensor.size(),
                    });
                }
            }
        }
        self.step = step;
        Ok(())
    }
}

/// Saved optimiser state that does not fit the parameters.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("state tensor {name:?}: {}, the parameters need {expected:?}", found.as_ref().map_or("missing".to_owned(), |f| format!("shape {f:?}")))]
pub struct StateMismatch {
    /// The state tensor's key.
    pub name: String,
    /// Its shape in the saved state; none when it is missing.
    pub found: Option<Vec<i64>>,
    /// The parameter's shape.
    pub expected: Vec<i64>,
}
