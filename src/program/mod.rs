//! Any training program as a run: a command (the report's own `python train.py --seed S`)
//! run as written, without a shell, in its own process group (under a pseudo-terminal if it
//! wants one, in the run's own folder if asked, seeded from outside only when asked), its
//! metrics read where it already writes them, and everything that made it recorded (argv,
//! input digests, environment, interpreter, exit status, wall time, logs, output digests).
//!
//! A claim file declares a program as `[runners.NAME]` ([`ProgramSpec`]); a claim's run
//! `runner:NAME` then runs it once per seed. A run folder `runs/KEY/` holds `command.json`
//! (the [`ProgramRecord`]), `stdout.txt`, `stderr.txt`, `pip-freeze.txt` for a Python
//! program, and `out/`, the program's own folder (`{out}`).

mod capture;
mod digest;
pub mod epochs;
mod hook;
mod metrics;
mod mlflow;
mod record;
mod spawn;
mod spec;
mod tensorboard;
mod terminal;

pub use metrics::{MetricsFormat, MetricsSpec, metric_domain, read_metrics};
pub use record::{
    FileDigest, ProgramRecord, ProgramStatus, RECORD_FILE, compare_runs, finished,
    recipe_difference, unusable_output,
};
pub use spawn::{Interrupted, interrupted};
pub use spec::{METRIC_NAMES, ProgramCwd, ProgramRun, ProgramSpec, RUNNER_PREFIX, runner_name};

use std::path::PathBuf;

/// Why a program could not be set up or run.
#[derive(Debug, thiserror::Error)]
pub enum ProgramError {
    /// A runner's spec that cannot be used.
    #[error("runner {runner}: {message}")]
    Spec {
        /// The runner's name.
        runner: String,
        /// What is wrong with it.
        message: String,
    },
    /// A file of the run cannot be read or written, or the program cannot start.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or program.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The program's metrics file is missing or unreadable.
    #[error("{0}")]
    Metrics(String),
    /// A `command.json` whose content does not match its seal: edited after it was written.
    #[error("{}: does not match the digest of its content: it was edited after cifar-repro wrote it; the folder is kept as evidence, remove it to run the seed again", .0.display())]
    Tampered(PathBuf),
    /// A `command.json` without a seal: written by an older cifar-repro, or edited.
    #[error("{}: has no digest of its content: written by an older cifar-repro, or edited; remove the folder to run the seed again", .0.display())]
    Unsealed(PathBuf),
    /// Ctrl-C (or SIGTERM) stopped the program.
    #[error("interrupted: the program's process group was killed")]
    Interrupted,
}

fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> ProgramError + '_ {
    move |source| ProgramError::Io {
        path: path.to_owned(),
        source,
    }
}
