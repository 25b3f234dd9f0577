//! A pseudo-terminal for programs that want one (`terminal = true`): `stty size` answers,
//! progress bars draw, and what the program writes is copied byte for byte into its log.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// The terminal's size as the program sees it.
const ROWS: u16 = 24;
const COLUMNS: u16 = 80;

/// How long the copier waits for output before it looks whether it should stop.
const POLL_MS: i32 = 50;

/// A new pseudo-terminal: (its controlling side, kept by cifar-repro and closed in the
/// program; the program's side). Output is passed as written (no `\n` to `\r\n`).
pub fn open() -> std::io::Result<(File, File)> {
    let (mut master, mut slave) = (-1, -1);
    let size = libc::winsize {
        ws_row: ROWS,
        ws_col: COLUMNS,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty(3) writes two descriptors into the integers given; no name buffer
    // and no terminal settings are passed, the size is a valid winsize.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: openpty succeeded: both descriptors are open and owned by nobody else.
    let (master, slave) = unsafe { (File::from_raw_fd(master), File::from_raw_fd(slave)) };
    set_cloexec(&master)?;
    set_cloexec(&slave)?;
    raw_output(&slave)?;
    Ok((master, slave))
}

/// Marks a descriptor close-on-exec, so that only the streams given to a program reach it.
fn set_cloexec(file: &File) -> std::io::Result<()> {
    // SAFETY: fcntl(2) on a descriptor this function's caller owns.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Turns off output processing, so the log holds the program's bytes as written.
fn raw_output(slave: &File) -> std::io::Result<()> {
    // SAFETY: tcgetattr/tcsetattr on an open terminal descriptor, with a zeroed termios
    // that tcgetattr fills before it is changed.
    unsafe {
        let mut settings: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(slave.as_raw_fd(), &mut settings) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        settings.c_oflag &= !libc::OPOST;
        if libc::tcsetattr(slave.as_raw_fd(), libc::TCSANOW, &settings) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// A thread copying the terminal's output into the program's log.
pub struct Copier {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<std::io::Result<()>>,
}

/// Starts copying what arrives on `master` into `log`, until every program side of the
/// terminal is closed or [`Copier::finish`] is called.
pub fn copy(master: File, log: File) -> Copier {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let thread = std::thread::spawn(move || pump(master, log, &flag));
    Copier { stop, thread }
}

impl Copier {
    /// Copies what is left (the program has ended) and waits for the thread.
    pub fn finish(self) -> std::io::Result<()> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the terminal copier panicked")))
    }
}

/// The copier's loop: waits for output at most [`POLL_MS`] at a time; ends on end of
/// file, on EIO (every program side closed), or once stopped with nothing left to read.
fn pump(mut master: File, mut log: File, stop: &AtomicBool) -> std::io::Result<()> {
    let mut buffer = [0u8; 64 * 1024];
    loop {
        let mut poll = libc::pollfd {
            fd: master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll(2) on one valid pollfd.
        let ready = unsafe { libc::poll(&mut poll, 1, POLL_MS) };
        if ready < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if ready == 0 {
            if stop.load(Ordering::SeqCst) {
                return log.flush();
            }
            continue;
        }
        match master.read(&mut buffer) {
            Ok(0) => return log.flush(),
            Ok(n) => log.write_all(&buffer[..n])?,
            Err(e) if e.raw_os_error() == Some(libc::EIO) => return log.flush(),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_on_the_terminal_sees_its_size_and_its_output_is_copied_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let log_path = dir.path().join("log");
        let (master, slave) = open().unwrap();
        let mut command = std::process::Command::new("sh");
        command
            .args(["-c", "stty size; printf 'a\\rb\\n'"])
            .stdin(slave.try_clone().unwrap())
            .stdout(slave.try_clone().unwrap())
            .stderr(slave);
        let mut child = command.spawn().unwrap();
        drop(command);
        let copier = copy(master, File::create(&log_path).unwrap());
        assert!(child.wait().unwrap().success());
        copier.finish().unwrap();
        assert_eq!(std::fs::read_to_string(&log_path).unwrap(), "24 80\na\rb\n");
    }
}
