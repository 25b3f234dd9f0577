//! What model to build and how to start it.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    Resnet18,
    Resnet50,
}

/// `imagenet`: 7x7 stride-2 conv and max-pool (for 224x224 and pretrained weights);
/// `cifar`: 3x3 stride-1 conv, no max-pool (for 32x32 from scratch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stem {
    Imagenet,
    Cifar,
}

/// Which parameters stay fixed: `none`, `backbone` (all but the head) or `up-to:layerN`
/// (the stem and layer1..N). Frozen BatchNorm layers stay in eval mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freeze {
    None,
    Backbone,
    UpTo(u8),
}

impl Freeze {
    /// Stages frozen: 0 none, 1 the stem, 1 + N the stem and layer1..N.
    pub fn frozen_stages(self) -> usize {
        match self {
            Freeze::None => 0,
            Freeze::Backbone => 5,
            Freeze::UpTo(n) => 1 + n as usize,
        }
    }

    /// True when the parameter `name` (torchvision naming) is frozen.
    pub fn freezes(self, name: &str) -> bool {
        let stage = match name.split('.').next() {
            Some("conv1") | Some("bn1") => 0,
            Some(layer) => match layer
                .strip_prefix("layer")
                .and_then(|n| n.parse::<usize>().ok())
            {
                Some(n) => n,
                None => return false, // the head
            },
            None => return false,
        };
        stage < self.frozen_stages()
    }
}

impl std::fmt::Display for Freeze {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Freeze::None => write!(f, "none"),
            Freeze::Backbone => write!(f, "backbone"),
            Freeze::UpTo(n) => write!(f, "up-to:layer{n}"),
        }
    }
}

impl std::str::FromStr for Freeze {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(Freeze::None),
            "backbone" => Ok(Freeze::Backbone),
            _ => s
                .strip_prefix("up-to:layer")
                .and_then(|n| n.parse::<u8>().ok())
                .filter(|n| (1..=4).contains(n))
                .map(Freeze::UpTo)
                .ok_or_else(|| format!("freeze {s:?}: expected none, backbone or up-to:layer1..4")),
        }
    }
}

impl Serialize for Freeze {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Freeze {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

fn default_width() -> i64 {
    64
}

fn default_classes() -> i64 {
    10
}

/// The model of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub arch: Arch,
    pub stem: Stem,
    /// Channels of the first stage (64 in torchvision; smaller for quick CPU runs).
    #[serde(default = "default_width")]
    pub width: i64,
    #[serde(default = "default_classes")]
    pub classes: i64,
    #[serde(default = "default_freeze")]
    pub freeze: Freeze,
    /// Pretrained weights (`.safetensors` or a torchvision `.pth` state dict); the head
    /// (`fc.*`) is left out when its shape differs (1000 ImageNet classes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrained: Option<PathBuf>,
    /// Start from another run's final weights (two-stage training, E6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from_run: Option<PathBuf>,
}

fn default_freeze() -> Freeze {
    Freeze::None
}
