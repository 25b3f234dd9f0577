//! Where the CIFAR-10 bytes come from: a folder as the official archive unpacks, or the
//! `.tar.gz` archive itself, read without unpacking.

use super::DataError;
use super::batch::RECORD_BYTES;
use flate2::read::GzDecoder;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The training batch files, in order.
pub const TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
/// The test batch file (the report's "val").
pub const TEST_FILE: &str = "test_batch.bin";
/// The class names, one a line.
pub const META_FILE: &str = "batches.meta.txt";
/// The folder the official archive unpacks to.
pub const BATCHES_DIR: &str = "cifar-10-batches-bin";

/// Every file a complete source holds.
pub fn expected_files() -> impl Iterator<Item = &'static str> {
    TRAIN_FILES.into_iter().chain([TEST_FILE, META_FILE])
}

/// The kind of source a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// A folder of the extracted files.
    Folder,
    /// The official `.tar.gz`, read without extracting it.
    Archive,
}

/// The raw files of a source, by file name, with a label for messages
/// (the file's path, or `archive:member`).
pub struct RawFiles {
    pub kind: SourceKind,
    pub files: BTreeMap<&'static str, (String, Vec<u8>)>,
}

/// Reads every expected file from `path`, a folder or a `.tar.gz`.
pub fn read_files(path: &Path) -> Result<RawFiles, DataError> {
    if !path.exists() {
        return Err(DataError::NotFound(path.to_owned()));
    }
    if path.is_dir() {
        read_folder(path)
    } else if is_archive_name(path) {
        read_archive(path)
    } else {
        Err(DataError::NotCifar {
            path: path.to_owned(),
            reason: "expected a cifar-10-batches-bin folder or a .tar.gz archive".into(),
        })
    }
}

/// True for names the archive reader takes (`.tar.gz`, `.tgz`).
pub fn is_archive_name(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    name.ends_with(".tar.gz") || name.ends_with(".tgz")
}

fn read_folder(path: &Path) -> Result<RawFiles, DataError> {
    let nested = path.join(BATCHES_DIR);
    let dir: PathBuf = if nested.is_dir() {
        nested
    } else {
        path.to_owned()
    };
    if !expected_files().any(|name| dir.join(name).exists()) {
        return Err(DataError::NotCifar {
            path: path.to_owned(),
            reason: format!(
                "no {} folder and no data_batch_*.bin or test_batch.bin in it",
                BATCHES_DIR
            ),
        });
    }
    let mut files = BTreeMap::new();
    for name in expected_files() {
        let file = dir.join(name);
        if !file.is_file() {
            return Err(DataError::MissingFile(file.display().to_string()));
        }
        let name_shown = file.display().to_string();
        let opened = crate::fsutil::open_file(&file).map_err(|e| DataError::io(&file, e))?;
        let bytes = read_bounded(opened).map_err(|e| match e {
            Bounded::TooLarge => DataError::TooLarge {
                file: name_shown.clone(),
                max: MAX_FILE_BYTES,
            },
            Bounded::Io(e) => DataError::io(&file, e),
        })?;
        files.insert(name, (name_shown, bytes));
    }
    Ok(RawFiles {
        kind: SourceKind::Folder,
        files,
    })
}

/// The largest file of a set read: an official batch file, 10,000 records of 3,073 bytes.
pub const MAX_FILE_BYTES: u64 = 10_000 * RECORD_BYTES as u64;

enum Bounded {
    TooLarge,
    Io(std::io::Error),
}

/// At most [`MAX_FILE_BYTES`] from `reader`: never more is held in memory, so an archive
/// member that inflates to gigabytes is refused after 30 MB.
fn read_bounded(reader: impl Read) -> Result<Vec<u8>, Bounded> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(Bounded::Io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(Bounded::TooLarge);
    }
    Ok(bytes)
}

fn read_archive(path: &Path) -> Result<RawFiles, DataError> {
    let file = crate::fsutil::open_file(path).map_err(|e| DataError::io(path, e))?;
    read_archive_from(path, std::io::BufReader::new(file))
}

/// Reads the expected files from `.tar.gz` bytes coming from `reader`; `path` names the
/// archive in errors.
pub fn read_archive_from(path: &Path, reader: impl Read) -> Result<RawFiles, DataError> {
    let corrupt = |source: std::io::Error| DataError::Archive {
        path: path.to_owned(),
        source,
    };
    let mut archive = tar::Archive::new(GzDecoder::new(reader));
    let mut files = BTreeMap::new();
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let member = entry.path().map_err(corrupt)?.into_owned();
        let Some(name) = member
            .file_name()
            .and_then(|n| expected_files().find(|e| n == std::ffi::OsStr::new(e)))
        else {
            continue;
        };
        let shown = format!("{}:{}", path.display(), member.display());
        let bytes = read_bounded(&mut entry).map_err(|e| match e {
            Bounded::TooLarge => DataError::TooLarge {
                file: shown.clone(),
                max: MAX_FILE_BYTES,
            },
            Bounded::Io(e) => corrupt(e),
        })?;
        files.insert(name, (shown, bytes));
    }
    // Read to the end so the gzip trailer's CRC-32 is checked: corruption inside the
    // compressed pixels can otherwise decode to wrong bytes without any error.
    std::io::copy(&mut archive.into_inner(), &mut std::io::sink()).map_err(corrupt)?;
    if files.is_empty() {
        return Err(DataError::NotCifar {
            path: path.to_owned(),
            reason: "the archive holds no data_batch_*.bin, test_batch.bin or batches.meta.txt"
                .into(),
        });
    }
    if let Some(missing) = expected_files().find(|name| !files.contains_key(name)) {
        return Err(DataError::MissingFile(format!(
            "{}:{}/{}",
            path.display(),
            BATCHES_DIR,
            missing
        )));
    }
    Ok(RawFiles {
        kind: SourceKind::Archive,
        files,
    })
}
