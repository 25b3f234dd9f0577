//! Why a run folder cannot be made, read or written.

use crate::config::ConfigError;
use crate::manifest::ManifestError;
use std::path::PathBuf;

/// A run folder that cannot be created, or is not whole and true.
#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    #[error(
        "{} exists and is not empty; continue it with `train --resume {}`, replace it with --overwrite, or choose another --out",
        .0.display(), .0.display()
    )]
    Occupied(PathBuf),
    #[error(
        "{} is not a cifar-repro run folder (it has no .cifar-repro marker); refusing to replace it",
        .0.display()
    )]
    NotARun(PathBuf),
    #[error(
        "{}: holds files cifar-repro did not write ({files}); refusing to replace it: move them, or choose another --out",
        path.display()
    )]
    Foreign { path: PathBuf, files: String },
    #[error("{}: not a run folder to resume (no config.toml)", .0.display())]
    NotResumable(PathBuf),
    #[error("cannot clear {}: {source}", path.display())]
    Clear {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create the run folder {}: {source}", path.display())]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Manifest {
        path: PathBuf,
        source: ManifestError,
    },
    #[error("{}: {why}; refusing the run folder", path.display())]
    Tampered { path: PathBuf, why: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
}
