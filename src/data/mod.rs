//! CIFAR-10 in the official binary format, from a folder or straight from the `.tar.gz`.
//! Checksums and splits; no randomness here.

mod batch;
mod error;
mod fetch;
mod source;

pub use batch::{IMAGE_BYTES, NUM_CLASSES, RECORD_BYTES, class_counts, class_names};
pub use error::DataError;
pub use fetch::{ARCHIVE_NAME, OFFICIAL_MD5, OFFICIAL_URL, fetch_archive, md5_file};
pub use source::{BATCHES_DIR, META_FILE, SourceKind, TEST_FILE, TRAIN_FILES, is_archive_name};

use crate::hash::sha256_hex;
use serde::Serialize;
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

/// Records in the full official set.
pub const FULL_TRAIN_RECORDS: usize = 50_000;
/// Records in the full official test batch.
pub const FULL_TEST_RECORDS: usize = 10_000;

/// One file of a source: its checksum, record count and class counts.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct FileSummary {
    /// The file's name in the source.
    pub name: String,
    /// Its SHA-256 in hex.
    pub sha256: String,
    /// Its size.
    pub bytes: usize,
    /// Records in a batch file; none for the class-name file.
    pub records: Option<usize>,
    /// Records per class in a batch file.
    pub class_counts: Option<[usize; NUM_CLASSES]>,
}

/// Images and labels of one split.
#[derive(Debug)]
pub struct Split {
    /// `N x 3 x 32 x 32`, u8.
    pub images: Tensor,
    /// `N`, int64, 0..9.
    pub labels: Tensor,
}

impl Split {
    /// Number of records.
    pub fn len(&self) -> usize {
        self.labels.size()[0] as usize
    }

    /// True when the split holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A loaded CIFAR-10 source.
#[derive(Debug)]
pub struct Cifar10 {
    /// The folder or archive it was read from.
    pub path: PathBuf,
    /// A folder or a `.tar.gz`.
    pub kind: SourceKind,
    /// data_batch_1..5, in order.
    pub train: Split,
    /// test_batch.
    pub test: Split,
    /// The class names, from `batches.meta.txt`.
    pub classes: Vec<String>,
    /// Every file, checked, in the order train 1..5, test, meta.
    pub files: Vec<FileSummary>,
}

impl Cifar10 {
    /// Loads and checks every file of the source at `path`.
    pub fn load(path: &Path) -> Result<Self, DataError> {
        Self::from_raw(path, source::read_files(path)?)
    }

    /// Loads and checks a `.tar.gz` archive read from `reader` (`path` names it).
    pub fn from_archive(path: &Path, reader: impl std::io::Read) -> Result<Self, DataError> {
        Self::from_raw(path, source::read_archive_from(path, reader)?)
    }

    fn from_raw(path: &Path, raw: source::RawFiles) -> Result<Self, DataError> {
        let mut files = Vec::new();
        let mut split_bytes = |names: &[&'static str]| -> Result<Vec<u8>, DataError> {
            let mut all = Vec::new();
            for name in names {
                let (label, bytes) = &raw.files[name];
                let counts = batch::class_counts(label, bytes)?;
                files.push(FileSummary {
                    name: name.to_string(),
                    sha256: sha256_hex(bytes),
                    bytes: bytes.len(),
                    records: Some(bytes.len() / RECORD_BYTES),
                    class_counts: Some(counts),
                });
                all.extend_from_slice(bytes);
            }
            Ok(all)
        };
        let train = split_bytes(&TRAIN_FILES)?;
        let test = split_bytes(&[TEST_FILE])?;
        let (meta_label, meta) = &raw.files[META_FILE];
        let classes = batch::class_names(meta_label, meta)?;
        files.push(FileSummary {
            name: META_FILE.to_owned(),
            sha256: sha256_hex(meta),
            bytes: meta.len(),
            records: None,
            class_counts: None,
        });
        Ok(Self {
            path: path.to_owned(),
            kind: raw.kind,
            train: to_split(&train)?,
            test: to_split(&test)?,
            classes,
            files,
        })
    }

    /// True when this is the whole official set (50,000 + 10,000 records).
    pub fn is_full(&self) -> bool {
        self.train.len() == FULL_TRAIN_RECORDS && self.test.len() == FULL_TEST_RECORDS
    }
}

/// Turns checked records into tensors with whole-tensor operations (no per-image copies).
fn to_split(records: &[u8]) -> Result<Split, DataError> {
    let n = (records.len() / RECORD_BYTES) as i64;
    let table = Tensor::f_from_slice(records)?.f_view([n, RECORD_BYTES as i64])?;
    Ok(Split {
        labels: table.f_select(1, 0)?.f_to_kind(Kind::Int64)?,
        images: table
            .f_narrow(1, 1, IMAGE_BYTES as i64)?
            .f_reshape([n, 3, 32, 32])?,
    })
}
