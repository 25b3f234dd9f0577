//! Why a run folder cannot be made, read or written.

use crate::config::ConfigError;
use crate::manifest::ManifestError;
use std::path::PathBuf;

/// A run folder that cannot be created, or is not whole and true.
#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    /// The folder is not empty.
    #[error(
        "{} exists and is not empty; continue it with `train --resume {}`, replace it with --overwrite, or choose another --out",
        .0.display(), .0.display()
    )]
    Occupied(PathBuf),
    /// `--overwrite` on a folder cifar-repro did not make.
    #[error(
        "{} is not a cifar-repro run folder (it has no .cifar-repro marker); refusing to replace it",
        .0.display()
    )]
    NotARun(PathBuf),
    /// `--overwrite` on a run folder holding files cifar-repro did not write.
    #[error(
        "{}: holds files cifar-repro did not write ({files}); refusing to replace it: move them, or choose another --out",
        path.display()
    )]
    Foreign {
        /// The folder.
        path: PathBuf,
        /// Those files, listed.
        files: String,
    },
    /// `--resume` on a folder with no config.
    #[error("{}: not a run folder to resume (no config.toml)", .0.display())]
    NotResumable(PathBuf),
    /// The folder cannot be cleared for `--overwrite`.
    #[error("cannot clear {}: {source}", path.display())]
    Clear {
        /// The folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The folder cannot be created.
    #[error("cannot create the run folder {}: {source}", path.display())]
    Create {
        /// The folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A file of the folder cannot be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The manifest is not a sealed cifar-repro manifest.
    #[error("{}: {source}", path.display())]
    Manifest {
        /// The manifest.
        path: PathBuf,
        /// What is wrong with it.
        source: ManifestError,
    },
    /// A file that does not match what the manifest records.
    #[error("{}: {why}; refusing the run folder", path.display())]
    Tampered {
        /// The file.
        path: PathBuf,
        /// What differs.
        why: String,
    },
    /// Another process is writing the folder.
    #[error(transparent)]
    Locked(#[from] crate::fsutil::LockError),
    /// The run's config cannot be read back.
    #[error(transparent)]
    Config(#[from] ConfigError),
}
