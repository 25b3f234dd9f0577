//! `data fetch`: the official archive, MD5-checked.

use crate::download::{DownloadError, Expected, fetch_unless_present};
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
    std::fs::create_dir_all(dest_dir).map_err(|source| DownloadError::Io {
        path: dest_dir.to_owned(),
        source,
    })?;
    let dest = dest_dir.join(ARCHIVE_NAME);
    fetch_unless_present(url, &dest, &Expected::Md5(md5.to_owned()), progress)?;
    Ok(dest)
}

/// MD5 of a file, read in chunks.
pub fn md5_file(path: &Path) -> std::io::Result<String> {
    crate::hash::file_digest::<md5::Md5>(path)
}
