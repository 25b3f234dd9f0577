//! `cifar-repro claims from-wandb`.

use anyhow::Context;
use cifar_repro::audit::wandb::{Margins, claims_from_summary};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum ClaimsCommand {
    /// Turn a W&B run summary (wandb-summary.json: acc, loss, val acc, val f1, val loss,
    /// val precision, val recall, epoch) into a claim file about a run preset or config,
    /// one absolute claim per metric, ready for `cifar-repro audit`.
    FromWandb(FromWandbArgs),
}

#[derive(Args)]
pub struct FromWandbArgs {
    /// The run's wandb-summary.json.
    summary: PathBuf,
    /// The preset or config file (relative to the claim file) the run corresponds to.
    #[arg(long)]
    run: String,
    /// Equivalence margin of the accuracy, F1, precision and recall claims.
    #[arg(long, default_value_t = 0.02, value_parser = parse_margin)]
    margin: f64,
    /// Equivalence margin of the loss claims.
    #[arg(long, default_value_t = 0.1, value_parser = parse_margin)]
    loss_margin: f64,
    /// Write the claim file here instead of to stdout (an existing file is kept).
    #[arg(long)]
    out: Option<PathBuf>,
}

fn parse_margin(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(m) if m > 0.0 && m.is_finite() => Ok(m),
        _ => Err(format!("{text:?} is not a positive margin")),
    }
}

pub fn run(command: ClaimsCommand) -> anyhow::Result<ExitCode> {
    let ClaimsCommand::FromWandb(args) = command;
    let summary = cifar_repro::fsutil::read_capped(
        &args.summary,
        cifar_repro::audit::wandb::MAX_SUMMARY_BYTES,
    )
    .with_context(|| args.summary.display().to_string())?;
    let margins = Margins {
        proportion: args.margin,
        loss: args.loss_margin,
    };
    let text = claims_from_summary(&summary, &args.run, margins)
        .with_context(|| args.summary.display().to_string())?;
    match &args.out {
        Some(out) if out.exists() => {
            anyhow::bail!("{} exists; choose another --out", out.display())
        }
        Some(out) => {
            cifar_repro::fsutil::write_atomic(out, text.as_bytes())
                .with_context(|| out.display().to_string())?;
            eprintln!(
                "written: {} (audit it with: cifar-repro audit {0})",
                out.display()
            );
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
