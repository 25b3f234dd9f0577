//! The `cifar-repro` command line: the only place that picks devices, paths and stdout.

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    cifar_repro::determinism::flags::prepare_environment();
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("cifar-repro: error: {}", cli::one_line(&err));
            std::process::ExitCode::FAILURE
        }
    }
}
