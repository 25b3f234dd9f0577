//! Subcommands, each in its own file.

mod augment;
mod data;
mod env;
mod progress;

use clap::{Parser, Subcommand};
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
    /// Check, describe and fetch CIFAR-10 data.
    #[command(subcommand)]
    Data(data::DataCommand),
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Env(args) => env::run(args),
        Command::Data(command) => data::run(command),
        Command::Augment(args) => augment::run(args),
    }
}

/// An error and its causes on one line, without repeating a cause its parent already quotes.
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
    line.replace('\n', " ")
}
