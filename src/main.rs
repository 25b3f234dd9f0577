//! The `cifar-repro` command line: the only place that picks devices, paths and stdout.

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    cifar_repro::determinism::flags::prepare_environment();
    cifar_repro::runtime::prefer_huge_pages();
    cli::hooks::install_kill_point();
    cli::quiet_on_closed_pipe();
    init_logging();
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("cifar-repro: error: {}", cli::one_line(&err));
            std::process::ExitCode::FAILURE
        }
    }
}

/// Log lines go to stderr through `tracing`: bare messages on a terminal (beside the
/// progress bars), timestamped lines with their level otherwise. `CIFAR_REPRO_LOG` sets the
/// filter (default `info`; `debug` adds every training step's loss and each checkpoint).
fn init_logging() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("CIFAR_REPRO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logger = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    if std::io::stderr().is_terminal() {
        logger.without_time().with_level(false).init();
    } else {
        logger.with_ansi(false).init();
    }
}
