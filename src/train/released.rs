//! A released checkpoint, evaluated as its author left it: a `torch.save` state dict of a
//! model cifar-repro builds (loaded by name and shape into the config's model), or a
//! TorchScript module (`torch.jit.save`), run on the test split with the config's eval
//! pipeline (resize, normalisation). One deterministic pass, nothing trained.

use super::error::TrainError;
use super::evaluate::evaluate;
use crate::config::TrainConfig;
use crate::data::Cifar10;
use crate::metrics::Metrics;
use crate::model::Model;
use std::path::Path;
use tch::Device;
use tch::nn::ModuleT;

/// What a released checkpoint file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleasedKind {
    /// A state dict, loaded into the config's model.
    StateDict,
    /// A TorchScript module, which carries its own architecture.
    TorchScript,
}

impl ReleasedKind {
    /// What the file held and how it ran, before the config's name: "a state dict loaded
    /// into the model of quickstart".
    pub fn describe(self) -> &'static str {
        match self {
            ReleasedKind::StateDict => "a state dict loaded into the model of",
            ReleasedKind::TorchScript => "a TorchScript module, preprocessed as",
        }
    }
}

/// A checkpoint's evaluation on the test split.
#[derive(Debug, Clone)]
pub struct ReleasedEval {
    /// What the file held.
    pub kind: ReleasedKind,
    /// The file's SHA-256.
    pub sha256: String,
    /// The test metrics.
    pub metrics: Metrics,
}

/// Whether `path` is a TorchScript archive (`torch.jit.save` writes `NAME/code/` and
/// `NAME/constants.pkl` beside `data.pkl`; `torch.save` writes neither).
pub fn kind_of(path: &Path) -> Result<ReleasedKind, TrainError> {
    let refuse = |why: String| TrainError::Released {
        path: path.to_owned(),
        why,
    };
    let file = crate::fsutil::open_file(path).map_err(|e| refuse(e.to_string()))?;
    let archive = zip::ZipArchive::new(file).map_err(|e| {
        refuse(format!(
            "not a torch.save or torch.jit.save file (not a zip archive: {e})"
        ))
    })?;
    let scripted = archive
        .file_names()
        .any(|n| n.ends_with("/constants.pkl") || n.contains("/code/"));
    Ok(match scripted {
        true => ReleasedKind::TorchScript,
        false => ReleasedKind::StateDict,
    })
}

/// Evaluates the checkpoint at `path` on the test split of `data`, with `config`'s model
/// (for a state dict) and eval pipeline, on `device`.
pub fn evaluate_released(
    path: &Path,
    config: &TrainConfig,
    data: &Cifar10,
    device: Device,
) -> Result<ReleasedEval, TrainError> {
    let kind = kind_of(path)?;
    let sha256 = crate::hash::sha256_file(path).map_err(|e| TrainError::Released {
        path: path.to_owned(),
        why: e.to_string(),
    })?;
    let used = config.test_images_used(data.test.len()) as i64;
    let (images, labels) = (
        data.test.images.narrow(0, 0, used),
        data.test.labels.narrow(0, 0, used),
    );
    let run = |net: &dyn ModuleT| {
        evaluate(
            net,
            &images,
            &labels,
            &config.augment,
            &config.loop_,
            device,
        )
        .map(|(m, _)| m)
    };
    let metrics = match kind {
        ReleasedKind::StateDict => {
            let mut model_config = config.model.clone();
            model_config.pretrained = None;
            let mut model = Model::new(&model_config, device, 0)?;
            model.load(path, false)?;
            run(&model.net)?
        }
        ReleasedKind::TorchScript => {
            let mut module =
                tch::CModule::load_on_device(path, device).map_err(|e| TrainError::Released {
                    path: path.to_owned(),
                    why: format!("TorchScript: {}", first_line(&e.to_string())),
                })?;
            module.set_eval();
            run(&module)?
        }
    };
    Ok(ReleasedEval {
        kind,
        sha256,
        metrics,
    })
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}
