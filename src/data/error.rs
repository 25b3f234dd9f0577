//! Everything that can be wrong with a CIFAR-10 source; each message names the file and the problem.

use std::path::PathBuf;

/// A CIFAR-10 source that cannot be read, or is not what it claims to be.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{0}: no such file or directory")]
    NotFound(PathBuf),
    #[error("{path}: not CIFAR-10 binary data ({reason})")]
    NotCifar { path: PathBuf, reason: String },
    #[error(
        "{0}: missing (a CIFAR-10 binary set holds data_batch_1.bin .. data_batch_5.bin, test_batch.bin and batches.meta.txt)"
    )]
    MissingFile(String),
    #[error("{0}: empty file")]
    Empty(String),
    #[error(
        "{file}: larger than {max} bytes, the size of an official batch file (10,000 records); not a CIFAR-10 file"
    )]
    TooLarge { file: String, max: u64 },
    #[error("{file}: size {size} bytes is not a whole number of 3,073-byte records")]
    BadSize { file: String, size: usize },
    #[error("{file}: record {record} has label {label}, but CIFAR-10 labels are 0..9")]
    BadLabel {
        file: String,
        record: usize,
        label: u8,
    },
    #[error("{file}: {reason}")]
    BadMeta { file: String, reason: String },
    #[error("{path}: cut or corrupt archive ({message})")]
    Archive { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path}: MD5 {actual} differs from the expected {expected}; the file is corrupt or not the official archive"
    )]
    Md5Mismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
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
