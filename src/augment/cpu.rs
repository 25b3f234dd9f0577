//! The CPU backend: one pass per image over 32x32 planes in plain Rust, resize and
//! normalisation fused into the final write, images spread over threads.
//!
//! Cheap work happens at 32x32; only the last step touches the (possibly 224x224) output.

use super::params::{CropParams, EraseParams, ImageParams, JitterOp, JitterParams};
use super::{AugmentError, PaddingMode};
use crate::data::IMAGE_BYTES;
use tch::{Kind, Tensor};

const SIDE: usize = 32;

/// Applies `params` to the u8 images `images` (`N x 3 x 32 x 32`, CPU), one parameter set
/// per image in order; returns float32 `N x 3 x S x S`. All parameter sets must share the
/// output size. `threads` images are processed at once.
pub fn apply(
    images: &Tensor,
    params: &[ImageParams],
    threads: usize,
) -> Result<Tensor, AugmentError> {
    let n = params.len();
    let source = images.to_device(tch::Device::Cpu).contiguous();
    if source.size() != [n as i64, 3, SIDE as i64, SIDE as i64] || source.kind() != Kind::Uint8 {
        return Err(AugmentError::OutOfRange(format!(
            "the CPU backend takes u8 images {n} x 3 x 32 x 32, got {:?} {:?}",
            source.kind(),
            source.size()
        )));
    }
    let out_side = params.first().map_or(SIDE as i64, output_side);
    if params.iter().any(|p| output_side(p) != out_side) {
        return Err(AugmentError::OutOfRange(
            "all images of a batch must have one output size".into(),
        ));
    }
    let plane = 3 * (out_side * out_side) as usize;
    let output = Tensor::empty(
        [n as i64, 3, out_side, out_side],
        (Kind::Float, tch::Device::Cpu),
    );
    // SAFETY: `output` is a freshly allocated, contiguous float32 CPU tensor of exactly
    // n * plane elements; nothing else sees it until this function returns it, and every
    // element is written below before that.
    let output_values =
        unsafe { std::slice::from_raw_parts_mut(output.data_ptr() as *mut f32, n * plane) };
    let source_bytes = crate::hash::tensor_bytes(&source);
    let source_bytes = source_bytes.as_slice();
    let per_thread = n.div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        for (chunk, (outs, ps)) in output_values
            .chunks_mut(per_thread * plane)
            .zip(params.chunks(per_thread))
            .enumerate()
        {
            let first = chunk * per_thread;
            scope.spawn(move || {
                let mut kernel = Kernel::new(out_side as usize);
                for (k, (out, p)) in outs.chunks_mut(plane).zip(ps).enumerate() {
                    let src =
                        &source_bytes[(first + k) * IMAGE_BYTES..(first + k + 1) * IMAGE_BYTES];
                    kernel.run(src, p, out);
                }
            });
        }
    });
    Ok(output)
}

fn output_side(p: &ImageParams) -> i64 {
    p.resize
        .map_or_else(|| p.crop.as_ref().map_or(SIDE as i64, |c| c.size), |r| r[0])
}

/// Scratch space for one thread.
struct Kernel {
    /// The image after crop and flip, 3 planes of side x side.
    planes: Vec<f32>,
    /// Horizontally resized rows (3 x side x out_side).
    rows: Vec<f32>,
    out_side: usize,
}

impl Kernel {
    fn new(out_side: usize) -> Self {
        Self {
            planes: Vec::new(),
            rows: Vec::new(),
            out_side,
        }
    }

    fn run(&mut self, src: &[u8], p: &ImageParams, out: &mut [f32]) {
        let side = p.crop.as_ref().map_or(SIDE, |c| c.size as usize);
        self.planes.resize(3 * side * side, 0.0);
        crop_flip(
            src,
            p.crop.as_ref(),
            p.hflip.unwrap_or(false),
            side,
            &mut self.planes,
        );
        if let Some(j) = &p.jitter {
            jitter(j, side, &mut self.planes);
        }
        if let Some(e) = &p.erase {
            erase(e, side, &mut self.planes);
        }
        let (mean, std) = p
            .normalize
            .as_ref()
            .map_or(([0.0; 3], [1.0; 3]), |n| (n.mean, n.std));
        if self.out_side == side {
            for c in 0..3 {
                let (m, inv) = (mean[c], 1.0 / std[c]);
                let plane = &self.planes[c * side * side..(c + 1) * side * side];
                for (o, v) in out[c * side * side..(c + 1) * side * side]
                    .iter_mut()
                    .zip(plane)
                {
                    *o = (v - m) * inv;
                }
            }
        } else {
            resize_normalize(
                &self.planes,
                side,
                self.out_side,
                mean,
                std,
                &mut self.rows,
                out,
            );
        }
    }
}

/// Pad, crop and flip in one pass, converting u8 to 0..1.
fn crop_flip(src: &[u8], crop: Option<&CropParams>, flip: bool, side: usize, planes: &mut [f32]) {
    let (top, left, pad) = crop.map_or((0, 0, 0), |c| (c.top, c.left, c.padding));
    let mode = crop.map_or(PaddingMode::Constant, |c| c.padding_mode);
    let fill = crop.map_or(0.0, |c| c.fill);
    let source = |i: i64| -> Option<usize> {
        match mode {
            _ if (0..SIDE as i64).contains(&i) => Some(i as usize),
            PaddingMode::Constant => None,
            PaddingMode::Reflect => {
                Some(if i < 0 { -i } else { 2 * (SIDE as i64 - 1) - i } as usize)
            }
        }
    };
    let cols: Vec<Option<usize>> = (0..side as i64)
        .map(|x| source((if flip { side as i64 - 1 - x } else { x }) + left - pad))
        .collect();
    for c in 0..3 {
        let src_plane = &src[c * SIDE * SIDE..(c + 1) * SIDE * SIDE];
        for y in 0..side {
            let row = &mut planes[(c * side + y) * side..(c * side + y + 1) * side];
            match source(y as i64 + top - pad) {
                None => row.fill(fill),
                Some(sy) => {
                    let src_row = &src_plane[sy * SIDE..(sy + 1) * SIDE];
                    for (o, col) in row.iter_mut().zip(&cols) {
                        *o = col.map_or(fill, |sx| src_row[sx] as f32 / 255.0);
                    }
                }
            }
        }
    }
}

/// torchvision's grayscale weights.
fn gray(r: f32, g: f32, b: f32) -> f32 {
    r * 0.2989 + g * 0.587 + b * 0.114
}

fn jitter(j: &JitterParams, side: usize, planes: &mut [f32]) {
    let n = side * side;
    for &op in &j.order {
        let f = j.factor(op).unwrap_or(1.0);
        let (r, rest) = planes.split_at_mut(n);
        let (g, b) = rest.split_at_mut(n);
        match op {
            JitterOp::Brightness => planes
                .iter_mut()
                .for_each(|v| *v = (*v * f).clamp(0.0, 1.0)),
            JitterOp::Contrast => {
                let sum: f32 = (0..n).map(|i| gray(r[i], g[i], b[i])).sum();
                let mean = sum / n as f32;
                let blend = (1.0 - f) * mean;
                planes
                    .iter_mut()
                    .for_each(|v| *v = (*v * f + blend).clamp(0.0, 1.0));
            }
            JitterOp::Saturation => {
                for i in 0..n {
                    let blend = (1.0 - f) * gray(r[i], g[i], b[i]);
                    r[i] = (r[i] * f + blend).clamp(0.0, 1.0);
                    g[i] = (g[i] * f + blend).clamp(0.0, 1.0);
                    b[i] = (b[i] * f + blend).clamp(0.0, 1.0);
                }
            }
            JitterOp::Hue => {
                for i in 0..n {
                    (r[i], g[i], b[i]) = shift_hue(r[i], g[i], b[i], f);
                }
            }
        }
    }
}

/// Python's `%` for floats: the result has the divisor's sign.
fn py_rem(a: f32, m: f32) -> f32 {
    let r = a % m;
    if r != 0.0 && (r < 0.0) != (m < 0.0) {
        r + m
    } else {
        r
    }
}

/// torchvision's `adjust_hue` for one pixel: RGB to HSV, shift, back (same formulas).
fn shift_hue(r: f32, g: f32, b: f32, hue: f32) -> (f32, f32, f32) {
    let maxc = r.max(g).max(b);
    let minc = r.min(g).min(b);
    let eqc = maxc == minc;
    let range = maxc - minc;
    let s = range / if eqc { 1.0 } else { maxc };
    let div = if eqc { 1.0 } else { range };
    let (rc, gc, bc) = ((maxc - r) / div, (maxc - g) / div, (maxc - b) / div);
    let h = if maxc == r {
        bc - gc
    } else if maxc == g {
        rc + 2.0 - bc
    } else {
        gc + 4.0 - rc
    };
    let h = (h * (1.0 / 6.0) + 1.0) % 1.0;
    let h = py_rem(h + hue, 1.0);
    let v = maxc;
    let h6 = h * 6.0;
    let i = h6.floor();
    let f = h6 - i;
    let i = (i as i32).rem_euclid(6);
    let sxf = s * f;
    let one_minus_s = 1.0 - s;
    let q = ((1.0 - sxf) * v).clamp(0.0, 1.0);
    let t = ((sxf + one_minus_s) * v).clamp(0.0, 1.0);
    let p = (one_minus_s * v).clamp(0.0, 1.0);
    match i {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    }
}

fn erase(e: &EraseParams, side: usize, planes: &mut [f32]) {
    for c in 0..3 {
        for y in e.i as usize..(e.i + e.h) as usize {
            let row = (c * side + y) * side;
            planes[row + e.j as usize..row + (e.j + e.w) as usize].fill(e.value);
        }
    }
}

/// One axis of libtorch's bilinear resize (align_corners = false): for each output
/// position the two source positions and their weights.
fn bilinear_taps(input: usize, output: usize) -> Vec<(usize, usize, f32, f32)> {
    let scale = input as f32 / output as f32;
    (0..output)
        .map(|d| {
            let src = (scale * (d as f32 + 0.5) - 0.5).max(0.0);
            let i0 = (src.floor() as usize).min(input - 1);
            let i1 = (i0 + 1).min(input - 1);
            let l1 = (src - i0 as f32).clamp(0.0, 1.0);
            (i0, i1, 1.0 - l1, l1)
        })
        .collect()
}

/// Bilinear resize (rows first, then columns) with normalisation fused into the write.
fn resize_normalize(
    planes: &[f32],
    side: usize,
    out_side: usize,
    mean: [f32; 3],
    std: [f32; 3],
    rows: &mut Vec<f32>,
    out: &mut [f32],
) {
    let taps = bilinear_taps(side, out_side);
    rows.resize(3 * side * out_side, 0.0);
    for (src_row, dst_row) in planes
        .chunks_exact(side)
        .zip(rows.chunks_exact_mut(out_side))
    {
        for (o, &(i0, i1, l0, l1)) in dst_row.iter_mut().zip(&taps) {
            *o = l0 * src_row[i0] + l1 * src_row[i1];
        }
    }
    for c in 0..3 {
        let (m, inv) = (mean[c], 1.0 / std[c]);
        let rows_c = &rows[c * side * out_side..(c + 1) * side * out_side];
        let out_c = &mut out[c * out_side * out_side..(c + 1) * out_side * out_side];
        for (dst_row, &(i0, i1, l0, l1)) in out_c.chunks_exact_mut(out_side).zip(&taps) {
            let a = &rows_c[i0 * out_side..(i0 + 1) * out_side];
            let b = &rows_c[i1 * out_side..(i1 + 1) * out_side];
            for ((o, &va), &vb) in dst_row.iter_mut().zip(a).zip(b) {
                *o = (l0 * va + l1 * vb - m) * inv;
            }
        }
    }
}
