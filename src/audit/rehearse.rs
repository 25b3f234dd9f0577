//! `audit --rehearse`: every claim's whole path (configs, chains, pretrained loading,
//! training, statistics, outputs) at smoke scale on whatever machine is at hand, so a
//! broken link shows in minutes rather than after hours on a GPU. Models, image sizes,
//! freezing, preprocessing and chains stay as configured; epochs, images and batches are
//! cut; the full-data, CUDA and memory requirements are waived and recorded; absent
//! pretrained weights get a stand-in, labelled as such everywhere.

use crate::config::TrainConfig;
use crate::model::{Arch, Freeze, Model, ModelConfig, Pool, Stem};
use serde::Serialize;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a rehearsal cuts every run to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SmokeScale {
    /// At most this many epochs (two, so that claims about an epoch and a later one run).
    pub epochs: usize,
    /// At most this batch size.
    pub batch_size: usize,
    /// Optimiser steps per epoch.
    pub steps_per_epoch: usize,
    /// Test images evaluated after each epoch.
    pub test_images: usize,
}

impl Default for SmokeScale {
    fn default() -> Self {
        Self {
            epochs: 2,
            batch_size: 4,
            steps_per_epoch: 1,
            test_images: 16,
        }
    }
}

impl SmokeScale {
    /// Cuts `config` to this scale.
    pub fn apply(&self, config: &mut TrainConfig) {
        let r = &mut config.loop_;
        r.epochs = r.epochs.min(self.epochs);
        r.batch_size = r.batch_size.min(self.batch_size);
        r.train_limit = Some(r.batch_size * self.steps_per_epoch);
        r.test_limit = Some(self.test_images);
        r.eval_batch_size = r.eval_batch_size.min(self.test_images);
        r.checkpoints_kept = 1;
    }

    /// The rehearsal's epoch for epoch `epoch` (1-based) of a run of `full` epochs: the
    /// same fraction of the run, at least the first epoch.
    pub fn epoch(&self, epoch: usize, full: usize) -> usize {
        let scaled = full.min(self.epochs);
        if full == 0 {
            return 1;
        }
        ((epoch * scaled + full / 2) / full).clamp(1, scaled)
    }

    /// One line for the outputs.
    pub fn describe(&self) -> String {
        format!(
            "smoke scale: at most {} epochs of {} step(s) at batch {} at most, {} test images, 2 seeds per run",
            self.epochs, self.steps_per_epoch, self.batch_size, self.test_images
        )
    }
}

/// A pretrained-weights file the rehearsal made because the real one is absent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StandIn {
    /// The file the config names.
    pub replaces: PathBuf,
    /// The stand-in made.
    pub path: PathBuf,
    /// How it was made: torch.save of a torchvision model, or safetensors without torch.
    pub made_by: String,
}

/// Why a stand-in could not be made.
#[derive(Debug, thiserror::Error)]
#[error("making stand-in weights {}: {message}", path.display())]
pub struct StandInError {
    /// The stand-in.
    pub path: PathBuf,
    /// Why.
    pub message: String,
}

/// The stand-ins of one rehearsal, made once each in its `stand-ins/` folder.
#[derive(Debug)]
pub struct StandIns {
    dir: PathBuf,
    made: RefCell<BTreeMap<String, StandIn>>,
}

impl StandIns {
    /// None made yet; they will be made in `dir`.
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            made: RefCell::new(BTreeMap::new()),
        }
    }

    /// The stand-ins made so far.
    pub fn all(&self) -> Vec<StandIn> {
        self.made.borrow().values().cloned().collect()
    }

    /// A stand-in for `replaces`, torchvision's ImageNet weights of `arch` (names and
    /// shapes of `torchvision.models.resnetXX()`, 1,000-class head, values from
    /// torchvision's initialisation at a fixed seed): a `torch.save(state_dict())` file
    /// made by the provisioned torch where there is one, else a `.safetensors` file.
    pub fn for_weights(&self, arch: Arch, replaces: &Path) -> Result<StandIn, StandInError> {
        let name = name_of(arch);
        if let Some(made) = self.made.borrow().get(&name) {
            return Ok(StandIn {
                replaces: replaces.to_owned(),
                ..made.clone()
            });
        }
        let stand_in = make(arch, &self.dir.join(format!("{name}-stand-in")), replaces)?;
        self.made.borrow_mut().insert(name, stand_in.clone());
        Ok(stand_in)
    }
}

/// Writes the stand-in for `arch` at `stem.pth` (or `stem.safetensors`), reusing one a
/// previous rehearsal made.
fn make(arch: Arch, stem: &Path, replaces: &Path) -> Result<StandIn, StandInError> {
    let pth = stem.with_extension("pth");
    let safetensors = stem.with_extension("safetensors");
    let fail = |path: &Path, message: String| StandInError {
        path: path.to_owned(),
        message,
    };
    if let Some(dir) = stem.parent() {
        std::fs::create_dir_all(dir).map_err(|e| fail(dir, e.to_string()))?;
    }
    let existing = [(&pth, TORCH_SAVE), (&safetensors, SAFETENSORS)];
    if let Some((path, made_by)) = existing.into_iter().find(|(p, _)| p.is_file()) {
        return Ok(StandIn {
            replaces: replaces.to_owned(),
            path: path.clone(),
            made_by: made_by.into(),
        });
    }
    let config = ModelConfig {
        arch,
        stem: Stem::Imagenet,
        width: 64,
        classes: 1000,
        freeze: Freeze::None,
        pretrained: None,
        pool: Pool::Mean,
    };
    let model = Model::new(&config, tch::Device::Cpu, STAND_IN_SEED)
        .map_err(|e| fail(&safetensors, e.to_string()))?;
    let tensors: Vec<(String, tch::Tensor)> = model.vs.variables().into_iter().collect();
    let staging = crate::fsutil::temporary_for(&safetensors);
    tch::Tensor::write_safetensors(&tensors, &staging)
        .map_err(|e| fail(&safetensors, crate::runtime::tch_message(&e)))?;
    let outcome = match crate::python::torch_save_state_dict(&staging, &pth, &name_of(arch)) {
        Ok(()) => Ok(StandIn {
            replaces: replaces.to_owned(),
            path: pth,
            made_by: TORCH_SAVE.into(),
        }),
        Err(why) => {
            tracing::info!("stand-in weights as safetensors ({why})");
            std::fs::rename(&staging, &safetensors)
                .map(|()| StandIn {
                    replaces: replaces.to_owned(),
                    path: safetensors.clone(),
                    made_by: SAFETENSORS.into(),
                })
                .map_err(|e| fail(&safetensors, e.to_string()))
        }
    };
    let _ = std::fs::remove_file(&staging);
    outcome
}

fn name_of(arch: Arch) -> String {
    format!("{arch:?}").to_lowercase()
}

/// libtorch's seed for the stand-in's values.
const STAND_IN_SEED: i64 = 2026;
const TORCH_SAVE: &str =
    "torch.save(torchvision.models.resnetXX().state_dict()) by the provisioned torch";
const SAFETENSORS: &str = "cifar-repro, as .safetensors (no Python torch with torchvision found)";

/// The vendored CIFAR-10 slice a rehearsal trains on when a run's data is absent: `golden/data`
/// in the current folder, or in a folder above the claim file.
pub fn vendored_data(claim_file_dir: &Path) -> Option<PathBuf> {
    let here = PathBuf::from("golden/data");
    if here.is_dir() {
        return Some(here);
    }
    let start = std::fs::canonicalize(claim_file_dir).ok()?;
    start
        .ancestors()
        .map(|dir| dir.join("golden/data"))
        .find(|candidate| candidate.is_dir())
}
