//! Streaming HTTP downloads, checked against a pinned digest and moved into place atomically.

use crate::hash::hex;
use md5::Md5;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The digest a download must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    Md5(String),
    Sha256(String),
}

impl Expected {
    fn hasher(&self) -> Box<dyn digest::DynDigest> {
        match self {
            Expected::Md5(_) => Box::new(Md5::new()),
            Expected::Sha256(_) => Box::new(Sha256::new()),
        }
    }

    fn hex(&self) -> &str {
        match self {
            Expected::Md5(h) | Expected::Sha256(h) => h,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Expected::Md5(_) => "MD5",
            Expected::Sha256(_) => "SHA-256",
        }
    }
}

/// Why a download failed. Nothing is left at the destination in any case.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("download of {url} failed: {message}")]
    Http { url: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{url}: {algorithm} {actual} differs from the pinned {expected}; nothing was kept")]
    Mismatch {
        url: String,
        algorithm: &'static str,
        expected: String,
        actual: String,
    },
}

/// Downloads `url` to `dest`, streaming through a hidden `.partial` file beside it, checks
/// the digest and renames into place. `progress(done, total)` is called as bytes arrive.
pub fn download_verified(
    url: &str,
    dest: &Path,
    expected: &Expected,
    mut progress: impl FnMut(u64, Option<u64>),
) -> Result<(), DownloadError> {
    let http = |message: String| DownloadError::Http {
        url: url.to_owned(),
        message,
    };
    let mut response = ureq::get(url).call().map_err(|e| http(e.to_string()))?;
    let total = response.body().content_length();
    let mut reader = response.body_mut().as_reader();

    let partial = partial_path(dest);
    let io = |source| DownloadError::Io {
        path: partial.clone(),
        source,
    };
    let mut file = std::fs::File::create(&partial).map_err(io)?;
    let mut hasher = expected.hasher();
    let mut buf = vec![0u8; 1 << 20];
    let mut done = 0u64;
    let streamed = loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => n,
            Err(e) => break Err(http(e.to_string())),
        };
        hasher.update(&buf[..n]);
        if let Err(e) = file.write_all(&buf[..n]) {
            break Err(io(e));
        }
        done += n as u64;
        progress(done, total);
    };
    let finished = streamed.and_then(|()| file.sync_all().map_err(io));
    drop(file);
    let actual = hex(&hasher.finalize());
    let outcome = finished.and_then(|()| {
        if actual.eq_ignore_ascii_case(expected.hex()) {
            std::fs::rename(&partial, dest).map_err(io)
        } else {
            Err(DownloadError::Mismatch {
                url: url.to_owned(),
                algorithm: expected.name(),
                expected: expected.hex().to_owned(),
                actual,
            })
        }
    });
    if outcome.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    outcome
}

fn partial_path(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    dest.with_file_name(format!(".{name}.partial"))
}
