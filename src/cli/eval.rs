//! `cifar-repro eval`: a run's newest checkpoint evaluated again, or a released checkpoint
//! (a state dict of a model cifar-repro builds, or TorchScript) evaluated on a config's
//! test split.

use super::common::pick_device;
use cifar_repro::config::{DeviceChoice, resolve as resolve_config};
use cifar_repro::data::Cifar10;
use cifar_repro::train::{self, RunDir};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args)]
#[command(after_help = "Examples:
  cifar-repro eval --run runs/quickstart
  cifar-repro eval --checkpoint released/resnet18.pth --config quickstart --data golden/data")]
pub struct EvalArgs {
    /// A run folder written by `train`: its newest checkpoint is evaluated again and
    /// compared with what the run recorded (exit 1 when they differ).
    #[arg(
        long,
        value_name = "RUN_DIR",
        required_unless_present = "checkpoint",
        conflicts_with = "checkpoint"
    )]
    run: Option<PathBuf>,
    /// A released checkpoint: a torch.save state dict of the model --config builds, or a
    /// TorchScript module (torch.jit.save); evaluated once on the test split.
    #[arg(long, value_name = "FILE", requires = "config")]
    checkpoint: Option<PathBuf>,
    /// With --checkpoint: the preset or config file that names the model (for a state
    /// dict) and the test preprocessing (normalisation, resize).
    #[arg(long)]
    config: Option<String>,
    /// CIFAR-10 folder or .tar.gz [default: the run's, or the config's].
    #[arg(long)]
    data: Option<PathBuf>,
    /// Where to evaluate [default: the run's or the config's device].
    #[arg(long)]
    device: Option<DeviceChoice>,
}

pub fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    match (&args.run, &args.checkpoint) {
        (Some(run), _) => eval_run(run, &args),
        (None, Some(file)) => eval_released(file, &args),
        (None, None) => anyhow::bail!("give --run RUN_DIR or --checkpoint FILE --config C"),
    }
}

/// A released checkpoint evaluated on the test split of `--config`'s data (or `--data`).
fn eval_released(file: &Path, args: &EvalArgs) -> anyhow::Result<ExitCode> {
    let spec = args.config.as_deref().unwrap_or_default();
    let mut config = resolve_config(spec, Path::new("."), &toml::Table::new())?.config;
    if let Some(data) = &args.data {
        config.data = data.clone();
    }
    let device = pick_device(args.device.unwrap_or(config.loop_.device))?;
    let data = Cifar10::load(&config.data)?;
    let clock = std::time::Instant::now();
    let eval = train::evaluate_released(file, &config, &data, device)?;
    let m = &eval.metrics;
    println!(
        "{} (SHA-256 {}…, {} {spec}): test accuracy {:.4} ({} of {} images; 95% CI {:.4} to {:.4}), macro F1 {:.4}, loss {:.6}; {:.1} s",
        file.display(),
        &eval.sha256[..16],
        eval.kind.describe(),
        m.accuracy,
        (m.accuracy * m.count as f64).round(),
        m.count,
        m.accuracy_ci95[0],
        m.accuracy_ci95[1],
        m.macro_f1,
        m.loss,
        clock.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// A run's newest checkpoint evaluated again and compared with the run's record.
fn eval_run(run: &Path, args: &EvalArgs) -> anyhow::Result<ExitCode> {
    let dir = RunDir::open(run);
    let device = pick_device(args.device.unwrap_or(dir.manifest()?.config.loop_.device))?;
    let again = train::recompute(&dir, args.data.as_deref(), device)?;
    let m = &again.metrics;
    let which = match again.is_final {
        true => "final".to_owned(),
        false => format!("epoch {} (the run is not completed)", again.epoch),
    };
    println!(
        "{}: {which} test accuracy {:.4} (95% CI {:.4} to {:.4}), macro F1 {:.4}, loss {:.6}",
        again.checkpoint.display(),
        m.accuracy,
        m.accuracy_ci95[0],
        m.accuracy_ci95[1],
        m.macro_f1,
        m.loss
    );
    if let Some(how) = &again.other_test_set {
        println!("not compared with the run's record: the data evaluated is not the run's ({how})");
        return Ok(ExitCode::SUCCESS);
    }
    match again.difference() {
        None if again.is_final => {
            println!("matches the run's recorded final test metrics (every one)");
            Ok(ExitCode::SUCCESS)
        }
        None => {
            println!(
                "matches the run's recorded test metrics of epoch {} (every one)",
                again.epoch
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(what) => {
            println!("DIFFERS from the run's record: {what}");
            Ok(ExitCode::FAILURE)
        }
    }
}
