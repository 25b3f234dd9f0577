//! Subcommands, each in its own file.

mod audit;
mod augment;
mod bench;
mod claims;
mod common;
mod data;
mod env;
mod eval;
pub mod hooks;
mod plan;
mod progress;
mod train;
mod variance;
mod verify;
mod weights;

use clap::{Parser, Subcommand};
pub use common::quiet_on_closed_pipe;
use std::process::ExitCode;

/// Re-run, verify and audit the CIFAR-10 experiments of a published report.
#[derive(Parser)]
#[command(name = "cifar-repro", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the runtime: crate and libtorch versions, CUDA, cuDNN, threads.
    /// With REQUIRE_CUDA=1 in the environment, fail when CUDA is absent.
    Env(env::EnvArgs),
    /// Run an augmentation pipeline on the first images of a set and write grid.png
    /// (input | output pairs), params.json (every parameter drawn) and batch.safetensors.
    Augment(augment::AugmentArgs),
    /// Re-run the claims of a claim file over several seeds and give each a verdict:
    /// REPRODUCED, NOT REPRODUCED, INCONCLUSIVE or NOT RUN. Exit 1 when any claim is
    /// NOT REPRODUCED. Finished runs are reused, so an interrupted audit resumes.
    Audit(audit::AuditArgs),
    /// Measure where a run's variance comes from: N runs per arm, each arm varying one
    /// source of randomness (init, order, augment, mix, numerics) or all of them, and each
    /// final metric's sd with its interval; writes variance.json, .md and .html.
    Variance(variance::VarianceArgs),
    /// Make claim files from numbers recorded elsewhere (a W&B run summary).
    #[command(subcommand)]
    Claims(claims::ClaimsCommand),
    /// Train a preset or config into a run folder (config.toml, manifest.json,
    /// metrics.jsonl, checkpoints/, report.html and its plots).
    Train(train::TrainArgs),
    /// Recompute a run's final test metrics from its newest checkpoint; exit 1 when they
    /// differ from what the run recorded.
    /// With --checkpoint FILE --config C, evaluate a released checkpoint (a state dict of
    /// a model cifar-repro builds, or TorchScript) on the test split instead.
    Eval(eval::EvalArgs),
    /// Re-render a run's report.html from its files.
    Report(train::RunArgs),
    /// Exit 0 when two runs are bit-identical; otherwise exit 1 and name the first
    /// divergence (epoch, step, what) and its likely cause. Also two runs of a program
    /// (folders with command.json) or two of its per-epoch logs.
    Verify(verify::VerifyArgs),
    /// List the built-in run and augmentation presets.
    Presets,
    /// Check, describe and fetch CIFAR-10 data.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Time the workloads `ci/bench-compare.sh` sets against PyTorch (images/s), and the
    /// report's E7 epoch measurement (`bench epoch`).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// List and fetch the torchvision ImageNet weights the transfer-learning presets use.
    #[command(subcommand)]
    Weights(weights::WeightsCommand),
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Env(args) => env::run(args),
        Command::Data(command) => data::run(command),
        Command::Augment(args) => augment::run(args),
        Command::Train(args) => train::train(args),
        Command::Eval(args) => eval::run(args),
        Command::Report(args) => train::report(args),
        Command::Presets => train::presets(),
        Command::Audit(args) => audit::run(args),
        Command::Variance(args) => variance::run(args),
        Command::Claims(command) => claims::run(command),
        Command::Verify(args) => verify::run(args),
        Command::Weights(command) => weights::run(command),
        Command::Bench(command) => bench::run(command),
    }
}

/// The longest error line printed: a message quoting a huge input is cut.
const MAX_ERROR_CHARS: usize = 2_000;

/// An error and its causes on one line, without repeating a cause its parent already
/// quotes, cut to [`MAX_ERROR_CHARS`].
pub fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    cifar_repro::text::shorten(&line.replace('\n', " "), MAX_ERROR_CHARS)
}
