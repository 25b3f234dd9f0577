//! `audit --plan`: the runs an audit needs (distinct configs x seeds, finished ones
//! marked) and what the rest will cost here, from a few timed training steps and
//! forward passes of each distinct model, size and setting.

use super::graph::Work;
use crate::bench::{StepBench, StepSpec, rates};
use crate::determinism::{Determinism, flags};
use crate::model::ModelError;
use std::path::PathBuf;
use tch::Device;

/// One distinct run of an audit.
#[derive(Debug, Clone)]
pub struct PlannedRun {
    /// Its key (the first 16 hex digits of its config's SHA-256) and folder (`runs/KEY`).
    pub key: String,
    /// Its folder in the audit folder.
    pub folder: PathBuf,
    /// The claims that read it (directly, or through a run that starts from it).
    pub claims: Vec<String>,
    /// Which of the audit's seeds it trains with.
    pub seed_index: usize,
    /// 0, or 1 for the second run of a reproducibility claim's seed.
    pub copy: usize,
    /// The run whose final weights it starts from (`init_from`).
    pub starts_from: Option<PathBuf>,
    /// Finished already in the audit folder: reused, not trained.
    pub finished: bool,
    /// Optimiser steps, and test images evaluated (after every epoch); 0 for a program.
    pub steps: usize,
    /// Test images evaluated over the run.
    pub eval_images: usize,
    /// A finished program's wall time, what the estimate of its runner's other seeds is.
    pub program_seconds: Option<f64>,
    /// What it trains or runs.
    pub work: Work,
}

/// The runs an audit needs, and the claims it cannot run here, with why.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Each distinct run, in the order they are trained.
    pub runs: Vec<PlannedRun>,
    /// Claims that cannot run here: id and why.
    pub not_run: Vec<(String, String)>,
    /// Claims that evaluate a released checkpoint once instead of training: id and file.
    pub evaluations: Vec<(String, PathBuf)>,
}

/// What a training step and an evaluated image cost here for one kind of run.
#[derive(Debug, Clone)]
pub struct Cost {
    /// The kind of run.
    pub spec: StepSpec,
    /// Its determinism mode.
    pub determinism: Determinism,
    /// Its thread count.
    pub threads: usize,
    /// Measured seconds per training step.
    pub seconds_per_step: f64,
    /// Measured seconds per evaluated image.
    pub seconds_per_eval_image: f64,
}

/// The estimate of a plan.
#[derive(Debug, Clone)]
pub struct Estimate {
    /// Seconds per run, in the plan's order (0 for a finished one; NaN for a program none
    /// of whose seeds has run yet).
    pub run_seconds: Vec<f64>,
    /// The costs measured, one per kind of run.
    pub costs: Vec<Cost>,
}

impl Estimate {
    /// The seconds of the runs whose time is known.
    pub fn total_seconds(&self) -> f64 {
        self.run_seconds.iter().filter(|s| s.is_finite()).sum()
    }

    /// How many runs' time is unknown (programs none of whose seeds has run).
    pub fn unknown(&self) -> usize {
        self.run_seconds.iter().filter(|s| !s.is_finite()).count()
    }
}

/// The largest batch a step is timed at: larger batches are priced per image from it (on a
/// CPU the time per image barely changes above a few images; on a GPU, where large
/// batches run more efficiently, the estimate is an upper one).
pub const MAX_TIMED_BATCH: i64 = 16;

/// Fixed cost of each run beyond its steps and evaluations (the numerics probe, the model's
/// initialisation, one checkpoint and manifest per epoch), measured on the quick start.
const SECONDS_PER_RUN: f64 = 0.5;
const SECONDS_PER_EPOCH: f64 = 0.1;

impl Plan {
    /// Times `steps` training steps (after one untimed) and as many forward passes of
    /// each distinct kind of run still to train, on `device`, and prices every run.
    pub fn estimate(&self, device: Device, steps: usize) -> Result<Estimate, ModelError> {
        let mut costs: Vec<Cost> = Vec::new();
        let mut run_seconds = Vec::new();
        for run in &self.runs {
            let config = match &run.work {
                _ if run.finished => {
                    run_seconds.push(0.0);
                    continue;
                }
                Work::Program(program) => {
                    run_seconds.push(self.program_seconds(&program.runner));
                    continue;
                }
                Work::Train(config) => config,
            };
            let mut spec = StepSpec::of_run(config);
            let scale = spec.batch as f64 / spec.batch.clamp(1, MAX_TIMED_BATCH) as f64;
            spec.batch = spec.batch.min(MAX_TIMED_BATCH);
            let (determinism, threads) = (config.loop_.determinism, config.loop_.threads);
            let known = costs.iter().position(|c| {
                c.spec == spec && c.determinism == determinism && c.threads == threads
            });
            let cost = match known {
                Some(i) => &costs[i],
                None => {
                    costs.push(measure(spec, determinism, threads, device, steps)?);
                    &costs[costs.len() - 1]
                }
            };
            run_seconds.push(
                run.steps as f64 * cost.seconds_per_step * scale
                    + run.eval_images as f64 * cost.seconds_per_eval_image
                    + SECONDS_PER_RUN
                    + config.loop_.epochs as f64 * SECONDS_PER_EPOCH,
            );
        }
        Ok(Estimate { run_seconds, costs })
    }

    /// The mean wall time of the finished runs of `runner` (NaN when none has run).
    fn program_seconds(&self, runner: &str) -> f64 {
        let times: Vec<f64> = self
            .runs
            .iter()
            .filter(|r| matches!(&r.work, Work::Program(p) if p.runner == runner))
            .filter_map(|r| r.program_seconds)
            .collect();
        match times.len() {
            0 => f64::NAN,
            n => times.iter().sum::<f64>() / n as f64,
        }
    }
}

/// Times one kind of run's training step and forward pass, with its determinism mode and
/// thread count applied as training applies them.
fn measure(
    spec: StepSpec,
    determinism: Determinism,
    threads: usize,
    device: Device,
    steps: usize,
) -> Result<Cost, ModelError> {
    flags::apply(determinism, threads);
    let mut bench = StepBench::new(&spec, device)?;
    let batch = bench.batch();
    let step_rate = rates(batch, 1, steps, || bench.step()).median;
    let eval_rate = rates(batch, 1, steps, || bench.forward()).median;
    Ok(Cost {
        spec,
        determinism,
        threads,
        seconds_per_step: batch as f64 / step_rate,
        seconds_per_eval_image: 1.0 / eval_rate,
    })
}
