//! Files written atomically: to a hidden temporary beside the target, synced, then renamed,
//! so a reader (or a crash) never sees half a file.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The temporary a write of `path` goes through.
pub fn temporary_for(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// The text of `path`, refused (`InvalidData`) when it holds more than `max` bytes or is
/// not UTF-8; at most `max + 1` bytes are ever read, so a device like `/dev/zero` is safe.
pub fn read_capped(path: &Path, max: u64) -> std::io::Result<String> {
    String::from_utf8(read_bytes_capped(path, max)?)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"))
}

/// The bytes of `path`, refused (`InvalidData`, naming the cap) when it holds more than
/// `max`; at most `max + 1` bytes are ever read.
pub fn read_bytes_capped(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(max + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "larger than the {} MiB cap cifar-repro reads from such a file",
                max >> 20
            ),
        ));
    }
    Ok(bytes)
}

/// Every regular file under `dir` whose name `keep` accepts, found recursively without
/// following symlinked folders (a link cycle cannot recurse forever), sorted by path; an
/// error names the folder or file it came from.
pub fn files_under(dir: &Path, keep: &dyn Fn(&str) -> bool) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
            let path = entry.path();
            let kind = entry
                .file_type()
                .map_err(|e| format!("{}: {e}", path.display()))?;
            if kind.is_dir() {
                stack.push(path);
            } else if keep(&entry.file_name().to_string_lossy()) && path.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
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
        kill_point(path);
        std::fs::rename(&tmp, path)?;
        Ok(())
    });
    if outcome.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    outcome
}

/// Whether `name` is a hidden temporary an atomic write leaves behind when the process
/// dies between writing and renaming (`.NAME.tmp-PID`, `.NAME.partial`), or while
/// deleting a folder (`.NAME.retired`).
pub fn is_leftover(name: &str) -> bool {
    name.starts_with('.')
        && (name.contains(".tmp-") || name.ends_with(".partial") || name.ends_with(".retired"))
}

/// Removes the leftovers of interrupted atomic writes directly inside `dir`.
pub fn remove_leftovers(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if is_leftover(&entry.file_name().to_string_lossy()) {
            let path = entry.path();
            let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
        }
    }
}

static KILL_POINT: OnceLock<(String, usize)> = OnceLock::new();
static KILL_COUNT: AtomicUsize = AtomicUsize::new(0);

/// Fault injection for the crash-safety tests, installed by the binary (from
/// `CIFAR_REPRO_KILL_BEFORE_RENAME=NAME@K`): the process sends itself SIGKILL just before
/// the `nth` atomic rename (counted in this process) onto a path whose file name starts
/// with `name`: the written temporary is complete and the target still old, the moment a
/// crash could do most harm. Only the first installation counts.
pub fn install_kill_point(name: &str, nth: usize) {
    let _ = KILL_POINT.set((name.to_owned(), nth));
}

/// Where an installed kill point may fire; does nothing when none is installed.
pub fn kill_point(target: &Path) {
    let Some((name, nth)) = KILL_POINT.get() else {
        return;
    };
    let matches = target
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with(name.as_str()));
    if matches && KILL_COUNT.fetch_add(1, Ordering::SeqCst) + 1 == *nth {
        // SAFETY: raise only sends a signal to this process; SIGKILL ends it at once.
        unsafe {
            libc::raise(libc::SIGKILL);
        }
    }
}

/// An exclusive lock on a folder (`.lock` in it, holding the owner's pid), released when
/// dropped or when the process dies, however it dies.
#[derive(Debug)]
pub struct FolderLock {
    _file: std::fs::File,
}

/// Why a folder could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// The lock file could not be made or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Another live process holds the lock.
    #[error(
        "{} is in use by another cifar-repro (pid {pid}); wait for it to finish, or choose another --out",
        path.display()
    )]
    Held {
        /// The locked folder.
        path: PathBuf,
        /// The holder's process id, as its lock file records it.
        pid: String,
    },
}

/// Locks `dir` (which must exist) for this process, or says which process holds it.
pub fn lock_folder(dir: &Path) -> Result<FolderLock, LockError> {
    use std::io::{Read, Seek, Write};
    use std::os::fd::AsRawFd;
    let path = dir.join(".lock");
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    // SAFETY: flock on a descriptor this function owns; LOCK_NB makes it return at once.
    let taken = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
    if !taken {
        let mut pid = String::new();
        let _ = file.read_to_string(&mut pid);
        return Err(LockError::Held {
            path: dir.to_owned(),
            pid: pid.trim().chars().take(20).collect(),
        });
    }
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    write!(file, "{}", std::process::id()).map_err(io)?;
    Ok(FolderLock { _file: file })
}
