//! Recording the first steps of a run (`train --record-steps N`) so that PyTorch can replay
//! them (`ci/conformance/replay.py RUN_DIR`): `replay/init.safetensors` (every variable
//! before step 1, torchvision names), `replay/step-KKKKK.safetensors` for each recorded
//! step (`images`: float32 exactly as fed to the model; `labels`; `targets` after
//! Mixup/CutMix), `replay/after.safetensors` (every variable after step N) and
//! `replay/replay.json` (each step's learning rate, the optimiser and the model config).

use crate::fsutil::{with_atomic, write_atomic};
use crate::model::{MemoryFormat, ModelConfig, Precision};
use crate::optim::OptimConfig;
use serde::Serialize;
use std::path::{Path, PathBuf};
use tch::Tensor;

/// A recording that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("{path}: cannot write the step recording ({source})")]
pub struct RecordError {
    /// The file or folder.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// What `replay.json` says about the recorded steps.
#[derive(Debug, Serialize)]
struct ReplayRecord<'a> {
    steps: usize,
    /// The learning rate of each recorded step, in order.
    lrs: &'a [f64],
    optim: &'a OptimConfig,
    model: &'a ModelConfig,
    /// "cross_entropy" against `labels`, or against soft `targets` where a step has them.
    loss: &'static str,
    /// The memory format of the model and batches, and the forward pass's precision.
    memory_format: MemoryFormat,
    precision: Precision,
}

/// Writes the recording of a run's first `steps` steps into `RUN/replay/`.
pub struct Recorder {
    dir: PathBuf,
    steps: usize,
    lrs: Vec<f64>,
}

fn write(path: &Path, tensors: &[(String, Tensor)]) -> Result<(), RecordError> {
    with_atomic(path, |tmp| {
        Tensor::write_safetensors(tensors, tmp)
            .map_err(|e| std::io::Error::other(crate::runtime::tch_message(&e)))
    })
    .map_err(|e| RecordError {
        path: path.to_owned(),
        source: e,
    })
}

/// Every variable of a model, on the CPU, sorted by name.
fn variables(vars: Vec<(String, Tensor)>) -> Vec<(String, Tensor)> {
    let mut vars: Vec<(String, Tensor)> = vars
        .into_iter()
        .map(|(n, t)| {
            (
                n,
                t.detach().to_device(tch::Device::Cpu).contiguous().copy(),
            )
        })
        .collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars
}

impl Recorder {
    /// Starts a recording of `steps` steps into `dir` (the run folder's `replay/`), with
    /// the model's variables before the first step.
    pub fn start(
        dir: &Path,
        steps: usize,
        initial: Vec<(String, Tensor)>,
    ) -> Result<Self, RecordError> {
        let dir = dir.to_owned();
        std::fs::create_dir_all(&dir).map_err(|e| RecordError {
            path: dir.clone(),
            source: e,
        })?;
        write(&dir.join("init.safetensors"), &variables(initial))?;
        Ok(Self {
            dir,
            steps,
            lrs: Vec::new(),
        })
    }

    /// Whether step `step` (1-based) is one to record.
    pub fn wants(&self, step: usize) -> bool {
        (1..=self.steps).contains(&step)
    }

    /// Records the batch of step `step` and its learning rate.
    pub fn step(
        &mut self,
        step: usize,
        images: &Tensor,
        labels: &Tensor,
        targets: Option<&Tensor>,
        lr: f64,
    ) -> Result<(), RecordError> {
        let cpu = |t: &Tensor| t.detach().to_device(tch::Device::Cpu).contiguous();
        let mut tensors = vec![
            ("images".to_owned(), cpu(images)),
            ("labels".to_owned(), cpu(labels)),
        ];
        if let Some(t) = targets {
            tensors.push(("targets".to_owned(), cpu(t)));
        }
        write(
            &self.dir.join(format!("step-{step:05}.safetensors")),
            &tensors,
        )?;
        self.lrs.push(lr);
        Ok(())
    }

    /// After step `steps`: the variables then, and `replay.json`.
    pub fn finish(
        &self,
        after: Vec<(String, Tensor)>,
        optim: &OptimConfig,
        model: &ModelConfig,
        (memory_format, precision): (MemoryFormat, Precision),
    ) -> Result<(), RecordError> {
        write(&self.dir.join("after.safetensors"), &variables(after))?;
        let record = ReplayRecord {
            steps: self.lrs.len(),
            lrs: &self.lrs,
            optim,
            model,
            loss: "cross_entropy",
            memory_format,
            precision,
        };
        let path = self.dir.join("replay.json");
        let text = serde_json::to_string_pretty(&record).map_err(|e| RecordError {
            path: path.clone(),
            source: e.into(),
        })?;
        write_atomic(&path, text.as_bytes()).map_err(|e| RecordError { path, source: e })
    }
}
