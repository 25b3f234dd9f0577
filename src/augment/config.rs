//! What an augmentation pipeline does, as a TOML-readable config, and the report's presets.

use serde::{Deserialize, Serialize};

/// CIFAR-10 training-set channel mean (0..1 scale).
pub const CIFAR_MEAN: [f32; 3] = [0.4914, 0.4822, 0.4465];
/// CIFAR-10 training-set channel standard deviation.
pub const CIFAR_STD: [f32; 3] = [0.2470, 0.2435, 0.2616];
/// ImageNet channel mean, as torchvision's pretrained models expect.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviation.
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// The side of a CIFAR-10 image.
pub const CIFAR_SIDE: i64 = 32;

/// The smallest `normalize.std` accepted: pixels lie in 0..1, so normalised values stay
/// within ±1000.
pub const MIN_STD: f32 = 1e-3;

/// An augmentation pipeline. Applied in this order: crop (with padding), horizontal flip,
/// colour jitter, random erasing (all at 32x32), resize, normalise; then Mixup or CutMix
/// over the batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AugmentConfig {
    /// Random crop after padding (torchvision `RandomCrop(size, padding)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crop: Option<CropConfig>,
    /// Probability of a horizontal flip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hflip: Option<f64>,
    /// Colour jitter (torchvision `ColorJitter`): factors drawn from [1-x, 1+x], hue from [-h, h].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<JitterConfig>,
    /// Random erasing (torchvision `RandomErasing`), in 0..1 pixel values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erasing: Option<ErasingConfig>,
    /// Bilinear resize to this side (enlarging only; 224 for ImageNet backbones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resize: Option<i64>,
    /// Channel normalisation.
    pub normalize: Normalize,
    /// Mixup over the batch (torchvision v2 `MixUp`: pairs each image with the previous one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mixup: Option<MixConfig>,
    /// CutMix over the batch (torchvision v2 `CutMix`). With both, each batch picks one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cutmix: Option<MixConfig>,
}

/// `RandomCrop(size, padding, padding_mode, fill)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CropConfig {
    /// The crop's side.
    pub size: i64,
    /// Pixels of padding on every side before cropping.
    pub padding: i64,
    /// How the padding is filled.
    #[serde(default)]
    pub padding_mode: PaddingMode,
    /// Fill value for constant padding, 0..1.
    #[serde(default)]
    pub fill: f32,
}

/// How the border is padded before cropping.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaddingMode {
    /// With `fill`.
    #[default]
    Constant,
    /// With the image mirrored at its edge (the edge pixel not repeated).
    Reflect,
}

/// `ColorJitter(brightness, contrast, saturation, hue)`; 0 leaves that one out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JitterConfig {
    /// The factor is drawn from [max(0, 1 - b), 1 + b].
    #[serde(default)]
    pub brightness: f32,
    /// The factor is drawn from [max(0, 1 - c), 1 + c].
    #[serde(default)]
    pub contrast: f32,
    /// The factor is drawn from [max(0, 1 - s), 1 + s].
    #[serde(default)]
    pub saturation: f32,
    /// The shift is drawn from [-h, h], 0..0.5.
    #[serde(default)]
    pub hue: f32,
}

/// `RandomErasing(p, scale, ratio, value)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErasingConfig {
    /// Probability of erasing a box.
    pub p: f64,
    /// Range of the erased area as a fraction of the image.
    #[serde(default = "default_erase_scale")]
    pub scale: [f64; 2],
    /// Range of the box's aspect ratio.
    #[serde(default = "default_erase_ratio")]
    pub ratio: [f64; 2],
    /// The value written into the box, 0..1.
    #[serde(default)]
    pub value: f32,
}

/// A crop's padding, size and fill against torchvision's ranges.
fn check_crop(c: &CropConfig) -> Result<(), String> {
    if !(0..CIFAR_SIDE).contains(&c.padding) {
        return Err(format!("crop.padding {} must be in 0..32", c.padding));
    }
    if c.size < 1 || c.size > CIFAR_SIDE + 2 * c.padding {
        return Err(format!(
            "crop.size {} must be in 1..={}",
            c.size,
            CIFAR_SIDE + 2 * c.padding
        ));
    }
    if !(0.0..=1.0).contains(&c.fill) {
        return Err(format!("crop.fill {} must be in 0..1", c.fill));
    }
    Ok(())
}

/// Colour jitter's factors against torchvision's ranges.
fn check_jitter(j: &JitterConfig) -> Result<(), String> {
    for (name, v) in [
        ("brightness", j.brightness),
        ("contrast", j.contrast),
        ("saturation", j.saturation),
    ] {
        if !(0.0..=1.0).contains(&v) {
            return Err(format!("jitter.{name} {v} must be in 0..1"));
        }
    }
    if !(0.0..=0.5).contains(&j.hue) {
        return Err(format!("jitter.hue {} must be in 0..0.5", j.hue));
    }
    Ok(())
}

/// Random erasing with probability `p` and torchvision's default scale, ratio and value.
fn erasing(p: f64) -> ErasingConfig {
    ErasingConfig {
        p,
        scale: default_erase_scale(),
        ratio: default_erase_ratio(),
        value: 0.0,
    }
}

fn default_erase_scale() -> [f64; 2] {
    [0.02, 0.33]
}

fn default_erase_ratio() -> [f64; 2] {
    [0.3, 3.3]
}

/// Mixup's or CutMix's strength.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MixConfig {
    /// Beta(alpha, alpha) draws the mixing weight.
    pub alpha: f64,
}

/// Channel normalisation: `"cifar"`, `"imagenet"`, or explicit values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Normalize {
    /// A data set's statistics by name.
    Named(NamedNormalize),
    /// Explicit statistics.
    Values {
        /// Per channel, subtracted.
        mean: [f32; 3],
        /// Per channel, divided by.
        std: [f32; 3],
    },
}

/// A data set's published channel statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NamedNormalize {
    /// CIFAR-10's training-set mean and std.
    Cifar,
    /// ImageNet's, as torchvision's pretrained models expect.
    Imagenet,
}

impl Normalize {
    /// (mean, std) per channel.
    pub fn values(&self) -> ([f32; 3], [f32; 3]) {
        match self {
            Normalize::Named(NamedNormalize::Cifar) => (CIFAR_MEAN, CIFAR_STD),
            Normalize::Named(NamedNormalize::Imagenet) => (IMAGENET_MEAN, IMAGENET_STD),
            Normalize::Values { mean, std } => (*mean, *std),
        }
    }
}

/// A config that cannot be run.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AugmentError {
    /// No pipeline preset has this name.
    #[error("unknown augmentation preset {0:?}; known: {known}", known = PRESETS.join(", "))]
    UnknownPreset(String),
    /// A value out of its range, named by key.
    #[error("augmentation: {0}")]
    OutOfRange(String),
    /// The TOML does not parse or has unknown keys (with the line).
    #[error("augmentation config: {0}")]
    Toml(String),
}

/// The built-in presets, by name.
pub const PRESETS: [&str; 7] = [
    "e1-baseline",
    "e2-regularised",
    "e3-frozen",
    "e3b-strong",
    "next-mixup",
    "next-cutmix",
    "next-erasing",
];

impl AugmentConfig {
    /// Whether the pipeline draws anything per image (crop, flip, jitter, erasing).
    pub fn draws_per_image(&self) -> bool {
        self.crop.is_some()
            || self.hflip.is_some()
            || self.jitter.is_some()
            || self.erasing.is_some()
    }

    /// Whether batches are mixed (Mixup or CutMix).
    pub fn mixes(&self) -> bool {
        self.mixup.is_some() || self.cutmix.is_some()
    }

    /// A built-in preset: the report's pipelines (E1 normalise only; E2 crop 32 pad 4, flip,
    /// jitter 0.2/0.2/0.2; E3 = E2 at 32, then resize to 224 with ImageNet statistics; E3b
    /// stronger) and its proposed next steps (Mixup, CutMix, random erasing on top of E2).
    /// E4, E5, E6 and FINAL reuse E3's pipeline, as the report says.
    pub fn preset(name: &str) -> Result<Self, AugmentError> {
        Ok(match name {
            "e1-baseline" => Self::normalise_only(),
            "e2-regularised" => Self::regularised(),
            "e3-frozen" => Self::frozen(),
            "e3b-strong" => Self::strong(),
            "next-mixup" => AugmentConfig {
                mixup: Some(MixConfig { alpha: 0.2 }),
                ..Self::regularised()
            },
            "next-cutmix" => AugmentConfig {
                cutmix: Some(MixConfig { alpha: 1.0 }),
                ..Self::regularised()
            },
            "next-erasing" => AugmentConfig {
                erasing: Some(erasing(0.5)),
                ..Self::regularised()
            },
            other => return Err(AugmentError::UnknownPreset(other.to_owned())),
        })
    }

    /// E1: normalisation with CIFAR-10's statistics, nothing else.
    fn normalise_only() -> Self {
        AugmentConfig {
            crop: None,
            hflip: None,
            jitter: None,
            erasing: None,
            resize: None,
            normalize: Normalize::Named(NamedNormalize::Cifar),
            mixup: None,
            cutmix: None,
        }
    }

    /// E2: crop 32 with padding 4, flip, jitter 0.2/0.2/0.2.
    fn regularised() -> Self {
        AugmentConfig {
            crop: Some(CropConfig {
                size: 32,
                padding: 4,
                padding_mode: PaddingMode::Constant,
                fill: 0.0,
            }),
            hflip: Some(0.5),
            jitter: Some(JitterConfig {
                brightness: 0.2,
                contrast: 0.2,
                saturation: 0.2,
                hue: 0.0,
            }),
            ..Self::normalise_only()
        }
    }

    /// E3: E2 at 32 px, then resized to 224 with ImageNet's statistics.
    fn frozen() -> Self {
        AugmentConfig {
            resize: Some(224),
            normalize: Normalize::Named(NamedNormalize::Imagenet),
            ..Self::regularised()
        }
    }

    /// E3b: E3 with reflect padding, stronger jitter and random erasing.
    fn strong() -> Self {
        AugmentConfig {
            crop: Some(CropConfig {
                size: 32,
                padding: 4,
                padding_mode: PaddingMode::Reflect,
                fill: 0.0,
            }),
            jitter: Some(JitterConfig {
                brightness: 0.4,
                contrast: 0.4,
                saturation: 0.4,
                hue: 0.1,
            }),
            erasing: Some(erasing(0.25)),
            ..Self::frozen()
        }
    }

    /// Reads a config from TOML text (unknown keys rejected, the line named) and validates it.
    pub fn from_toml(text: &str) -> Result<Self, AugmentError> {
        if let Some(found) = crate::text::non_finite_number(text) {
            return Err(AugmentError::Toml(found.to_string()));
        }
        let config: Self = toml::from_str(text)
            .map_err(|e| AugmentError::Toml(crate::text::toml_error(text, &e)))?;
        let narrowed = toml::to_string(&config).map_err(|e| AugmentError::Toml(e.to_string()))?;
        if let Some(found) = crate::text::non_finite_number(&narrowed) {
            return Err(AugmentError::OutOfRange(format!(
                "{} = {}: too large for the 32-bit number it is kept in",
                found.key, found.literal
            )));
        }
        config.validate()?;
        Ok(config)
    }

    /// The side of the images this pipeline outputs.
    pub fn output_side(&self) -> i64 {
        self.resize.unwrap_or_else(|| self.crop_side())
    }

    /// The side after cropping (32 without a crop).
    pub fn crop_side(&self) -> i64 {
        self.crop.as_ref().map_or(CIFAR_SIDE, |c| c.size)
    }

    /// Checks every value against the range torchvision accepts.
    ///
    /// `normalize.std` has a floor ([`MIN_STD`]) torchvision lacks: a pixel divided by
    /// 1e-45 is infinite, and the run diverges before its first step.
    pub fn validate(&self) -> Result<(), AugmentError> {
        let bad = |msg: String| Err(AugmentError::OutOfRange(msg));
        if let Some(c) = &self.crop {
            check_crop(c).map_err(AugmentError::OutOfRange)?;
        }
        if let Some(p) = self.hflip.filter(|p| !(0.0..=1.0).contains(p)) {
            return bad(format!("hflip probability {p} must be in 0..1"));
        }
        if let Some(j) = &self.jitter {
            check_jitter(j).map_err(AugmentError::OutOfRange)?;
        }
        if let Some(e) = &self.erasing {
            let ordered = |r: [f64; 2]| r[0] > 0.0 && r[0] <= r[1];
            if !(0.0..=1.0).contains(&e.p)
                || !ordered(e.scale)
                || e.scale[1] > 1.0
                || !ordered(e.ratio)
            {
                return bad(format!(
                    "erasing p {} scale {:?} ratio {:?}: need p in 0..1, 0 < scale[0] <= scale[1] <= 1, 0 < ratio[0] <= ratio[1]",
                    e.p, e.scale, e.ratio
                ));
            }
        }
        if let Some(r) = self.resize.filter(|&r| r < self.crop_side() || r > 1024) {
            return bad(format!(
                "resize {r} must enlarge the {}-pixel image and be at most 1024",
                self.crop_side()
            ));
        }
        let (mean, std) = self.normalize.values();
        if std.iter().any(|s| !(MIN_STD..=1e3).contains(s)) {
            return bad(format!(
                "normalize.std {std:?} must be between {MIN_STD} and 1000 (dividing by less sends pixels past f32's range)"
            ));
        }
        if mean.iter().any(|m| !(-1e3..=1e3).contains(m)) {
            return bad(format!(
                "normalize.mean {mean:?} must be between -1000 and 1000"
            ));
        }
        for (name, mix) in [("mixup", &self.mixup), ("cutmix", &self.cutmix)] {
            if let Some(m) = mix
                .as_ref()
                .filter(|m| !(m.alpha > 0.0 && m.alpha.is_finite()))
            {
                return bad(format!("{name}.alpha {} must be positive", m.alpha));
            }
        }
        Ok(())
    }
}
