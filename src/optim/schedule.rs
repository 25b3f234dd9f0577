//! Learning-rate schedules as pure functions of the step, so a resumed run needs only the
//! step to be where it was.

use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

/// A schedule. Step and multi-step change the rate at epoch boundaries (as PyTorch's
/// StepLR/MultiStepLR stepped once per epoch); cosine and one-cycle change it every step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Schedule {
    /// The base rate throughout.
    Constant,
    /// StepLR: times `gamma` every `step_epochs` epochs.
    Step {
        /// Epochs between decays.
        step_epochs: usize,
        /// The factor per decay.
        gamma: f64,
    },
    /// MultiStepLR: times `gamma` at each milestone epoch.
    MultiStep {
        /// The epochs the rate decays after, increasing.
        milestones: Vec<usize>,
        /// The factor per decay.
        gamma: f64,
    },
    /// Linear warm-up from 0 over `warmup_epochs`, then cosine down to `min_lr`.
    Cosine {
        /// Epochs of linear warm-up (fractions allowed).
        warmup_epochs: f64,
        /// The rate at the last step.
        min_lr: f64,
    },
    /// PyTorch's OneCycleLR (cosine annealing, two phases); `max_lr` replaces the base rate.
    OneCycle {
        /// The peak rate.
        max_lr: f64,
        /// The fraction of steps spent rising.
        pct_start: f64,
        /// The first rate is `max_lr / div_factor`.
        div_factor: f64,
        /// The last rate is the first divided by this.
        final_div_factor: f64,
    },
}

impl Schedule {
    /// Checks every number against its range for a run of `epochs` epochs at base rate
    /// `lr`, naming the key.
    pub fn validate(&self, epochs: usize, lr: f64) -> Result<(), String> {
        use crate::text::in_range;
        let rate = || f64::MIN_POSITIVE..=1.0;
        match self {
            Schedule::Constant => Ok(()),
            Schedule::Step { step_epochs, gamma } => {
                in_range("schedule.step_epochs", *step_epochs, 1..=epochs.max(1))?;
                in_range("schedule.gamma", *gamma, rate())
            }
            Schedule::MultiStep { milestones, gamma } => {
                for m in milestones {
                    in_range("schedule.milestones[]", *m, 1..=epochs)?;
                }
                in_range("schedule.gamma", *gamma, rate())
            }
            Schedule::Cosine {
                warmup_epochs,
                min_lr,
            } => {
                in_range(
                    "schedule.warmup_epochs",
                    *warmup_epochs,
                    0.0..=epochs as f64,
                )?;
                in_range("schedule.min_lr", *min_lr, 0.0..=lr)
            }
            Schedule::OneCycle {
                max_lr,
                pct_start,
                div_factor,
                final_div_factor,
            } => {
                in_range("schedule.max_lr", *max_lr, f64::MIN_POSITIVE..=10.0)?;
                in_range("schedule.pct_start", *pct_start, 0.0..=1.0)?;
                in_range("schedule.div_factor", *div_factor, 1.0..=1e9)?;
                in_range("schedule.final_div_factor", *final_div_factor, 1.0..=1e9)
            }
        }
    }

    /// The learning rate of optimiser step `step` (0-based), with `base` the optimiser's
    /// rate and `steps_per_epoch`, `total_steps` the run's shape.
    pub fn lr(&self, base: f64, step: usize, steps_per_epoch: usize, total_steps: usize) -> f64 {
        let epoch = step / steps_per_epoch.max(1);
        match self {
            Schedule::Constant => base,
            Schedule::Step { step_epochs, gamma } => {
                base * gamma.powi((epoch / (*step_epochs).max(1)) as i32)
            }
            Schedule::MultiStep { milestones, gamma } => {
                base * gamma.powi(milestones.iter().filter(|&&m| m <= epoch).count() as i32)
            }
            Schedule::Cosine {
                warmup_epochs,
                min_lr,
            } => {
                let warmup = (warmup_epochs * steps_per_epoch as f64).round() as usize;
                if step < warmup {
                    base * (step + 1) as f64 / warmup as f64
                } else {
                    let span = (total_steps.saturating_sub(warmup)).max(1) as f64;
                    let t = ((step - warmup) as f64 / span).min(1.0);
                    min_lr + (base - min_lr) * 0.5 * (1.0 + (PI * t).cos())
                }
            }
            Schedule::OneCycle {
                max_lr,
                pct_start,
                div_factor,
                final_div_factor,
            } => {
                let initial = max_lr / div_factor;
                let min = initial / final_div_factor;
                let peak_step = pct_start * total_steps as f64 - 1.0;
                let last_step = total_steps as f64 - 1.0;
                let s = step as f64;
                let anneal = |start: f64, end: f64, pct: f64| {
                    end + (start - end) / 2.0 * ((PI * pct).cos() + 1.0)
                };
                if s <= peak_step {
                    anneal(initial, *max_lr, s / peak_step.max(f64::MIN_POSITIVE))
                } else {
                    anneal(
                        *max_lr,
                        min,
                        (s - peak_step) / (last_step - peak_step).max(f64::MIN_POSITIVE),
                    )
                }
            }
        }
    }
}
