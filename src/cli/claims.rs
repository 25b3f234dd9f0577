//! `cifar-repro claims init` and `claims from-wandb`.

use anyhow::Context;
use cifar_repro::audit::wandb::{Margins, claims_from_summary};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum ClaimsCommand {
    /// Write a commented claim-file template: claims about a preset or config (a value, a
    /// comparison, a bound, reproducibility), about a program run as a command, and about
    /// a released checkpoint. Fill in the values, then `cifar-repro audit FILE --plan`.
    #[command(after_help = "Example:\n  cifar-repro claims init --out my-claims.toml")]
    Init(InitArgs),
    /// Turn a W&B run summary (wandb-summary.json) into a claim file about a run preset or
    /// config, one absolute claim per metric, ready for `cifar-repro audit`. The usual
    /// keys are found (val acc, val_acc, val/acc, val_loss, train_loss, ...); name others
    /// with --key.
    #[command(
        after_help = "Examples:\n  cifar-repro claims from-wandb wandb-summary.json --run quickstart\n  cifar-repro claims from-wandb wandb-summary.json --run my.toml --key accuracy=val/top1 --key loss=val.loss"
    )]
    FromWandb(FromWandbArgs),
}

#[derive(Args)]
pub struct InitArgs {
    /// Write the template here instead of to stdout (an existing file is kept).
    #[arg(long, value_parser = super::common::utf8_path)]
    out: Option<PathBuf>,
}

#[derive(Args)]
pub struct FromWandbArgs {
    /// The run's wandb-summary.json.
    summary: PathBuf,
    /// The preset or config file (relative to the claim file) the run corresponds to.
    #[arg(long)]
    run: String,
    /// Equivalence margin of the accuracy, F1, precision and recall claims, in (0, 1].
    #[arg(long, default_value_t = 0.02, value_parser = parse_proportion_margin)]
    margin: f64,
    /// Equivalence margin of the loss claims.
    #[arg(long, default_value_t = 0.1, value_parser = parse_margin)]
    loss_margin: f64,
    /// Which summary key holds a metric, as METRIC=KEY (repeatable; a dotted KEY reads a
    /// nested object). METRIC: accuracy, macro_f1, macro_precision, macro_recall, loss
    /// (test split), train_accuracy, train_loss. With --key only the keys named are read.
    #[arg(long = "key", value_name = "METRIC=KEY", value_parser = parse_key)]
    keys: Vec<(String, String)>,
    /// Write the claim file here instead of to stdout (an existing file is kept).
    #[arg(long, value_parser = super::common::utf8_path)]
    out: Option<PathBuf>,
}

fn parse_margin(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(m) if m > 0.0 && m.is_finite() => Ok(m),
        _ => Err(format!("{text:?} is not a positive margin")),
    }
}

fn parse_proportion_margin(text: &str) -> Result<f64, String> {
    match parse_margin(text)? {
        m if m <= 1.0 => Ok(m),
        _ => Err(format!(
            "{text:?}: a margin on a proportion is at most 1 (0.02 is two points)"
        )),
    }
}

fn parse_key(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((metric, key)) if !metric.is_empty() && !key.is_empty() => {
            Ok((metric.trim().to_owned(), key.to_owned()))
        }
        _ => Err(format!("{text:?}: give METRIC=KEY, e.g. accuracy=val_acc")),
    }
}

pub fn run(command: ClaimsCommand) -> anyhow::Result<ExitCode> {
    match command {
        ClaimsCommand::Init(args) => emit(cifar_repro::audit::CLAIMS_TEMPLATE, args.out.as_deref()),
        ClaimsCommand::FromWandb(args) => from_wandb(args),
    }
}

/// Writes `text` to `out` (never over an existing file) or to stdout.
fn emit(text: &str, out: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    match out {
        Some(out) if out.exists() => {
            anyhow::bail!("{} exists; choose another --out", out.display())
        }
        Some(out) => {
            cifar_repro::fsutil::write_atomic(out, text.as_bytes())
                .with_context(|| out.display().to_string())?;
            eprintln!(
                "written: {} (check it with: cifar-repro audit {0} --plan)",
                out.display()
            );
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn from_wandb(args: FromWandbArgs) -> anyhow::Result<ExitCode> {
    let summary = cifar_repro::fsutil::read_capped(
        &args.summary,
        cifar_repro::audit::wandb::MAX_SUMMARY_BYTES,
    )
    .with_context(|| args.summary.display().to_string())?;
    let margins = Margins {
        proportion: args.margin,
        loss: args.loss_margin,
    };
    let text = claims_from_summary(&summary, &args.run, margins, &args.keys)
        .with_context(|| args.summary.display().to_string())?;
    emit(&text, args.out.as_deref())
}
