//! Explicit augmentation parameters, drawn once from a stream and handed to a backend.
//! Field names follow torchvision's functional API.

use super::config::{
    AugmentConfig, CIFAR_SIDE, CropConfig, ErasingConfig, JitterConfig, PaddingMode,
};
use crate::determinism::Stream;
use serde::{Deserialize, Serialize};

/// Everything one image's augmentation needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageParams {
    /// The image's index in its split.
    pub index: usize,
    /// Pad and crop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crop: Option<CropParams>,
    /// Whether the image is flipped left to right.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hflip: Option<bool>,
    /// Colour jitter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<JitterParams>,
    /// The box erased, when one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erase: Option<EraseParams>,
    /// Output size [h, w] of the bilinear resize.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resize: Option<[i64; 2]>,
    /// The channel statistics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalize: Option<NormalizeParams>,
}

/// `F.pad(img, padding, fill, padding_mode)` then `F.crop(img, top, left, size, size)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CropParams {
    /// The crop's top row in the padded image.
    pub top: i64,
    /// Its left column.
    pub left: i64,
    /// Its side.
    pub size: i64,
    /// Padding on every side.
    pub padding: i64,
    /// The constant padding's value, 0..1.
    pub fill: f32,
    /// How the padding is filled.
    pub padding_mode: PaddingMode,
}

/// A colour-jitter op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JitterOp {
    /// `F.adjust_brightness`.
    Brightness,
    /// `F.adjust_contrast`.
    Contrast,
    /// `F.adjust_saturation`.
    Saturation,
    /// `F.adjust_hue`.
    Hue,
}

/// The factors drawn, and the order the enabled ops run in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JitterParams {
    /// The enabled ops, in the order they run.
    pub order: Vec<JitterOp>,
    /// The brightness factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brightness: Option<f32>,
    /// The contrast factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contrast: Option<f32>,
    /// The saturation factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saturation: Option<f32>,
    /// The hue shift.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hue: Option<f32>,
}

impl JitterParams {
    /// The factor drawn for `op` (present for every op in `order`).
    pub fn factor(&self, op: JitterOp) -> Option<f32> {
        match op {
            JitterOp::Brightness => self.brightness,
            JitterOp::Contrast => self.contrast,
            JitterOp::Saturation => self.saturation,
            JitterOp::Hue => self.hue,
        }
    }
}

/// `F.erase(img, i, j, h, w, value)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EraseParams {
    /// The box's top row.
    pub i: i64,
    /// Its left column.
    pub j: i64,
    /// Its height.
    pub h: i64,
    /// Its width.
    pub w: i64,
    /// The value written into it.
    pub value: f32,
}

/// `F.normalize(img, mean, std)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NormalizeParams {
    /// Per channel, subtracted.
    pub mean: [f32; 3],
    /// Per channel, divided by.
    pub std: [f32; 3],
}

/// Mixup or CutMix over a batch: each image is mixed with the previous one (the batch
/// rolled by one), labels likewise with weight `lambda` for the image's own label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum MixParams {
    /// The images blended: `lambda` of the image, the rest of the previous one.
    Mixup {
        /// The weight of the image's own label, drawn from Beta(alpha, alpha).
        lambda: f64,
    },
    /// The pasted box [top, left, height, width]; `lambda` is 1 minus its area fraction.
    Cutmix {
        /// The weight of the image's own label: 1 minus the box's share of the image.
        lambda: f64,
        /// [top, left, height, width].
        r#box: [i64; 4],
    },
}

/// The parameters of one batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchParams {
    /// Each image's, in batch order.
    pub images: Vec<ImageParams>,
    /// The batch's Mixup or CutMix, when the pipeline mixes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mix: Option<MixParams>,
}

/// Draws one batch's parameters for the images `indices`, in a fixed order: per image
/// crop (top, left), flip, jitter (order, then each enabled factor), erasing, from
/// `stream`; then the batch's mix from `mix` (its own stream, so that a variance study can
/// vary it alone). The same stream states always give the same parameters.
pub fn draw_batch(
    config: &AugmentConfig,
    indices: &[usize],
    stream: &mut Stream,
    mix: &mut Stream,
) -> BatchParams {
    let images = indices
        .iter()
        .map(|&index| draw_image(config, index, stream))
        .collect();
    BatchParams {
        images,
        mix: draw_mix(config, mix),
    }
}

/// One image's parameters, drawn in the order `draw_batch` documents.
fn draw_image(config: &AugmentConfig, index: usize, stream: &mut Stream) -> ImageParams {
    let crop = config.crop.as_ref().map(|c| draw_crop(c, stream));
    let hflip = config.hflip.map(|p| stream.bernoulli(p));
    let jitter = config.jitter.as_ref().map(|j| draw_jitter(j, stream));
    let erase = config
        .erasing
        .as_ref()
        .and_then(|e| draw_erase(e, config.crop_side(), stream));
    let (mean, std) = config.normalize.values();
    ImageParams {
        index,
        crop,
        hflip,
        jitter,
        erase,
        resize: config.resize.map(|r| [r, r]),
        normalize: Some(NormalizeParams { mean, std }),
    }
}

/// The crop's corner in the padded image: top, then left.
fn draw_crop(c: &CropConfig, stream: &mut Stream) -> CropParams {
    let range = (CIFAR_SIDE + 2 * c.padding - c.size + 1) as u64;
    let top = stream.below(range) as i64;
    let left = stream.below(range) as i64;
    CropParams {
        top,
        left,
        size: c.size,
        padding: c.padding,
        fill: c.fill,
        padding_mode: c.padding_mode,
    }
}

/// The order of the four operations (a permutation, the disabled ones dropped after it),
/// then each enabled factor: brightness, contrast, saturation, hue.
fn draw_jitter(j: &JitterConfig, stream: &mut Stream) -> JitterParams {
    let ops = [
        JitterOp::Brightness,
        JitterOp::Contrast,
        JitterOp::Saturation,
        JitterOp::Hue,
    ];
    let strengths = [j.brightness, j.contrast, j.saturation, j.hue];
    let order: Vec<JitterOp> = stream
        .permutation(4)
        .into_iter()
        .filter(|&i| strengths[i] > 0.0)
        .map(|i| ops[i])
        .collect();
    let mut factor = |x: f32| {
        (x > 0.0).then(|| stream.uniform((1.0 - x as f64).max(0.0), 1.0 + x as f64) as f32)
    };
    let brightness = factor(j.brightness);
    let contrast = factor(j.contrast);
    let saturation = factor(j.saturation);
    let hue = (j.hue > 0.0).then(|| stream.uniform(-j.hue as f64, j.hue as f64) as f32);
    JitterParams {
        order,
        brightness,
        contrast,
        saturation,
        hue,
    }
}

/// Whether to erase, then torchvision's ten tries at a box that fits a `side` square
/// (none when no try fits).
fn draw_erase(e: &ErasingConfig, side: i64, stream: &mut Stream) -> Option<EraseParams> {
    if !stream.bernoulli(e.p) {
        return None;
    }
    let area = (side * side) as f64;
    let log_ratio = [e.ratio[0].ln(), e.ratio[1].ln()];
    (0..10).find_map(|_| {
        let erase_area = area * stream.uniform(e.scale[0], e.scale[1]);
        let aspect = stream.uniform(log_ratio[0], log_ratio[1]).exp();
        let h = (erase_area * aspect).sqrt().round() as i64;
        let w = (erase_area / aspect).sqrt().round() as i64;
        (h < side && w < side && h > 0 && w > 0).then(|| {
            let i = stream.below((side - h + 1) as u64) as i64;
            let j = stream.below((side - w + 1) as u64) as i64;
            EraseParams {
                i,
                j,
                h,
                w,
                value: e.value,
            }
        })
    })
}

fn draw_mix(config: &AugmentConfig, stream: &mut Stream) -> Option<MixParams> {
    let use_cutmix = match (&config.mixup, &config.cutmix) {
        (None, None) => return None,
        (Some(_), None) => false,
        (None, Some(_)) => true,
        (Some(_), Some(_)) => stream.bernoulli(0.5),
    };
    let side = config.output_side();
    if !use_cutmix {
        let alpha = config.mixup.as_ref()?.alpha;
        return Some(MixParams::Mixup {
            lambda: stream.beta(alpha, alpha),
        });
    }
    let alpha = config.cutmix.as_ref()?.alpha;
    let lambda = stream.beta(alpha, alpha);
    // torchvision v2 CutMix: a box centred at a random pixel, sides sqrt(1 - lambda) of
    // the image, clipped to it; lambda is then the area actually kept.
    let r_x = stream.below(side as u64) as f64;
    let r_y = stream.below(side as u64) as f64;
    let r = 0.5 * (1.0 - lambda).sqrt();
    let half = (r * side as f64) as i64 as f64;
    let clip = |v: f64| v.clamp(0.0, side as f64) as i64;
    let (x1, y1, x2, y2) = (
        clip(r_x - half),
        clip(r_y - half),
        clip(r_x + half),
        clip(r_y + half),
    );
    let kept = 1.0 - ((x2 - x1) * (y2 - y1)) as f64 / (side * side) as f64;
    Some(MixParams::Cutmix {
        lambda: kept,
        r#box: [y1, x1, y2 - y1, x2 - x1],
    })
}
