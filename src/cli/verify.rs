//! `cifar-repro verify RUN_A RUN_B`.

use cifar_repro::manifest::compare::compare;
use cifar_repro::run_dir::RunDir;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct VerifyArgs {
    run_a: PathBuf,
    run_b: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: VerifyArgs) -> anyhow::Result<ExitCode> {
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
                "identical: {} epochs, every data order, augmentation, step trace, weights and metrics fingerprint equal",
                comparison.epochs_compared
            ),
            Some(d) => {
                println!("DIVERGED at {}", d.describe());
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
