//! A pseudo-terminal for programs that want one (`terminal = true`): `stty size` answers,
//! progress bars draw, and what the program writes is copied byte for byte into its log.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd};

/// The terminal's size as the program sees it.
const ROWS: u16 = 24;
const COLUMNS: u16 = 80;

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
        let copier = super::super::capture::copy(master, File::create(&log_path).unwrap());
        assert!(child.wait().unwrap().success());
        assert_eq!(copier.finish().unwrap(), 0);
        assert_eq!(std::fs::read_to_string(&log_path).unwrap(), "24 80\na\rb\n");
    }
}
