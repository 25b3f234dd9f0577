//! ResNet models with torchvision names, head replacement, freezing and pretrained loading.

mod compute;
mod config;
pub mod init;
mod pretrained;
mod resnet;

pub use compute::{Autocast, MemoryFormat, Precision};
pub use config::{Arch, Footprint, Freeze, MAX_WIDTH, ModelConfig, Pool, Stem};
pub use pretrained::{KNOWN_WEIGHTS, KnownWeights, TORCHVISION_BASE_URL, UnknownWeights};
pub use resnet::ResNet;

use crate::hash::hex;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tch::nn::VarStore;
use tch::{Device, Tensor};

/// A weights file that does not fit the model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The weights file cannot be read.
    #[error("{path}: cannot read weights ({message})")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A `.pth` file that is not a readable state dict.
    #[error("cannot read weights: {0}")]
    Pth(Box<crate::pth::PthError>),
    /// The file lacks a tensor the model needs.
    #[error("{path}: has no tensor {name:?}, which the model needs")]
    Missing {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
    },
    /// A tensor of the wrong shape.
    #[error("{path}: tensor {name:?} has shape {found:?}, the model needs {expected:?}")]
    Shape {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// The shape the model needs.
        expected: Vec<i64>,
        /// The file's shape.
        found: Vec<i64>,
    },
    /// A tensor that is no parameter of the model.
    #[error("{path}: tensor {name:?} is not a parameter of this model (another architecture?)")]
    Unexpected {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
    },
    /// The initialisation cannot fill a parameter.
    #[error("the torchvision initialisation has no value of the right shape for {name:?}")]
    Init {
        /// The parameter's name.
        name: String,
    },
}

/// A model and its variables.
pub struct Model {
    /// Every variable, by torchvision's names.
    pub vs: VarStore,
    /// The network.
    pub net: ResNet,
    /// What it was built from.
    pub config: ModelConfig,
}

impl Model {
    /// Puts the model's 4-d weights in `format` (before an optimiser is made for them, so
    /// that its state follows the same format).
    pub fn set_memory_format(&self, format: MemoryFormat) {
        format.apply_to_variables(self.vs.variables().into_values());
    }

    /// Builds the model on `device` with the initial weights torchvision would give it
    /// after `torch.manual_seed(init_seed)` ([`init::torchvision_init`]; `init_seed` is
    /// the seed tree's `init`), then loads pretrained weights if the config names some,
    /// and freezes what the config freezes.
    pub fn new(config: &ModelConfig, device: Device, init_seed: i64) -> Result<Self, ModelError> {
        let vs = VarStore::new(device);
        let net = ResNet::new(&vs.root(), config);
        let mut model = Self {
            vs,
            net,
            config: config.clone(),
        };
        tch::manual_seed(init_seed);
        model.set_initial(init::torchvision_init(config))?;
        if let Some(path) = &config.pretrained {
            model.load(path, true)?;
        }
        for (name, var) in model.vs.variables() {
            if config.freeze.freezes(&name) {
                let _ = var.set_requires_grad(false);
            }
        }
        Ok(model)
    }

    /// Copies every tensor of `path` (`.safetensors`, or a torchvision `.pth` state dict)
    /// into the model, matched by name and shape. `num_batches_tracked` entries are
    /// ignored. With `replace_head`, a head (`fc.*`) of another shape is left as
    /// initialised (ImageNet's 1000 classes to CIFAR's 10).
    pub fn load(&mut self, path: &Path, replace_head: bool) -> Result<(), ModelError> {
        let read = |message: String| ModelError::Read {
            path: path.to_owned(),
            message,
        };
        let is_safetensors = path.extension().is_some_and(|e| e == "safetensors");
        let tensors = if is_safetensors {
            crate::fsutil::ensure_regular(path).map_err(|e| read(e.to_string()))?;
            Tensor::read_safetensors(path)
                .map_err(|e| read(e.to_string().lines().next().unwrap_or_default().to_owned()))?
        } else {
            crate::pth::read_state_dict(path).map_err(|e| ModelError::Pth(Box::new(e)))?
        };
        let mut source: std::collections::BTreeMap<String, Tensor> = tensors
            .into_iter()
            .filter(|(n, _)| !n.ends_with("num_batches_tracked"))
            .collect();
        let mut variables: Vec<(String, Tensor)> = self.vs.variables().into_iter().collect();
        variables.sort_by(|a, b| a.0.cmp(&b.0));
        let _guard = tch::no_grad_guard();
        for (name, mut var) in variables {
            let Some(src) = source.remove(&name) else {
                return Err(ModelError::Missing {
                    path: path.to_owned(),
                    name,
                });
            };
            if src.size() != var.size() {
                if replace_head && name.starts_with("fc.") {
                    continue;
                }
                return Err(ModelError::Shape {
                    path: path.to_owned(),
                    name,
                    expected: var.size(),
                    found: src.size(),
                });
            }
            var.copy_(&src.to_device(var.device()).to_kind(var.kind()));
        }
        match source.into_keys().next() {
            Some(name) => Err(ModelError::Unexpected {
                path: path.to_owned(),
                name,
            }),
            None => Ok(()),
        }
    }

    /// Copies `values` (every variable of the model, by name) into the model.
    fn set_initial(&mut self, values: Vec<(String, Tensor)>) -> Result<(), ModelError> {
        let mut values: std::collections::HashMap<String, Tensor> = values.into_iter().collect();
        let _guard = tch::no_grad_guard();
        for (name, mut var) in self.vs.variables() {
            let value = values
                .remove(&name)
                .ok_or_else(|| ModelError::Init { name: name.clone() })?;
            if value.size() != var.size() {
                return Err(ModelError::Init { name });
            }
            var.copy_(&value.to_device(var.device()));
        }
        Ok(())
    }

    /// The parameters that train, sorted by name.
    pub fn trainable(&self) -> Vec<(String, Tensor)> {
        let mut vars: Vec<(String, Tensor)> = self
            .vs
            .variables()
            .into_iter()
            .filter(|(_, v)| v.requires_grad())
            .collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        vars
    }

    /// SHA-256 over every variable (parameters and BatchNorm statistics), by sorted name:
    /// name, shape and raw bytes.
    pub fn weights_sha256(&self) -> String {
        let mut vars: Vec<(String, Tensor)> = self.vs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let mut hasher = Sha256::new();
        for (name, var) in vars {
            hasher.update(name.as_bytes());
            hasher.update(format!("{:?}", var.size()).as_bytes());
            hasher.update(crate::hash::tensor_bytes(&var));
        }
        hex(&hasher.finalize())
    }
}
