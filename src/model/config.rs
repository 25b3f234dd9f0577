//! What model to build and how to start it.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::path::PathBuf;

/// The ResNet depth, as torchvision builds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// BasicBlocks, 2-2-2-2.
    Resnet18,
    /// Bottlenecks, 3-4-6-3.
    Resnet50,
}

impl Arch {
    /// Blocks in each of the four stages, and whether they are bottlenecks (expansion 4)
    /// rather than basic blocks: torchvision's `layers` and `block`.
    pub fn stages(self) -> ([usize; 4], bool) {
        match self {
            Arch::Resnet18 => ([2, 2, 2, 2], false),
            Arch::Resnet50 => ([3, 4, 6, 3], true),
        }
    }
}

/// `imagenet`: 7x7 stride-2 conv and max-pool (for 224x224 and pretrained weights);
/// `cifar`: 3x3 stride-1 conv, no max-pool (for 32x32 from scratch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Stem {
    /// 7x7 stride-2 convolution and max pooling, as torchvision.
    Imagenet,
    /// 3x3 stride-1 convolution and no pooling, for 32x32 inputs.
    Cifar,
}

/// Which parameters stay fixed: `none`, `backbone` (all but the head) or `up-to:layerN`
/// (the stem and layer1..N). Frozen BatchNorm layers stay in eval mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freeze {
    /// Everything trains.
    None,
    /// Only the head (`fc`) trains.
    Backbone,
    /// The stem and layer1 to layerN stay fixed.
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
    /// The depth.
    pub arch: Arch,
    /// The stem.
    pub stem: Stem,
    /// Channels of the first stage (64 in torchvision; smaller for quick CPU runs).
    #[serde(default = "default_width")]
    pub width: i64,
    /// Outputs of the head (10 for CIFAR-10).
    #[serde(default = "default_classes")]
    pub classes: i64,
    /// Which parameters stay fixed.
    #[serde(default = "default_freeze")]
    pub freeze: Freeze,
    /// Pretrained weights (`.safetensors` or a torchvision `.pth` state dict); the head
    /// (`fc.*`) is left out when its shape differs (1000 ImageNet classes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrained: Option<PathBuf>,
    /// How the last feature map is pooled (written only when not the default, so a
    /// default config's TOML, hash and audit run key are as before).
    #[serde(default, skip_serializing_if = "is_default")]
    pub pool: Pool,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// Global pooling before the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Pool {
    /// A mean over H and W.
    #[default]
    Mean,
    /// `adaptive_avg_pool2d(x, 1)` and a flatten, the calls torchvision's ResNet makes
    /// (ATen computes a 1x1 adaptive average as the same mean, so the two agree bit for
    /// bit; the option lets a claim be judged for the model exactly as torchvision runs it).
    Adaptive,
}

fn default_freeze() -> Freeze {
    Freeze::None
}

/// What a model costs in memory, counted in elements (multiply by 4 for fp32 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    /// Parameters and BatchNorm buffers.
    pub parameters: u64,
    /// Activations autograd keeps for one image in a training step: each conv's output
    /// (BatchNorm's backward reads it) and the ReLU output after it.
    pub activations_per_image: u64,
    /// The largest single conv output for one image: what evaluation, which keeps no
    /// graph, holds a few of at a time.
    pub largest_activation: u64,
}

/// The widest first stage a config may ask for (torchvision uses 64; wide ResNets 640).
pub const MAX_WIDTH: i64 = 1024;

impl ModelConfig {
    /// Checks every number against its range, naming the key.
    pub fn validate(&self) -> Result<(), String> {
        crate::text::in_range("model.width", self.width, 1..=MAX_WIDTH)?;
        crate::text::in_range("model.classes", self.classes, 10..=100_000)
    }

    /// The footprint on `side` x `side` inputs, walked over the same architecture as
    /// [`super::ResNet::new`] builds (saturating, so absurd widths cannot overflow).
    pub fn footprint(&self, side: i64) -> Footprint {
        let w = self.width.max(1) as u64;
        let mut side = side.max(1) as u64;
        let mut params: u64 = 0;
        let mut acts: u64 = 0;
        let mut largest: u64 = 0;
        let mut conv = |c_in: u64, c_out: u64, k: u64, stride: u64, side: &mut u64| {
            *side = side.div_ceil(stride);
            params = params.saturating_add(c_in.saturating_mul(c_out).saturating_mul(k * k));
            params = params.saturating_add(c_out.saturating_mul(4));
            let out = c_out.saturating_mul(*side).saturating_mul(*side);
            acts = acts.saturating_add(out.saturating_mul(2));
            largest = largest.max(out);
        };
        match self.stem {
            Stem::Imagenet => {
                conv(3, w, 7, 2, &mut side);
                side = side.div_ceil(2);
            }
            Stem::Cifar => conv(3, w, 3, 1, &mut side),
        }
        let (counts, bottleneck) = self.arch.stages();
        let mut c_in = w;
        for (i, &count) in counts.iter().enumerate() {
            let width = w.saturating_mul(1 << i);
            for b in 0..count {
                let stride = if b == 0 && i > 0 { 2 } else { 1 };
                let c_out = if bottleneck {
                    width.saturating_mul(4)
                } else {
                    width
                };
                let mut block_side = side;
                if bottleneck {
                    conv(c_in, width, 1, 1, &mut block_side);
                    conv(width, width, 3, stride, &mut block_side);
                    conv(width, c_out, 1, 1, &mut block_side);
                } else {
                    conv(c_in, width, 3, stride, &mut block_side);
                    conv(width, width, 3, 1, &mut block_side);
                }
                if stride != 1 || c_in != c_out {
                    conv(c_in, c_out, 1, stride, &mut side.clone());
                }
                side = block_side;
                c_in = c_out;
            }
        }
        let classes = self.classes.max(1) as u64;
        Footprint {
            parameters: params.saturating_add(c_in.saturating_mul(classes) + classes),
            activations_per_image: acts,
            largest_activation: largest,
        }
    }
}
