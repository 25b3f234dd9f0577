//! `cifar-repro augment`: run a pipeline on a few images and write what it did.

use anyhow::{Context, bail};
use cifar_repro::augment::{AugmentConfig, Backend, PRESETS};
use cifar_repro::config::DeviceChoice;
use cifar_repro::data::Cifar10;
use cifar_repro::report::write_preview;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use tch::Device;

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
    #[arg(long, value_parser = super::common::utf8_path, required_unless_present = "print_config")]
    out: Option<PathBuf>,
    /// cpu: the CPU kernels; cuda: the batched tensor ops on the GPU; auto: cuda when
    /// there is one.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    device: DeviceChoice,
    /// Print the pipeline's resolved TOML and exit.
    #[arg(long)]
    print_config: bool,
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

pub fn run(args: AugmentArgs) -> anyhow::Result<ExitCode> {
    let config = pipeline_config(&args)?;
    if args.print_config {
        print!("{}", toml::to_string(&config)?);
        return Ok(ExitCode::SUCCESS);
    }
    let backend = match super::common::pick_device(args.device)? {
        Device::Cpu => Backend::cpu_all_cores(),
        gpu => Backend::Device(gpu),
    };
    let Some(out) = &args.out else {
        bail!("give --out DIR for the grid, parameters and batch");
    };
    cifar_repro::report::check_preview(&config, args.count)?;
    let set = Cifar10::load(&args.data)?;
    if args.count > set.train.len() {
        bail!(
            "--count {} is more than the {} training images in {}",
            args.count,
            set.train.len(),
            args.data.display()
        );
    }
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create the output folder {}", out.display()))?;
    write_preview(out, &set.train, args.count, &config, args.seed, backend)?;
    println!(
        "{} images through {} with {}: {}/grid.png (input | output pairs), params.json, batch.safetensors",
        args.count,
        args.preset.as_deref().unwrap_or("the config"),
        backend.describe(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}
