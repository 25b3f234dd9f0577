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
