//! Streaming HTTP downloads, checked against a pinned digest and moved into place atomically.

use crate::hash::{file_digest, hex};
use md5::Md5;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The digest a download must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// An MD5 in hex, as CIFAR-10's archive is published.
    Md5(String),
    /// A whole SHA-256 in hex.
    Sha256(String),
    /// The leading hex digits of the SHA-256, as torchvision pins its weights files
    /// (`resnet50-11ad3fa6.pth`) and checks them in `load_state_dict_from_url`.
    Sha256Prefix(String),
}

impl Expected {
    fn hasher(&self) -> Box<dyn digest::DynDigest> {
        match self {
            Expected::Md5(_) => Box::new(Md5::new()),
            Expected::Sha256(_) | Expected::Sha256Prefix(_) => Box::new(Sha256::new()),
        }
    }

    fn hex(&self) -> &str {
        match self {
            Expected::Md5(h) | Expected::Sha256(h) | Expected::Sha256Prefix(h) => h,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Expected::Md5(_) => "MD5",
            Expected::Sha256(_) => "SHA-256",
            Expected::Sha256Prefix(_) => "SHA-256 (pinned prefix)",
        }
    }

    /// Whether a digest (full hex) is the expected one.
    pub fn matches(&self, actual: &str) -> bool {
        match self {
            Expected::Md5(h) | Expected::Sha256(h) => actual.eq_ignore_ascii_case(h),
            Expected::Sha256Prefix(p) => actual
                .get(..p.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(p)),
        }
    }

    /// The digest of a file, in this expectation's algorithm (full hex).
    pub fn digest_file(&self, path: &Path) -> std::io::Result<String> {
        match self {
            Expected::Md5(_) => file_digest::<Md5>(path),
            Expected::Sha256(_) | Expected::Sha256Prefix(_) => file_digest::<Sha256>(path),
        }
    }
}

/// Why a download failed. Nothing is left at the destination in any case.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The fetch failed.
    #[error("download of {url} failed: {message}")]
    Http {
        /// What was fetched.
        url: String,
        /// The HTTP client's error.
        message: String,
    },
    /// The destination could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A file is already at the destination, and it is not the pinned one.
    #[error(
        "{} exists and is not the pinned file ({algorithm} {actual}); cifar-repro never replaces a file it did not download: move it away, then fetch again",
        path.display()
    )]
    Occupied {
        /// The file.
        path: PathBuf,
        /// The digest's name.
        algorithm: &'static str,
        /// The digest of what is there.
        actual: String,
    },
    /// The server sends more than any file cifar-repro fetches.
    #[error(
        "{url}: the server sends {bytes} bytes, more than the {MAX_DOWNLOAD_BYTES} cifar-repro fetches; nothing was kept"
    )]
    TooLarge {
        /// What was fetched.
        url: String,
        /// The size announced or received so far.
        bytes: u64,
    },
    /// The bytes fetched are not the pinned ones.
    #[error("{url}: {algorithm} {actual} differs from the pinned {expected}; nothing was kept")]
    Mismatch {
        /// What was fetched.
        url: String,
        /// The digest's name, as `Expected::algorithm` gives it.
        algorithm: &'static str,
        /// The pinned digest.
        expected: String,
        /// The digest of what came.
        actual: String,
    },
}

/// The most bytes one download may bring (the largest file fetched, CIFAR-10's archive,
/// is 170 MB; a torchvision ResNet-50 is 100 MB).
pub const MAX_DOWNLOAD_BYTES: u64 = 1 << 30;

/// The HTTP agent: 30 s to connect, and at most 60 s without a byte while reading, so a
/// stalled server ends the download with an error instead of hanging it.
fn agent() -> ureq::Agent {
    use std::time::Duration;
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_per_read(Some(Duration::from_secs(60)))
            .build(),
    )
}

/// Downloads `url` to `dest`, streaming through a hidden `.partial` file beside it, checks
/// the digest and renames into place. `progress(done, total)` is called as bytes arrive.
pub fn download_verified(
    url: &str,
    dest: &Path,
    expected: &Expected,
    mut progress: impl FnMut(u64, Option<u64>),
) -> Result<(), DownloadError> {
    let mut response = agent()
        .get(url)
        .call()
        .map_err(|e| http_error(url, e.to_string()))?;
    let total = response.body().content_length();
    if let Some(bytes) = total.filter(|&b| b > MAX_DOWNLOAD_BYTES) {
        return Err(too_large(url, bytes));
    }
    let partial = partial_path(dest);
    let io = |source| DownloadError::Io {
        path: partial.clone(),
        source,
    };
    let mut hasher = expected.hasher();
    let finished = crate::fsutil::create_owned(&partial)
        .map_err(io)
        .and_then(|file| {
            let reader = response.body_mut().as_reader();
            stream(
                url,
                (reader, file, &partial),
                &mut *hasher,
                total,
                &mut progress,
            )
        });
    let actual = hex(&hasher.finalize());
    let outcome = finished.and_then(|()| {
        if expected.matches(&actual) {
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

fn http_error(url: &str, message: String) -> DownloadError {
    DownloadError::Http {
        url: url.to_owned(),
        message,
    }
}

fn too_large(url: &str, bytes: u64) -> DownloadError {
    DownloadError::TooLarge {
        url: url.to_owned(),
        bytes,
    }
}

/// Copies `reader` (the body of `url`) into `file` (at `path`) through `hasher`, at most
/// [`MAX_DOWNLOAD_BYTES`], calling `progress` as bytes arrive, then syncs the file.
fn stream(
    url: &str,
    (mut reader, mut file, path): (impl Read, std::fs::File, &Path),
    hasher: &mut dyn digest::DynDigest,
    total: Option<u64>,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<(), DownloadError> {
    let io = |source| DownloadError::Io {
        path: path.to_owned(),
        source,
    };
    let mut buf = vec![0u8; 1 << 20];
    let mut done = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return file.sync_all().map_err(io),
            Ok(n) => n,
            Err(e) => return Err(http_error(url, e.to_string())),
        };
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).map_err(io)?;
        done += n as u64;
        if done > MAX_DOWNLOAD_BYTES {
            return Err(too_large(url, done));
        }
        progress(done, total);
    }
}

/// Like [`download_verified`], but a file already at `dest` with the expected digest is kept
/// as it is (no network), and any other file there is refused, never replaced. Returns
/// whether it downloaded.
pub fn fetch_unless_present(
    url: &str,
    dest: &Path,
    expected: &Expected,
    progress: impl FnMut(u64, Option<u64>),
) -> Result<bool, DownloadError> {
    if std::fs::symlink_metadata(dest).is_ok() {
        let actual = expected
            .digest_file(dest)
            .map_err(|source| DownloadError::Io {
                path: dest.to_owned(),
                source,
            })?;
        if expected.matches(&actual) {
            return Ok(false);
        }
        return Err(DownloadError::Occupied {
            path: dest.to_owned(),
            algorithm: expected.name(),
            actual,
        });
    }
    download_verified(url, dest, expected, progress)?;
    Ok(true)
}

fn partial_path(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    dest.with_file_name(format!(".{name}.partial"))
}

#[cfg(test)]
mod tests {
    use super::Expected;

    #[test]
    fn a_prefix_pin_matches_only_its_prefix() {
        let digest = "11ad3fa6e2a7c3c1d3f1b9e0aa0000000000000000000000000000000000beef";
        assert!(Expected::Sha256Prefix("11ad3fa6".into()).matches(digest));
        assert!(Expected::Sha256Prefix("11AD3FA6".into()).matches(digest));
        assert!(!Expected::Sha256Prefix("11ad3fa7".into()).matches(digest));
        assert!(!Expected::Sha256Prefix("11ad3fa6".into()).matches("11ad"));
        assert!(!Expected::Sha256(digest[..8].into()).matches(digest));
    }
}
