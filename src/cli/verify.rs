//! `cifar-repro verify RUN_A RUN_B`.

use cifar_repro::manifest::compare::compare;
use cifar_repro::program;
use cifar_repro::run_dir::RunDir;
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args)]
pub struct VerifyArgs {
    /// A run folder (cifar-repro's, or a program's holding command.json), or a per-epoch
    /// log written by python/cifar_repro_log.py.
    run_a: PathBuf,
    /// The run (or log) to compare it with, of the same kind.
    run_b: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// A program's run folder (it holds `command.json`).
fn is_program_run(path: &Path) -> bool {
    path.join(program::RECORD_FILE).is_file()
}

/// Two runs of a program (`command.json` folders), or two per-epoch logs the Python
/// helper wrote: the first output file, metric or epoch that differs.
fn verify_programs(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let difference = if args.run_a.is_file() && args.run_b.is_file() {
        program::epochs::compare_files(&args.run_a, &args.run_b)
            .map_err(anyhow::Error::msg)?
            .map(|d| d.describe())
    } else {
        let a = program::ProgramRecord::read(&args.run_a)?;
        let b = program::ProgramRecord::read(&args.run_b)?;
        program::compare_runs(&a, &b, (&args.run_a, &args.run_b))
    };
    if args.json {
        let value =
            serde_json::json!({"identical": difference.is_none(), "first_difference": difference});
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        match &difference {
            None => {
                println!("identical: every declared output file, metric and logged epoch equal")
            }
            Some(first) => println!("DIVERGED: {first}"),
        }
    }
    Ok(match difference {
        None => ExitCode::SUCCESS,
        Some(_) => ExitCode::FAILURE,
    })
}

pub fn run(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let logs = args.run_a.is_file() && args.run_b.is_file();
    if logs || (is_program_run(&args.run_a) && is_program_run(&args.run_b)) {
        return verify_programs(&args);
    }
    let (a, b) = (
        RunDir::open(&args.run_a).manifest()?,
        RunDir::open(&args.run_b).manifest()?,
    );
    let comparison = compare(&a, &b);
    let cause = comparison
        .divergence
        .as_ref()
        .map(|_| comparison.likely_cause(&a, &b));
    if args.json {
        let value = serde_json::json!({"identical": comparison.divergence.is_none(), "verdict": comparison, "likely_cause": cause});
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        match &comparison.divergence {
            None => println!(
                "identical: {}, every data order, augmentation, step trace, weights and metrics fingerprint equal",
                cifar_repro::text::counted(comparison.epochs_compared, "epoch")
            ),
            Some(d) => {
                println!("DIVERGED {}", d.describe());
                println!("likely cause: {}", cause.unwrap_or_default());
            }
        }
        for note in &comparison.environment {
            println!("environment: {note}");
        }
    }
    Ok(if comparison.divergence.is_none() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
