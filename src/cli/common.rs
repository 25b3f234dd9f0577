//! What the subcommands share: picking the device, and showing a run's progress.

use super::progress::Progress;
use anyhow::bail;
use cifar_repro::config::DeviceChoice;
use cifar_repro::manifest::EpochRecord;
use cifar_repro::train;
use tch::Device;

/// The device a config asks for, failing clearly when CUDA is asked for and absent.
pub fn pick_device(choice: DeviceChoice) -> anyhow::Result<Device> {
    let cuda = tch::Cuda::is_available();
    cifar_repro::runtime::check_required_cuda()?;
    match choice {
        DeviceChoice::Cuda if !cuda => {
            bail!("--device cuda: libtorch sees no CUDA device; use --device cpu")
        }
        DeviceChoice::Cuda | DeviceChoice::Auto if cuda => Ok(Device::Cuda(0)),
        _ => Ok(Device::Cpu),
    }
}

/// Shows training progress: a bar per epoch on a terminal, a line per epoch otherwise,
/// every line starting with `indent` (the audit nests runs under their claim).
pub struct Console {
    progress: Option<Progress>,
    indent: &'static str,
}

impl Console {
    pub fn new(indent: &'static str) -> Self {
        Self {
            progress: None,
            indent,
        }
    }
}

impl train::Observer for Console {
    fn note(&mut self, message: &str) {
        tracing::info!("{}{message}", self.indent);
    }

    fn step(&mut self, epoch: usize, step: usize, steps: usize, loss: f64) {
        let indent = self.indent;
        let progress = self
            .progress
            .get_or_insert_with(|| Progress::new(&format!("{indent}epoch {}", epoch + 1)));
        let loss = cifar_repro::text::fixed(loss, 4);
        progress.items(step as u64, steps as u64, &format!("loss {loss}"));
    }

    fn epoch(&mut self, e: &EpochRecord, epochs: usize) {
        if let Some(p) = self.progress.take() {
            p.finish();
        }
        tracing::info!(
            "{}epoch {}/{epochs}: train loss {} acc {:.4} | test loss {} acc {:.4} [{:.4}, {:.4}] | {:.1} s (training pass {:.1} s, in steps {:.1} s)",
            self.indent,
            e.epoch + 1,
            cifar_repro::text::fixed(e.train.loss, 4),
            e.train.accuracy,
            cifar_repro::text::fixed(e.test.loss, 4),
            e.test.accuracy,
            e.test.accuracy_ci95[0],
            e.test.accuracy_ci95[1],
            e.seconds,
            e.train_seconds,
            e.step_seconds
        );
    }
}

/// Writes `text` to stdout. A reader that went away (`| head -1`, a pager quit early)
/// ends the printing quietly, not the command: what comes after (its exit status) stands.
pub fn print_out(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("cifar-repro: warning: writing to stdout: {e}");
    }
}

/// The exit status of a command whose stdout was closed while it printed with `println!`:
/// 141, as a shell reports a writer a closed pipe ended (128 + SIGPIPE).
pub const CLOSED_PIPE_STATUS: i32 = 141;

/// Ends the process quietly, with [`CLOSED_PIPE_STATUS`], when a `println!` finds its
/// reader gone, instead of a panic and a stack trace; every other panic as before.
pub fn quiet_on_closed_pipe() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.contains("failed printing to std") && message.contains("Broken pipe") {
            std::process::exit(CLOSED_PIPE_STATUS);
        }
        previous(info);
    }));
}

/// A path given on the command line that every output (JSON, pages, logs) can name: a
/// name that is not UTF-8 is refused by clap before any work starts.
pub fn utf8_path(text: &str) -> Result<std::path::PathBuf, String> {
    Ok(std::path::PathBuf::from(text))
}

/// An enum's value as a config file spells it (serde's name: `channels_last`, `seeded`,
/// `folder`), never Rust's Debug form; Debug only for a value serde does not name.
pub fn spelled(value: &(impl serde::Serialize + std::fmt::Debug)) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => format!("{value:?}"),
    }
}
