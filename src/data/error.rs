//! Everything that can be wrong with a CIFAR-10 source; each message names the file and the problem.

use std::path::PathBuf;

/// A CIFAR-10 source that cannot be read, or is not what it claims to be.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The path does not exist.
    #[error("{}: no such file or directory{}", .0.display(), relative_hint(.0))]
    NotFound(PathBuf),
    /// Neither a CIFAR-10 folder nor its archive.
    #[error("{path}: not CIFAR-10 binary data ({reason})")]
    NotCifar {
        /// The path given.
        path: PathBuf,
        /// What it is instead.
        reason: String,
    },
    /// One of the eight files is missing.
    #[error(
        "{0}: missing (a CIFAR-10 binary set holds data_batch_1.bin .. data_batch_5.bin, test_batch.bin and batches.meta.txt)"
    )]
    MissingFile(String),
    /// A file with no bytes.
    #[error("{0}: empty file")]
    Empty(String),
    /// A batch file larger than an official one.
    #[error(
        "{file}: larger than {max} bytes, the size of an official batch file (10,000 records); not a CIFAR-10 file"
    )]
    TooLarge {
        /// The file.
        file: String,
        /// The largest size read.
        max: u64,
    },
    /// A batch file that is not whole records.
    #[error("{file}: size {size} bytes is not a whole number of 3,073-byte records")]
    BadSize {
        /// The file.
        file: String,
        /// Its size in bytes.
        size: usize,
    },
    /// A record whose label is not a class.
    #[error("{file}: record {record} has label {label}, but CIFAR-10 labels are 0..9")]
    BadLabel {
        /// The file.
        file: String,
        /// The record's index in it.
        record: usize,
        /// The label byte.
        label: u8,
    },
    /// A class-name file that does not name ten classes.
    #[error("{file}: {reason}")]
    BadMeta {
        /// The file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// A `.tar.gz` that cannot be read to its end.
    #[error("{path}: cut or corrupt archive ({source})")]
    Archive {
        /// The archive.
        path: PathBuf,
        /// The reader's error.
        #[source]
        source: std::io::Error,
    },
    /// A file cannot be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// An archive whose MD5 is not the expected one.
    #[error(
        "{path}: MD5 {actual} differs from the expected {expected}; the file is corrupt or not the official archive"
    )]
    Md5Mismatch {
        /// The archive.
        path: PathBuf,
        /// The MD5 asked for.
        expected: String,
        /// The archive's MD5.
        actual: String,
    },
    /// libtorch failed to hold the images.
    #[error("{0}")]
    Tensor(#[from] tch::TchError),
}

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }
}

/// For a relative path, where it was looked for: the presets' `golden/data` is the
/// repository's, so a command run from another folder misses it.
fn relative_hint(path: &std::path::Path) -> String {
    if path.is_absolute() {
        return String::new();
    }
    let here = std::env::current_dir().map_or("?".into(), |d| d.display().to_string());
    let presets = match path.starts_with("golden") {
        true => {
            "; the presets read golden/data from the repository's root: run there, or give --data PATH"
        }
        false => "",
    };
    format!(" (looked for in {here}{presets})")
}
