//! An augmentation pipeline run on a few training images, written out with every
//! parameter it drew (`cifar-repro augment`): `grid.png`, `params.json` and
//! `batch.safetensors`.

use super::{denormalize, image_grid};
use crate::augment::{AugmentConfig, AugmentError, Backend, Batch, Pipeline};
use crate::data::Split;
use crate::determinism::{SeedTree, stream_names};
use crate::fsutil::with_atomic;
use crate::runtime::tch_message;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// A preview that cannot be made or written.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    /// The pipeline cannot run.
    #[error(transparent)]
    Augment(#[from] AugmentError),
    /// The preview would hold more than [`MAX_PREVIEW_BYTES`].
    #[error(
        "--count {count} at {side} px needs about {needed_gib:.1} GiB (about {COPIES} float copies of the batch at its peak); a preview is kept under {} GiB: at most {most} images at this size",
        MAX_PREVIEW_BYTES >> 30
    )]
    TooLarge {
        /// The images asked for.
        count: usize,
        /// The output's side.
        side: i64,
        /// The estimate.
        needed_gib: f64,
        /// The most images that fit.
        most: u64,
    },
    /// A file cannot be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// What a preview holds: the input images, the pipeline's output, the parameters drawn.
struct Shown<'a> {
    config: &'a AugmentConfig,
    seed: u64,
    batch: Batch,
    input: Tensor,
    output: Tensor,
}

/// The most memory a preview may take, by [`preview_bytes`]'s estimate.
pub const MAX_PREVIEW_BYTES: u64 = 4 << 30;

/// How many float copies of the batch a preview holds at its peak, as measured (input
/// scaled to the output's side, output, the pipeline's intermediates, both stacked for
/// the grid, the grid itself and its PNG).
const COPIES: u64 = 18;

/// The estimated peak bytes of a preview of `count` images through `config`.
pub fn preview_bytes(config: &AugmentConfig, count: usize) -> u64 {
    let side = config.output_side().unsigned_abs();
    (count as u64)
        .saturating_mul(3 * side * side * 4)
        .saturating_mul(COPIES)
}

/// Refuses a preview whose estimate is over [`MAX_PREVIEW_BYTES`], with the count and
/// the estimate, before any image is read.
pub fn check_preview(config: &AugmentConfig, count: usize) -> Result<(), PreviewError> {
    let needed = preview_bytes(config, count);
    if needed <= MAX_PREVIEW_BYTES {
        return Ok(());
    }
    Err(PreviewError::TooLarge {
        count,
        side: config.output_side(),
        needed_gib: needed as f64 / (1u64 << 30) as f64,
        most: MAX_PREVIEW_BYTES / preview_bytes(config, 1).max(1),
    })
}

/// Runs `config` on the first `count` images of `train` with root seed `seed` (the
/// parameters come from its stream augment/epoch/0/batch/0) on `backend`, and writes the
/// three files into the existing folder `out`.
pub fn write_preview(
    out: &Path,
    train: &Split,
    count: usize,
    config: &AugmentConfig,
    seed: u64,
    backend: Backend,
) -> Result<(), PreviewError> {
    check_preview(config, count)?;
    let pipeline = Pipeline::new(
        &train.images,
        &train.labels,
        config.clone(),
        SeedTree::new(seed),
        backend,
    );
    let indices: Vec<usize> = (0..count).collect();
    let batch = pipeline.prepare(0, 0, &indices)?;
    let shown = Shown {
        config,
        seed,
        input: train.images.narrow(0, 0, count as i64).contiguous(),
        output: batch.augmented.images.to_device(Device::Cpu).contiguous(),
        batch,
    };
    write_batch(out, &shown)?;
    write_grid(out, &shown)
}

/// grid.png: each input image (scaled to the output's side) beside its augmented output.
fn write_grid(out: &Path, shown: &Shown) -> Result<(), PreviewError> {
    let (mean, std) = shown.config.normalize.values();
    let side = shown.output.size()[2];
    let inputs =
        (shown.input.to_kind(Kind::Float) / 255.0).upsample_nearest2d([side, side], None, None);
    let outputs = denormalize(&shown.output, mean, std);
    let grid = image_grid(&Tensor::stack(&[inputs, outputs], 1).flatten(0, 1), 8, 2);
    write_file(&out.join("grid.png"), |tmp| {
        // The image writer picks the format from the extension.
        let png = tmp.with_extension("tmp.png");
        tch::vision::image::save(&grid, &png).map_err(tensor_error)?;
        std::fs::rename(&png, tmp)
    })
}

/// params.json (every parameter drawn) and batch.safetensors (input and output tensors).
fn write_batch(out: &Path, shown: &Shown) -> Result<(), PreviewError> {
    let params = serde_json::json!({
        "seed": shown.seed,
        "stream": stream_names::augment(0, 0),
        "pipeline": shown.config,
        "images": shown.batch.params.images,
        "mix": shown.batch.params.mix,
    });
    write_file(&out.join("params.json"), |tmp| {
        let text = serde_json::to_string_pretty(&params)?;
        std::io::Write::write_all(&mut crate::fsutil::create_new(tmp)?, text.as_bytes())
    })?;
    write_file(&out.join("batch.safetensors"), |tmp| {
        Tensor::write_safetensors(&[("input", &shown.input), ("output", &shown.output)], tmp)
            .map_err(tensor_error)
    })
}

/// Writes `path` atomically through `write`, naming it in the error.
fn write_file(
    path: &Path,
    write: impl FnOnce(&Path) -> std::io::Result<()>,
) -> Result<(), PreviewError> {
    with_atomic(path, write).map_err(|source| PreviewError::Write {
        path: path.to_owned(),
        source,
    })
}

fn tensor_error(e: tch::TchError) -> std::io::Error {
    std::io::Error::other(tch_message(&e))
}
