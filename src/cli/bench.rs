//! `cifar-repro bench`: the workloads of `ci/bench-compare.sh` (one line of images/s each,
//! timed the way `benches/pytorch_compare.py` times PyTorch), and `bench epoch`, the
//! report's E7 measurement (preprocessing on CPU against the device, per epoch).

use super::common::pick_device;
use cifar_repro::augment::{AugmentConfig, Backend, Pipeline};
use cifar_repro::bench::{EpochBench, EpochTimes, Rates, StepBench, StepSpec, rates, synchronize};
use cifar_repro::config::{
    Determinism, DeviceChoice, Preprocess, TrainConfig, resolve, set_override,
};
use cifar_repro::data::Cifar10;
use cifar_repro::determinism::{SeedTree, flags};
use cifar_repro::model::{Arch, MemoryFormat, Precision, Stem};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tch::Device;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Training steps (forward, backward, Adam) of a ResNet on a batch in memory.
    Step(StepArgs),
    /// An augmentation preset's batches on the CPU kernels or the device backend.
    Augment(AugmentArgs),
    /// Loading and checking a data set (folder or .tar.gz) into tensors.
    Load(LoadArgs),
    /// E7: one epoch of a preset's pipeline (default e3-frozen) preprocessed on the CPU
    /// backend and on the device backend, and the training steps of that epoch, each in
    /// seconds; with --train-limit, measured on part of the epoch and scaled to all of it.
    Epoch(EpochArgs),
}

#[derive(Args)]
pub struct Timing {
    /// Timed rounds; the median round is reported.
    #[arg(long, default_value_t = 5, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000))]
    repeats: usize,
    /// Calls per timed round.
    #[arg(long, default_value_t = 2, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000))]
    calls: usize,
    /// Print one JSON object instead of a line.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct StepArgs {
    #[arg(long, value_enum)]
    arch: Arch,
    /// imagenet: torchvision's model as it is (7x7 stride-2 conv1 and max-pool); cifar: a
    /// 3x3 stride-1 conv1 and no max-pool (the quick start's stem).
    #[arg(long, value_enum, default_value = "imagenet")]
    stem: Stem,
    /// Image side (32, or 224 as after E3's resize; the ImageNet stem needs 32 or more).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(i64).range(32..=1024))]
    size: i64,
    /// Images per step (BatchNorm needs two or more).
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(i64).range(2..=65536))]
    batch_size: i64,
    /// strict: deterministic kernels (the cost of `--determinism strict`).
    #[arg(long, value_enum, default_value = "seeded")]
    determinism: Determinism,
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceChoice,
    /// The model's and batch's memory format.
    #[arg(long, value_enum, default_value = "contiguous")]
    memory_format: MemoryFormat,
    /// fp32, or bf16 autocast with fp32 weights and optimiser.
    #[arg(long, value_enum, default_value = "fp32")]
    precision: Precision,
    #[command(flatten)]
    timing: Timing,
}

#[derive(Args)]
pub struct AugmentArgs {
    /// An augmentation preset (`cifar-repro presets`), e.g. e2-regularised or e3-frozen.
    #[arg(long, default_value = "e2-regularised")]
    preset: String,
    /// Images per batch.
    #[arg(long, default_value_t = 128, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=65536))]
    batch_size: usize,
    #[arg(long, value_enum, default_value = "cpu")]
    backend: Preprocess,
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceChoice,
    /// The images to augment.
    #[arg(long, default_value = "golden/data")]
    data: PathBuf,
    #[command(flatten)]
    timing: Timing,
}

#[derive(Args)]
pub struct LoadArgs {
    /// A cifar-10-batches-bin folder or cifar-10-binary.tar.gz.
    path: PathBuf,
    #[command(flatten)]
    timing: Timing,
}

#[derive(Args)]
pub struct EpochArgs {
    /// A run preset (`cifar-repro presets`).
    #[arg(long, default_value = "e3-frozen")]
    preset: String,
    /// The data set (default: the vendored slice; the report's epoch is the full 50,000).
    #[arg(long, default_value = "golden/data")]
    data: PathBuf,
    /// Measure on the first N training images only and scale the times to the epoch.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(2..=10_000_000))]
    train_limit: Option<usize>,
    /// Override the preset's batch size.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(2..=65536))]
    batch_size: Option<usize>,
    #[arg(long, value_enum, default_value = "auto")]
    device: DeviceChoice,
    /// Images in the epoch the times are scaled to.
    #[arg(long, default_value_t = 50_000, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000_000))]
    epoch_images: usize,
}

pub fn run(command: BenchCommand) -> anyhow::Result<ExitCode> {
    match command {
        BenchCommand::Step(args) => step(args),
        BenchCommand::Augment(args) => augment(args),
        BenchCommand::Load(args) => load(args),
        BenchCommand::Epoch(args) => epoch(args),
    }
}

fn report(timing: &Timing, workload: &str, rate: Rates) -> anyhow::Result<ExitCode> {
    if timing.json {
        let line = serde_json::json!({
            "workload": workload,
            "images_per_second": rate.median,
            "min": rate.min,
            "max": rate.max,
            "rounds": timing.repeats,
        });
        println!("{line}");
    } else {
        println!(
            "{workload}: {:.1} images/s (median of {} rounds; slowest {:.1}, fastest {:.1})",
            rate.median, timing.repeats, rate.min, rate.max
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Refuses a step whose estimated peak is above the memory the machine has available
/// (libtorch would fail to allocate midway), as training does.
fn check_step_memory(spec: &StepSpec, device: Device) -> anyhow::Result<()> {
    let (Device::Cpu, Some(available)) = (device, cifar_repro::runtime::available_memory_bytes())
    else {
        return Ok(());
    };
    let needed = spec.peak_bytes();
    if needed > available {
        const GIB: f64 = (1u64 << 30) as f64;
        anyhow::bail!(
            "this step needs about {:.1} GiB at its peak (batch {}, {}x{} images), but the machine has {:.1} GiB available; lower --batch-size or --size",
            needed as f64 / GIB,
            spec.batch,
            spec.side,
            spec.side,
            available as f64 / GIB
        );
    }
    Ok(())
}

fn step(args: StepArgs) -> anyhow::Result<ExitCode> {
    let device = pick_device(args.device)?;
    flags::apply(args.determinism, 0);
    let arch = args.arch;
    // torchvision's models as they are (ImageNet stem), as the PyTorch side runs them.
    let spec = StepSpec {
        memory_format: args.memory_format,
        precision: args.precision,
        stem: args.stem,
        ..StepSpec::torchvision(arch, args.size, args.batch_size)
    };
    check_step_memory(&spec, device)?;
    let mut bench = StepBench::new(&spec, device)?;
    let rate = rates(
        bench.batch(),
        args.timing.calls,
        args.timing.repeats,
        || bench.step(),
    );
    let name = format!("{arch:?}").to_lowercase();
    let mode = format!("{:?}", args.determinism);
    report(
        &args.timing,
        &format!(
            "step {name} {0}x{0} batch {1} {2} {3:?} {4:?}",
            args.size,
            args.batch_size,
            mode.to_lowercase(),
            args.memory_format,
            args.precision
        ),
        rate,
    )
}

fn augment(args: AugmentArgs) -> anyhow::Result<ExitCode> {
    let device = pick_device(args.device)?;
    let set = Cifar10::load(&args.data)?;
    let backend = match args.backend {
        Preprocess::Cpu => Backend::cpu_all_cores(),
        Preprocess::Device => Backend::Device(device),
    };
    let pipeline = Pipeline::new(
        &set.train.images,
        &set.train.labels,
        AugmentConfig::preset(&args.preset)?,
        SeedTree::new(0),
        backend,
    );
    let batch_size = args.batch_size;
    let indices: Vec<usize> = (0..batch_size).map(|i| i % set.train.len()).collect();
    let mut index = 0;
    let mut failure = None;
    let rate = rates(batch_size, args.timing.calls, args.timing.repeats, || {
        index += 1;
        if let Err(e) = pipeline.prepare(0, index, &indices) {
            failure.get_or_insert(e);
        }
        synchronize(device);
    });
    if let Some(e) = failure {
        return Err(e.into());
    }
    let on = match args.backend {
        Preprocess::Cpu => "cpu".to_owned(),
        Preprocess::Device => format!("device {}", cifar_repro::runtime::device_name(device)),
    };
    report(
        &args.timing,
        &format!("augment {} batch {} {on}", args.preset, args.batch_size),
        rate,
    )
}

fn load(args: LoadArgs) -> anyhow::Result<ExitCode> {
    let images = Cifar10::load(&args.path)?;
    let count = images.train.len() + images.test.len();
    let mut failure = None;
    let rate = rates(count, args.timing.calls, args.timing.repeats, || {
        if let Err(e) = Cifar10::load(&args.path) {
            failure.get_or_insert(e);
        }
    });
    if let Some(e) = failure {
        return Err(e.into());
    }
    report(
        &args.timing,
        &format!("load {} ({count} images)", args.path.display()),
        rate,
    )
}

fn epoch(args: EpochArgs) -> anyhow::Result<ExitCode> {
    let mut overrides = toml::Table::new();
    if let Some(batch) = args.batch_size {
        set_override(&mut overrides, "loop.batch_size", batch as i64);
    }
    let config = resolve(&args.preset, Path::new(""), &overrides)?.config;
    let device = pick_device(args.device)?;
    let set = Cifar10::load(&args.data)?;
    let bench = EpochBench::new(
        &config,
        &set.train,
        device,
        args.train_limit,
        args.epoch_images,
    )?;
    eprintln!(
        "{}: {} images in batches of {} on {}, times scaled x{:.1} to {} images",
        args.preset,
        bench.measured,
        config.loop_.batch_size,
        cifar_repro::runtime::device_name(device),
        bench.scale,
        args.epoch_images
    );
    print_epoch(&config, device, &bench.run()?);
    Ok(ExitCode::SUCCESS)
}

/// E7's figures, scaled to an epoch: preprocessing on each backend, and training with the
/// device's.
fn print_epoch(config: &TrainConfig, device: Device, times: &EpochTimes) {
    let (cpu, on_device, training) = (
        times.cpu_preprocessing,
        times.device_preprocessing,
        times.training,
    );
    println!(
        "preprocessing per epoch: cpu backend {cpu:.1} s, device backend ({}) {on_device:.1} s, saving {:.1} s",
        cifar_repro::runtime::device_name(device),
        cpu - on_device
    );
    println!(
        "training per epoch with device preprocessing: {training:.1} s (model {}, freeze {})",
        super::common::spelled(&config.model.arch),
        super::common::spelled(&config.model.freeze)
    );
    println!("(the report, E7: GPU preprocessing saved about 10 s per epoch on an NVIDIA L4)");
}
