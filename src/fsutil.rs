//! Files written atomically: to a hidden temporary beside the target, synced, then renamed,
//! so a reader (or a crash) never sees half a file.

use std::path::{Path, PathBuf};

/// The temporary a write of `path` goes through.
pub fn temporary_for(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    with_atomic(path, |tmp| std::fs::write(tmp, bytes))
}

/// Lets `write` fill a temporary file, syncs it and renames it to `path`. On error the
/// temporary is removed and `path` is untouched.
pub fn with_atomic<E: From<std::io::Error>>(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), E> {
    let tmp = temporary_for(path);
    let outcome = write(&tmp).and_then(|()| {
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    });
    if outcome.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    outcome
}
