//! `cifar-repro train`, `eval`, `report` and `presets`.

use super::common::{Console, pick_device};
use anyhow::Context;
use cifar_repro::augment;
use cifar_repro::config::{
    Determinism, DeviceChoice, Resolved, TRAIN_PRESETS, TrainConfig, resolve as resolve_config,
    set_override,
};
use cifar_repro::data::Cifar10;
use cifar_repro::model::{MemoryFormat, Precision};
use cifar_repro::report::{pick_misclassified, rerender, write_report};
use cifar_repro::run_dir::ReportFile;
use cifar_repro::train::{self, Prerequisite, RunDir, Start};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args)]
pub struct TrainArgs {
    /// A preset name (`cifar-repro presets`) or a TOML file (see --print-config).
    #[arg(long, required_unless_present = "resume", conflicts_with = "resume")]
    config: Option<String>,
    /// Continue the run in this folder from its newest intact checkpoint, with its own
    /// config.toml; ends bit-identical to a run that was never interrupted.
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["out", "seed", "epochs", "batch_size", "train_limit", "threads", "determinism", "overwrite", "record_steps", "memory_format", "precision", "fast", "init_from"])]
    resume: Option<PathBuf>,
    /// CIFAR-10 folder or .tar.gz (overrides the config's `data`).
    #[arg(long)]
    data: Option<PathBuf>,
    /// The run folder [default: runs/NAME-seedN]; must not exist or be empty.
    #[arg(long, value_parser = super::common::utf8_path)]
    out: Option<PathBuf>,
    /// The root of the run's seed tree (overrides `loop.seed`).
    #[arg(long)]
    seed: Option<u64>,
    /// Overrides `loop.epochs`.
    #[arg(long)]
    epochs: Option<usize>,
    /// Overrides `loop.batch_size`.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Train on the first N training images only.
    #[arg(long)]
    train_limit: Option<usize>,
    /// Where to train (overrides `loop.device`); cuda fails without a CUDA device.
    #[arg(long, value_enum)]
    device: Option<DeviceChoice>,
    /// libtorch intra-op threads.
    #[arg(long)]
    threads: Option<usize>,
    /// How much nondeterminism libtorch may use; every mode seeds every stream (overrides
    /// `loop.determinism`).
    #[arg(long, value_enum)]
    determinism: Option<Determinism>,
    /// The model's and batches' memory format (overrides `loop.memory_format`).
    #[arg(long, value_enum)]
    memory_format: Option<MemoryFormat>,
    /// fp32, or bf16 autocast with fp32 weights and optimiser (overrides `loop.precision`).
    #[arg(long, value_enum)]
    precision: Option<Precision>,
    /// Both speed-ups: --memory-format channels-last --precision bf16 (the report ran
    /// fp32/contiguous, the default; docs/training.md gives their accuracy cost).
    #[arg(long, conflicts_with_all = ["memory_format", "precision"])]
    fast: bool,
    /// Replace an existing run folder.
    #[arg(long)]
    overwrite: bool,
    /// For a config with `init_from` (e6-two-stage): the folder of the finished run of
    /// that recipe, with this run's seed and data, whose final weights it starts from.
    #[arg(long, value_name = "RUN_DIR")]
    init_from: Option<PathBuf>,
    /// Record the first N steps into RUN/replay/ (initial weights, each batch as fed, the
    /// weights after step N, the learning rates) for `ci/conformance/replay.py`, which
    /// replays them in PyTorch and reports how far it lands from cifar-repro.
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=100_000))]
    record_steps: usize,
    /// Print the resolved config (every default filled in) as TOML and exit.
    #[arg(long)]
    print_config: bool,
}

#[derive(Args)]
pub struct RunArgs {
    /// A run folder written by `train`.
    #[arg(long)]
    run: PathBuf,
}

/// The command-line flags as an overrides table for `config::resolve`.
fn overrides(args: &TrainArgs) -> anyhow::Result<toml::Table> {
    let mut table = toml::Table::new();
    let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    if let Some(seed) = args.seed {
        let seed = i64::try_from(seed).map_err(|_| {
            anyhow::anyhow!("--seed {seed} is out of range: allowed 0..={}", i64::MAX)
        })?;
        set_override(&mut table, "loop.seed", seed);
    }
    for (key, value) in [
        ("loop.epochs", args.epochs),
        ("loop.batch_size", args.batch_size),
        ("loop.train_limit", args.train_limit),
        ("loop.threads", args.threads),
    ] {
        if let Some(n) = value {
            set_override(&mut table, key, count(n));
        }
    }
    if let Some(device) = args.device {
        set_override(&mut table, "loop.device", config_name(device)?);
    }
    if let Some(mode) = args.determinism {
        set_override(&mut table, "loop.determinism", config_name(mode)?);
    }
    if let Some(data) = &args.data {
        set_override(&mut table, "data", data.display().to_string());
    }
    let (format, precision) = match args.fast {
        true => (Some(MemoryFormat::ChannelsLast), Some(Precision::Bf16)),
        false => (args.memory_format, args.precision),
    };
    if let Some(format) = format {
        set_override(&mut table, "loop.memory_format", config_name(format)?);
    }
    if let Some(precision) = precision {
        set_override(&mut table, "loop.precision", config_name(precision)?);
    }
    Ok(table)
}

/// An enum's value as a config file spells it (serde's name, e.g. `channels_last`).
fn config_name(value: impl serde::Serialize) -> anyhow::Result<String> {
    serde_json::to_value(value)?
        .as_str()
        .map(str::to_owned)
        .context("a config value that is not a name")
}

/// Resolves a preset name or config file (or, on resume, the run's own config.toml),
/// with the command-line flags as overrides.
fn resolve(args: &TrainArgs) -> anyhow::Result<Resolved> {
    let table = overrides(args)?;
    if let Some(run) = &args.resume {
        let path = RunDir::open(run).config_source()?;
        let mut resolved = resolve_config(&path.display().to_string(), Path::new(""), &table)?;
        resolved.name = run.display().to_string();
        return Ok(resolved);
    }
    let source = args.config.as_deref().unwrap_or_default();
    Ok(resolve_config(source, Path::new(""), &table)?)
}

/// The run `--init-from` names, with the config it must have been trained with.
fn prerequisite(args: &TrainArgs, resolved: &Resolved) -> anyhow::Result<Option<Prerequisite>> {
    let Some(dir) = &args.init_from else {
        return Ok(None);
    };
    let expected = match resolved.chain()?.into_iter().next() {
        Some(first) => first.config,
        None => return Err(train::TrainError::NoInitFrom.into()),
    };
    Ok(Some(Prerequisite {
        dir: dir.clone(),
        expected,
    }))
}

/// Refuses `--init-from X --out X`: the new run would delete the one it starts from.
fn refuse_start_as_output(init_from: Option<&Prerequisite>, out: &Path) -> anyhow::Result<()> {
    if let Some(p) = init_from
        && cifar_repro::fsutil::same_folder(&p.dir, out)
    {
        anyhow::bail!(
            "--init-from and --out both name {}: training there would delete the run it starts from; choose another --out",
            out.display()
        );
    }
    Ok(())
}

pub fn train(args: TrainArgs) -> anyhow::Result<ExitCode> {
    let resolved = resolve(&args)?;
    if args.print_config {
        print!("{}", resolved.config.to_toml()?);
        return Ok(ExitCode::SUCCESS);
    }
    let (name, config) = (resolved.name.clone(), resolved.config.clone());
    let device = pick_device(config.loop_.device)?;
    let data = Cifar10::load(&config.data)?;
    let init_from = prerequisite(&args, &resolved)?;
    if args.resume.is_none() {
        train::preflight(&config, &data, device, init_from.as_ref())?;
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("runs/{name}-seed{}", config.loop_.seed)));
    let out = args.resume.clone().unwrap_or(out);
    refuse_start_as_output(init_from.as_ref(), &out)?;
    let (dir, start, _lock) = match &args.resume {
        Some(run) => {
            let dir = RunDir::open(run);
            let lock = dir.lock()?;
            (dir, Start::Resume, lock)
        }
        None => {
            let (dir, lock) = RunDir::create(&out, args.overwrite)?;
            dir.write_config(&config)?;
            let record_steps = args.record_steps;
            (
                dir,
                Start::Fresh {
                    record_steps,
                    init_from: init_from.map(Box::new),
                },
                lock,
            )
        }
    };
    tracing::info!(
        "training {name} on {} into {}: {}",
        cifar_repro::runtime::device_name(device),
        out.display(),
        config.description
    );
    let finished = train::train(
        &config,
        &data,
        &dir,
        device,
        start,
        &super::hooks::training(),
        &mut Console::new(""),
    )?;
    summarise(&dir, &out, &data, &finished)?;
    Ok(ExitCode::SUCCESS)
}

/// After a run: its report, where the training pass waited for input, and its final
/// test metrics.
fn summarise(
    dir: &RunDir,
    out: &Path,
    data: &Cifar10,
    finished: &train::Finished,
) -> anyhow::Result<()> {
    let (examples, images) = pick_misclassified(
        &data.test.images,
        &data.test.labels,
        &finished.predictions,
        &data.classes,
    )?;
    write_report(dir, &finished.manifest, &data.classes, &examples, &images)?;
    let (pass, steps) = finished
        .manifest
        .epochs
        .iter()
        .fold((0.0, 0.0), |(p, s), e| {
            (p + e.train_seconds, s + e.step_seconds)
        });
    if steps > 0.0 {
        tracing::info!(
            "training passes {pass:.1} s, of which in steps {steps:.1} s: {:+.1}% spent waiting for input",
            100.0 * (pass - steps) / steps
        );
    }
    if let Some(t) = &finished.manifest.final_test {
        println!(
            "{}: test accuracy {:.4} (95% CI {:.4} to {:.4}), macro F1 {:.4}, loss {}; report {}",
            out.display(),
            t.accuracy,
            t.accuracy_ci95[0],
            t.accuracy_ci95[1],
            t.macro_f1,
            cifar_repro::text::fixed(t.loss, 4),
            dir.report_file(ReportFile::Html).display()
        );
    }
    Ok(())
}

pub fn report(args: RunArgs) -> anyhow::Result<ExitCode> {
    let dir = RunDir::open(&args.run);
    rerender(&dir)?;
    println!("{}", dir.report_file(ReportFile::Html).display());
    Ok(ExitCode::SUCCESS)
}

pub fn presets() -> anyhow::Result<ExitCode> {
    println!("run presets (cifar-repro train --config NAME):");
    for name in TRAIN_PRESETS {
        println!("  {name:<16} {}", TrainConfig::preset(name)?.description);
    }
    println!("augmentation presets (cifar-repro augment --preset NAME):");
    for name in augment::PRESETS {
        println!("  {name}");
    }
    Ok(ExitCode::SUCCESS)
}
