//! `cifar-repro augment`: run a pipeline on a few images and write what it did.

use anyhow::{Context, bail};
use cifar_repro::augment::{AugmentConfig, Backend, Batch, PRESETS, Pipeline};
use cifar_repro::config::DeviceChoice;
use cifar_repro::data::Cifar10;
use cifar_repro::determinism::SeedTree;
use cifar_repro::fsutil::{with_atomic, write_atomic};
use cifar_repro::report::{denormalize, image_grid};
use clap::{Args, ValueEnum};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tch::{Device, Tensor};

#[derive(Args)]
pub struct AugmentArgs {
    /// A built-in pipeline (see --help for the list) ...
    #[arg(long, required_unless_present = "config", conflicts_with = "config", help = format!("A built-in pipeline: {}", PRESETS.join(", ")))]
    preset: Option<String>,
    /// ... or a TOML file describing one (the keys of a preset's `--print-config`).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Root seed; the parameters come from its stream augment/epoch/0/batch/0.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// CIFAR-10 folder or .tar.gz.
    #[arg(long, default_value = "golden/data")]
    data: PathBuf,
    /// How many training images, from the first.
    #[arg(long, default_value_t = 16, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=65_536))]
    count: usize,
    /// Output folder for grid.png, params.json and batch.safetensors (created if missing).
    #[arg(long, required_unless_present = "print_config")]
    out: Option<PathBuf>,
    /// Backend: the CPU kernels, or the batched tensor ops on CUDA.
    #[arg(long, value_enum, default_value_t = AugmentDevice::Cpu)]
    device: AugmentDevice,
    /// Print the pipeline's resolved TOML and exit.
    #[arg(long)]
    print_config: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum AugmentDevice {
    Cpu,
    Cuda,
}

/// The pipeline `--preset` or `--config` names.
fn pipeline_config(args: &AugmentArgs) -> anyhow::Result<AugmentConfig> {
    Ok(match (&args.preset, &args.config) {
        (Some(name), _) => AugmentConfig::preset(name)?,
        (None, Some(path)) => {
            let text = cifar_repro::fsutil::read_capped(path, 1 << 20)
                .with_context(|| path.display().to_string())?;
            AugmentConfig::from_toml(&text).with_context(|| path.display().to_string())?
        }
        (None, None) => bail!("give --preset NAME or --config FILE"),
    })
}

/// grid.png: each input image (scaled to the output's side) beside its augmented output.
fn write_grid(
    out: &Path,
    config: &AugmentConfig,
    input: &Tensor,
    output: &Tensor,
) -> anyhow::Result<()> {
    let (mean, std) = config.normalize.values();
    let side = output.size()[2];
    let shown_inputs =
        (input.to_kind(tch::Kind::Float) / 255.0).upsample_nearest2d([side, side], None, None);
    let pairs = Tensor::stack(&[shown_inputs, denormalize(output, mean, std)], 1).flatten(0, 1);
    let grid = image_grid(&pairs, 8, 2);
    with_atomic(&out.join("grid.png"), |tmp| {
        // The image writer picks the format from the extension.
        let png = tmp.with_extension("tmp.png");
        tch::vision::image::save(&grid, &png)?;
        std::fs::rename(&png, tmp).map_err(anyhow::Error::from)
    })
}

/// params.json (every parameter drawn) and batch.safetensors (input and output tensors).
fn write_batch(
    out: &Path,
    seed: u64,
    config: &AugmentConfig,
    batch: &Batch,
    (input, output): (&Tensor, &Tensor),
) -> anyhow::Result<()> {
    let params = json!({
        "seed": seed,
        "stream": cifar_repro::determinism::stream_names::augment(0, 0),
        "pipeline": config,
        "images": batch.params.images,
        "mix": batch.params.mix,
    });
    write_atomic(
        &out.join("params.json"),
        serde_json::to_string_pretty(&params)?.as_bytes(),
    )?;
    with_atomic(&out.join("batch.safetensors"), |tmp| {
        Tensor::write_safetensors(&[("input", input), ("output", output)], tmp)
            .map_err(|e| anyhow::anyhow!(cifar_repro::runtime::tch_message(&e)))
    })
}

pub fn run(args: AugmentArgs) -> anyhow::Result<ExitCode> {
    let config = pipeline_config(&args)?;
    if args.print_config {
        print!("{}", toml::to_string(&config)?);
        return Ok(ExitCode::SUCCESS);
    }
    let backend = match args.device {
        AugmentDevice::Cpu => Backend::cpu_all_cores(),
        AugmentDevice::Cuda => Backend::Device(super::common::pick_device(DeviceChoice::Cuda)?),
    };
    if args.count == 0 {
        bail!("--count must be at least 1");
    }
    let Some(out) = &args.out else {
        bail!("give --out DIR for the grid, parameters and batch");
    };
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create the output folder {}", out.display()))?;
    let set = Cifar10::load(&args.data)?;
    if args.count > set.train.len() {
        bail!(
            "--count {} is more than the {} training images in {}",
            args.count,
            set.train.len(),
            args.data.display()
        );
    }
    let pipeline = Pipeline {
        images: set.train.images.shallow_clone(),
        labels: set.train.labels.shallow_clone(),
        config: config.clone(),
        tree: SeedTree::new(args.seed),
        backend,
    };
    let indices: Vec<usize> = (0..args.count).collect();
    let batch = pipeline.prepare(0, 0, &indices)?;
    let input = set
        .train
        .images
        .narrow(0, 0, args.count as i64)
        .contiguous();
    let output = batch.augmented.images.to_device(Device::Cpu).contiguous();

    write_batch(out, args.seed, &config, &batch, (&input, &output))?;
    write_grid(out, &config, &input, &output)?;
    println!(
        "{} images through {} on {:?}: {}/grid.png (input | output pairs), params.json, batch.safetensors",
        args.count,
        args.preset.as_deref().unwrap_or("the config"),
        backend,
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}
