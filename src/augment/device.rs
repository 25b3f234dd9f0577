//! The device backend: the same operations as batched tensor ops on whatever device the
//! images are on (CUDA on a GPU machine), with per-image parameters as tensors.

use super::params::{ImageParams, JitterOp};
use super::{AugmentError, PaddingMode};
use tch::{Device, IndexOp, Kind, Tensor};

/// Applies `params` to the u8 images (`N x 3 x 32 x 32`) on their device; returns float32
/// `N x 3 x S x S` there. All parameter sets must share crop, padding and output settings
/// (they come from one pipeline).
pub fn apply(images: &Tensor, params: &[ImageParams]) -> Result<Tensor, AugmentError> {
    let n = params.len() as i64;
    if images.size() != [n, 3, 32, 32] || images.kind() != Kind::Uint8 {
        return Err(AugmentError::OutOfRange(format!(
            "the device backend takes u8 images {n} x 3 x 32 x 32, got {:?} {:?}",
            images.kind(),
            images.size()
        )));
    }
    let Some(first) = params.first() else {
        return Ok(Tensor::empty(
            [0, 3, 32, 32],
            (Kind::Float, images.device()),
        ));
    };
    let shape = |p: &ImageParams| {
        (
            p.crop.as_ref().map(|c| (c.size, c.padding, c.padding_mode)),
            p.resize,
            p.jitter.is_some(),
        )
    };
    if params
        .iter()
        .any(|p| shape(p) != shape(first) || p.normalize != first.normalize)
    {
        return Err(AugmentError::OutOfRange(
            "the device backend takes one crop size, padding, padding mode, resize and normalisation per batch".into(),
        ));
    }
    let device = images.device();
    let mut x = images.to_kind(Kind::Float) / 255.0;
    x = crop_flip(&x, params, first, device);
    if first.jitter.is_some() {
        x = jitter(&x, params, device);
    }
    if params.iter().any(|p| p.erase.is_some()) {
        x = erase(&x, params, device);
    }
    if let Some([h, w]) = first.resize {
        x = x.upsample_bilinear2d([h, w], false, None, None);
    }
    if let Some(norm) = &first.normalize {
        let mean = Tensor::from_slice(&norm.mean)
            .to_device(device)
            .view([1, 3, 1, 1]);
        let std = Tensor::from_slice(&norm.std)
            .to_device(device)
            .view([1, 3, 1, 1]);
        x = (x - mean) / std;
    }
    Ok(x)
}

fn column<T: tch::kind::Element>(values: Vec<T>, device: Device) -> Tensor {
    Tensor::from_slice(&values).to_device(device)
}

/// Pad, then gather each image's crop window (columns reversed where flipped).
fn crop_flip(x: &Tensor, params: &[ImageParams], first: &ImageParams, device: Device) -> Tensor {
    let n = params.len() as i64;
    let (padded, side) = match &first.crop {
        Some(c) if c.padding > 0 => {
            let p = c.padding;
            let padded = match c.padding_mode {
                PaddingMode::Constant => {
                    // Each image's own fill: zero padding plus fill times the border mask.
                    let fills = column(
                        params
                            .iter()
                            .map(|q| q.crop.as_ref().map_or(0.0, |c| c.fill))
                            .collect(),
                        device,
                    );
                    let border = x.ones_like().constant_pad_nd([p, p, p, p]).neg() + 1.0;
                    x.constant_pad_nd([p, p, p, p]) + border * fills.view([n, 1, 1, 1])
                }
                PaddingMode::Reflect => x.reflection_pad2d([p, p, p, p]),
            };
            (padded, c.size)
        }
        Some(c) => (x.shallow_clone(), c.size),
        None => (x.shallow_clone(), 32),
    };
    let tops = column(
        params
            .iter()
            .map(|p| p.crop.as_ref().map_or(0, |c| c.top))
            .collect(),
        device,
    );
    let lefts = column(
        params
            .iter()
            .map(|p| p.crop.as_ref().map_or(0, |c| c.left))
            .collect(),
        device,
    );
    let flips = column(
        params.iter().map(|p| p.hflip.unwrap_or(false)).collect(),
        device,
    );
    let steps = Tensor::arange(side, (Kind::Int64, device));
    let rows = tops.view([n, 1]) + steps.view([1, side]);
    let cols = steps.view([1, side]).expand([n, side], false);
    let cols = cols.where_self(
        &flips.logical_not().view([n, 1]),
        &(cols.neg() + (side - 1)),
    );
    let cols = cols + lefts.view([n, 1]);
    let batch = Tensor::arange(n, (Kind::Int64, device)).view([n, 1, 1]);
    let hwc = padded.permute([0, 2, 3, 1]);
    let window = hwc.index(&[
        Some(batch),
        Some(rows.view([n, side, 1])),
        Some(cols.view([n, 1, side])),
    ]);
    window.permute([0, 3, 1, 2]).contiguous()
}

fn gray(x: &Tensor) -> Tensor {
    let r = x.i((.., 0..1));
    let g = x.i((.., 1..2));
    let b = x.i((.., 2..3));
    r * 0.2989 + g * 0.587 + b * 0.114
}

fn blend(x: &Tensor, other: &Tensor, factor: &Tensor) -> Tensor {
    (x * factor + other * (factor.neg() + 1.0)).clamp(0.0, 1.0)
}

/// Each position of the per-image op order in turn: every op is computed for the batch
/// and kept where it is that image's op at that position.
fn jitter(x: &Tensor, params: &[ImageParams], device: Device) -> Tensor {
    let n = params.len() as i64;
    let ops = [
        JitterOp::Brightness,
        JitterOp::Contrast,
        JitterOp::Saturation,
        JitterOp::Hue,
    ];
    let factors: Vec<Tensor> = ops
        .iter()
        .map(|&op| {
            let values: Vec<f32> = params
                .iter()
                .map(|p| p.jitter.as_ref().and_then(|j| j.factor(op)).unwrap_or(1.0))
                .collect();
            column(values, device).view([n, 1, 1, 1])
        })
        .collect();
    let mut x = x.shallow_clone();
    for position in 0..ops.len() {
        for (k, &op) in ops.iter().enumerate() {
            let chosen: Vec<bool> = params
                .iter()
                .map(|p| p.jitter.as_ref().and_then(|j| j.order.get(position)) == Some(&op))
                .collect();
            if !chosen.contains(&true) {
                continue;
            }
            let f = &factors[k];
            let changed = match op {
                JitterOp::Brightness => (&x * f).clamp(0.0, 1.0),
                JitterOp::Contrast => {
                    let mean = gray(&x).mean_dim([1i64, 2, 3].as_slice(), true, Kind::Float);
                    blend(&x, &mean, f)
                }
                JitterOp::Saturation => blend(&x, &gray(&x), f),
                JitterOp::Hue => shift_hue(&x, &f.view([n, 1, 1])),
            };
            let mask = column(chosen, device).view([n, 1, 1, 1]);
            x = changed.where_self(&mask, &x);
        }
    }
    x
}

/// torchvision's `_rgb_to_hsv`, shift, `_hsv_to_rgb`, op for op.
fn shift_hue(x: &Tensor, hue: &Tensor) -> Tensor {
    let (r, g) = (x.select(1, 0), x.select(1, 1));
    let (maxc, minc) = (
        x.amax([1i64].as_slice(), false),
        x.amin([1i64].as_slice(), false),
    );
    let eqc = maxc.eq_tensor(&minc);
    let range = &maxc - &minc;
    let ones = maxc.ones_like();
    let s = &range / ones.where_self(&eqc, &maxc);
    let divisor = ones.where_self(&eqc, &range).unsqueeze(1);
    let scaled = (maxc.unsqueeze(1) - x) / divisor;
    let (rc, gc, bc) = (
        scaled.select(1, 0),
        scaled.select(1, 1),
        scaled.select(1, 2),
    );
    let maxc_ne_r = maxc.ne_tensor(&r);
    let maxc_eq_g = maxc.eq_tensor(&g);
    let hg = (&rc + 2.0 - &bc) * maxc_eq_g.logical_and(&maxc_ne_r);
    let hr = (&bc - &gc) * maxc_ne_r.logical_not();
    let hb = (&gc + 4.0 - &rc) * maxc_ne_r.logical_and(&maxc_eq_g.logical_not());
    let h = ((hr + hg + hb) * (1.0f32 / 6.0) as f64 + 1.0).fmod(1.0);
    let h = (h + hue).remainder(1.0);
    let v = maxc;
    let h6 = h * 6.0;
    let i = h6.floor();
    let f = h6 - &i;
    let i = i.to_kind(Kind::Int64).remainder(6);
    let sxf = &s * &f;
    let one_minus_s = s.neg() + 1.0;
    let q = ((sxf.neg() + 1.0) * &v).clamp(0.0, 1.0);
    let t = ((sxf + &one_minus_s) * &v).clamp(0.0, 1.0);
    let p = (one_minus_s * &v).clamp(0.0, 1.0);
    let vpqt = Tensor::stack(&[v, p, q, t], 1);
    let select = Tensor::from_slice(&[0i64, 2, 1, 1, 3, 0, 3, 0, 0, 2, 1, 1, 1, 1, 3, 0, 0, 2])
        .to_device(x.device())
        .view([3, 6]);
    let index =
        select
            .index_select(1, &i.flatten(0, -1))
            .view([3, i.size()[0], i.size()[1], i.size()[2]]);
    vpqt.gather(1, &index.permute([1, 0, 2, 3]), false)
}

fn erase(x: &Tensor, params: &[ImageParams], device: Device) -> Tensor {
    let n = params.len() as i64;
    let side = x.size()[2];
    let get = |f: fn(&super::params::EraseParams) -> i64| {
        column(
            params
                .iter()
                .map(|p| p.erase.as_ref().map_or(0, f))
                .collect::<Vec<i64>>(),
            device,
        )
        .view([n, 1])
    };
    let (i, j, h, w) = (get(|e| e.i), get(|e| e.j), get(|e| e.h), get(|e| e.w));
    let values: Vec<f32> = params
        .iter()
        .map(|p| p.erase.as_ref().map_or(0.0, |e| e.value))
        .collect();
    let steps = Tensor::arange(side, (Kind::Int64, device)).view([1, side]);
    let in_rows = steps
        .ge_tensor(&i)
        .logical_and(&steps.lt_tensor(&(&i + &h)));
    let in_cols = steps
        .ge_tensor(&j)
        .logical_and(&steps.lt_tensor(&(&j + &w)));
    let mask = in_rows
        .view([n, 1, side, 1])
        .logical_and(&in_cols.view([n, 1, 1, side]));
    column(values, device)
        .view([n, 1, 1, 1])
        .expand_as(x)
        .where_self(&mask, x)
}
