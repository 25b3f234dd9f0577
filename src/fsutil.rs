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

/// What a path is, in words, when it is not a regular file.
fn not_a_file(kind: std::fs::FileType) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    Some(if kind.is_file() {
        return None;
    } else if kind.is_dir() {
        "a folder"
    } else if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else {
        "not a regular file"
    })
}

fn refuse_kind(what: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("{what}, not a regular file; cifar-repro reads only regular files"),
    )
}

/// Refuses `path` unless it is a regular file (after symlinks), by what it is: the check
/// before a path is handed to a reader outside the crate (libtorch's safetensors reader).
pub fn ensure_regular(path: &Path) -> std::io::Result<()> {
    match not_a_file(std::fs::metadata(path)?.file_type()) {
        Some(what) => Err(refuse_kind(what)),
        None => Ok(()),
    }
}

/// `path` opened for reading: the one way cifar-repro opens a file to read it. A FIFO, a
/// device, a socket or a folder is refused by what it is, before it is opened (and the
/// open itself never blocks), so no reader can hang on a pipe or read `/dev/zero` forever.
pub fn open_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    ensure_regular(path)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    if let Some(what) = not_a_file(file.metadata()?.file_type()) {
        return Err(refuse_kind(what));
    }
    // SAFETY: fcntl on a descriptor this function owns, clearing the flag set above.
    let cleared = unsafe {
        let fd = file.as_raw_fd();
        let flags = libc::fcntl(fd, libc::F_GETFL);
        flags >= 0 && libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) == 0
    };
    match cleared {
        true => Ok(file),
        false => Err(std::io::Error::last_os_error()),
    }
}

/// A file created for writing at `path`, refused (`AlreadyExists`) when anything is
/// there: the one way cifar-repro streams into a new file, so it never replaces a file it
/// did not write.
pub fn create_new(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// A file created or emptied at `path` for writing, for a file inside a folder cifar-repro
/// made and owns (a run folder, a staging folder); anywhere else use [`create_new`] or
/// [`write_atomic`].
pub fn create_owned(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
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
    open_file(path)?.take(max + 1).read_to_end(&mut bytes)?;
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
    use std::io::Write;
    with_atomic(path, |tmp| create_new(tmp)?.write_all(bytes))
}

/// Lets `write` fill a temporary file, syncs it and renames it to `path`. On error the
/// temporary is removed and `path` is untouched.
pub fn with_atomic<E: From<std::io::Error>>(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), E> {
    let tmp = temporary_for(path);
    let _ = std::fs::remove_file(&tmp);
    let outcome = write(&tmp).and_then(|()| {
        open_file(&tmp)?.sync_all()?;
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

/// Whether `a` and `b` name the same existing folder (or file), however spelled.
pub fn same_folder(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The file in a folder that [`lock_folder`] locks.
pub const LOCK_FILE: &str = ".lock";

/// Locks `dir` (which must exist) for this process, or says which process holds it.
pub fn lock_folder(dir: &Path) -> Result<FolderLock, LockError> {
    use std::io::{Read, Seek, Write};
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(LOCK_FILE);
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    // O_NOFOLLOW and O_NONBLOCK: a lock file that is a symlink (to a user's file) or a
    // FIFO is refused, never truncated or waited on.
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&path)
        .map_err(io)?;
    if let Some(what) = not_a_file(file.metadata().map_err(io)?.file_type()) {
        return Err(io(refuse_kind(what)));
    }
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

/// The marker in a folder cifar-repro made (a run folder, an audit's or a study's
/// `--out`): the files in it under cifar-repro's names are cifar-repro's to replace.
pub const MARKER: &str = ".cifar-repro";

/// Why an output folder cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OutputFolderError {
    /// The folder cannot be made, listed or marked.
    #[error("{}: {source}", path.display())]
    Io {
        /// The folder or file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// An unmarked folder holding files under the names cifar-repro would write.
    #[error(
        "{} holds {files}, which cifar-repro did not write (the folder has no {MARKER} marker); refusing to replace them: move them, or choose another --out",
        path.display()
    )]
    Foreign {
        /// The folder.
        path: PathBuf,
        /// Those files, listed.
        files: String,
    },
    /// Another process holds the folder.
    #[error(transparent)]
    Locked(#[from] LockError),
}

/// Whether `dir`'s lock file holds only a pid, as [`lock_folder`] writes it.
fn locked_before(dir: &Path) -> bool {
    read_capped(&dir.join(LOCK_FILE), 64)
        .is_ok_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

/// Makes `dir` ready for cifar-repro to write `names` into, and locks it: created when
/// missing; an existing folder without [`MARKER`] is refused when it holds any of `names`
/// (or a lock file), so a user's own `audit.md` is never replaced, unless its lock file
/// holds a pid as [`lock_folder`] writes it (a folder an earlier cifar-repro, which wrote
/// no marker, made and locked); then marked and locked. Other files are left alone.
pub fn prepare_output_folder(
    dir: &Path,
    what: &str,
    names: &[&str],
) -> Result<FolderLock, OutputFolderError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| OutputFolderError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let marker = dir.join(MARKER);
    if !marker.is_file() {
        let taken: Vec<String> = std::fs::read_dir(dir)
            .map_err(io(dir))?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| names.contains(&n.as_str()) || n == LOCK_FILE)
            .collect();
        if !taken.is_empty() && !locked_before(dir) {
            return Err(OutputFolderError::Foreign {
                path: dir.to_owned(),
                files: taken.join(", "),
            });
        }
        write_atomic(&marker, format!("{what} of cifar-repro\n").as_bytes())
            .map_err(io(&marker))?;
    }
    Ok(lock_folder(dir)?)
}
