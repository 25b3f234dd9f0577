//! The files a run's report consists of, written after training and re-rendered by
//! `cifar-repro report`: `report.html`, `curves.svg`, `confusion.svg`, `misclassified.png`,
//! and what re-rendering needs (`misclassified.json`, `misclassified.safetensors`).

use super::{Misclassified, confusion_heatmap, image_grid, learning_curves, render};
use crate::fsutil::{temporary_for, with_atomic, write_atomic};
use crate::manifest::Manifest;
use crate::run_dir::{ReportFile, RunDir, RunDirError};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::{Kind, Tensor};

/// How many misclassified examples a report shows.
pub const MISCLASSIFIED_SHOWN: usize = 32;

#[derive(Debug, Serialize, Deserialize)]
struct MisclassifiedFile {
    classes: Vec<String>,
    examples: Vec<Misclassified>,
}

/// A report that cannot be written or re-read.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The run folder cannot be read.
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    /// A report file cannot be read back or rendered.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A file cannot be written.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// libtorch failed on the report's tensors.
    #[error("reading the labels back from libtorch: {0}")]
    Tensor(#[from] tch::TchError),
}

fn file_error(path: &Path) -> impl Fn(String) -> ReportError + '_ {
    move |message| ReportError::File {
        path: path.display().to_string(),
        message,
    }
}

/// Picks the first misclassified test images: `images` u8 `N x 3 x 32 x 32`, `labels`,
/// and the model's `predictions`.
pub fn pick_misclassified(
    images: &Tensor,
    labels: &Tensor,
    predictions: &[i64],
    classes: &[String],
) -> Result<(Vec<Misclassified>, Tensor), ReportError> {
    let labels = Vec::<i64>::try_from(labels)?;
    let name = |c: i64| {
        classes
            .get(c as usize)
            .cloned()
            .unwrap_or_else(|| c.to_string())
    };
    let picked: Vec<Misclassified> = labels
        .iter()
        .zip(predictions)
        .enumerate()
        .filter(|(_, (t, p))| t != p)
        .take(MISCLASSIFIED_SHOWN)
        .map(|(index, (&t, &p))| Misclassified {
            index,
            truth: name(t),
            predicted: name(p),
        })
        .collect();
    let indices = Tensor::from_slice(&picked.iter().map(|m| m.index as i64).collect::<Vec<_>>());
    Ok((picked, images.index_select(0, &indices)))
}

/// Writes every report file into the run folder `dir`.
pub fn write_report(
    dir: &RunDir,
    manifest: &Manifest,
    classes: &[String],
    examples: &[Misclassified],
    images: &Tensor,
) -> Result<(), ReportError> {
    let json = serde_json::to_string_pretty(&MisclassifiedFile {
        classes: classes.to_vec(),
        examples: examples.to_vec(),
    })
    .map_err(|e| file_error(dir.path())(e.to_string()))?;
    let path = dir.report_file(ReportFile::MisclassifiedJson);
    write_atomic(&path, json.as_bytes()).map_err(|e| file_error(&path)(e.to_string()))?;
    let path = dir.report_file(ReportFile::MisclassifiedImages);
    with_atomic(&path, |tmp| {
        Tensor::write_safetensors(&[("images", &images.contiguous())], tmp)
            .map_err(|e| file_error(&path)(crate::runtime::tch_message(&e)))
    })?;
    render_files(dir, manifest, classes, examples, images)
}

/// Re-renders the report of the run in `dir` from its own files (the folder checked as
/// every reader checks it).
/// A run with no misclassified examples (it diverged, or an older audit trained it without
/// a page) gets a report of what it recorded.
pub fn rerender(dir: &RunDir) -> Result<(), ReportError> {
    let manifest = dir.manifest()?;
    let path = dir.report_file(ReportFile::MisclassifiedJson);
    if !path.exists() {
        let none = Tensor::zeros([0, 3, 32, 32], (Kind::Uint8, tch::Device::Cpu));
        return render_files(dir, &manifest, &[], &[], &none);
    }
    let text = crate::fsutil::read_capped(&path, 64 << 20)
        .map_err(|e| file_error(&path)(e.to_string()))?;
    let file: MisclassifiedFile =
        serde_json::from_str(&text).map_err(|e| file_error(&path)(e.to_string()))?;
    let path = dir.report_file(ReportFile::MisclassifiedImages);
    crate::fsutil::ensure_regular(&path).map_err(|e| file_error(&path)(e.to_string()))?;
    let tensors = Tensor::read_safetensors(&path).map_err(|e| file_error(&path)(e.to_string()))?;
    let images = tensors
        .into_iter()
        .find(|(n, _)| n == "images")
        .map(|(_, t)| t)
        .ok_or_else(|| file_error(&path)("no tensor \"images\"".into()))?;
    render_files(dir, &manifest, &file.classes, &file.examples, &images)
}

fn render_files(
    dir: &RunDir,
    manifest: &Manifest,
    classes: &[String],
    examples: &[Misclassified],
    images: &Tensor,
) -> Result<(), ReportError> {
    let write = |file: ReportFile, bytes: &[u8]| {
        let path = dir.report_file(file);
        write_atomic(&path, bytes).map_err(|e| file_error(&path)(e.to_string()))
    };
    write(
        ReportFile::Curves,
        learning_curves(&manifest.epochs).as_bytes(),
    )?;
    if let Some(last) = manifest.epochs.last() {
        write(
            ReportFile::Confusion,
            confusion_heatmap(&last.test.confusion, classes).as_bytes(),
        )?;
    }
    let as_float = images.to_kind(Kind::Float) / 255.0;
    let mut cells = Vec::new();
    for i in 0..examples.len() as i64 {
        cells.push(png_bytes(
            dir.path(),
            &image_grid(&as_float.narrow(0, i, 1), 1, 0),
        )?);
    }
    if !examples.is_empty() {
        let grid = image_grid(&as_float.upsample_nearest2d([64, 64], None, None), 8, 4);
        write(ReportFile::MisclassifiedPng, &png_bytes(dir.path(), &grid)?)?;
    }
    write(
        ReportFile::Html,
        render(manifest, classes, examples, &cells).as_bytes(),
    )
}

/// PNG bytes of a u8 `3 x H x W` image (tch's writer goes through a file).
fn png_bytes(dir: &Path, image: &Tensor) -> Result<Vec<u8>, ReportError> {
    let path = temporary_for(&dir.join("cell.png"));
    let err = file_error(&path);
    tch::vision::image::save(image, &path).map_err(|e| err(e.to_string()))?;
    let bytes = crate::fsutil::read_bytes_capped(&path, 64 << 20).map_err(|e| err(e.to_string()));
    let _ = std::fs::remove_file(&path);
    bytes
}
