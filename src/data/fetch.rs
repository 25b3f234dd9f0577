//! `data fetch`: the official archive, MD5-checked.

use crate::download::{DownloadError, Expected, download_verified};
use crate::hash::hex;
use md5::{Digest, Md5};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The official archive's address.
pub const OFFICIAL_URL: &str = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
/// The official archive's MD5, as published with it.
pub const OFFICIAL_MD5: &str = "c32a1d4ab5d03f1284b67883e8d87530";
/// The official archive's file name.
pub const ARCHIVE_NAME: &str = "cifar-10-binary.tar.gz";

/// Downloads the archive from `url` into `dest_dir/cifar-10-binary.tar.gz`, checking `md5`.
/// An archive already there with the right MD5 is kept as it is.
pub fn fetch_archive(
    url: &str,
    dest_dir: &Path,
    md5: &str,
    progress: impl FnMut(u64, Option<u64>),
) -> Result<PathBuf, DownloadError> {
    let io = |source| DownloadError::Io {
        path: dest_dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(dest_dir).map_err(io)?;
    let dest = dest_dir.join(ARCHIVE_NAME);
    if dest.is_file() && md5_file(&dest).map_err(io)?.eq_ignore_ascii_case(md5) {
        return Ok(dest);
    }
    download_verified(url, &dest, &Expected::Md5(md5.to_owned()), progress)?;
    Ok(dest)
}

/// MD5 of a file, read in chunks.
pub fn md5_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hex(&hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}
