//! A program's output copied into its run folder by a thread, kept to a cap per stream:
//! the first [`HEAD_BYTES`] and the last [`TAIL_BYTES`] (where a script prints its final
//! metrics), with one line saying how many bytes were cut between them.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// The bytes kept from the start of a stream.
pub const HEAD_BYTES: u64 = 16 << 20;

/// The bytes kept from the end of a stream.
pub const TAIL_BYTES: usize = 16 << 20;

/// How long the copier waits for output before it looks whether it should stop.
const POLL_MS: i32 = 50;

/// A stream's log: its head written through, its tail held until the end.
struct Kept {
    file: File,
    written: u64,
    tail: VecDeque<u8>,
    cut: u64,
}

impl Kept {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let room = usize::try_from(HEAD_BYTES - self.written).unwrap_or(usize::MAX);
        let (head, rest) = bytes.split_at(room.min(bytes.len()));
        self.file.write_all(head)?;
        self.written += head.len() as u64;
        self.tail.extend(rest);
        let over = self.tail.len().saturating_sub(TAIL_BYTES);
        self.tail.drain(..over);
        self.cut += over as u64;
        Ok(())
    }

    /// Writes the note of the cut (if any) and the tail; returns the bytes cut.
    fn finish(mut self) -> std::io::Result<u64> {
        if self.cut > 0 {
            write!(
                self.file,
                "\n[cifar-repro: {} bytes cut here; the first {} MiB and the last {} MiB of this stream are kept]\n",
                self.cut,
                HEAD_BYTES >> 20,
                TAIL_BYTES >> 20
            )?;
        }
        let (a, b) = self.tail.as_slices();
        self.file.write_all(a)?;
        self.file.write_all(b)?;
        self.file.flush()?;
        Ok(self.cut)
    }
}

/// A thread copying one stream of a program into its log.
pub struct Copier {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<std::io::Result<u64>>,
}

/// Starts copying what arrives on `source` (a pipe or a terminal's controlling side) into
/// `log`, until every writer has closed it or [`Copier::finish`] is called.
pub fn copy(source: File, log: File) -> Copier {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let kept = Kept {
        file: log,
        written: 0,
        tail: VecDeque::new(),
        cut: 0,
    };
    let thread = std::thread::spawn(move || pump(source, kept, &flag));
    Copier { stop, thread }
}

impl Copier {
    /// Copies what is left (the program has ended), waits for the thread and returns the
    /// bytes cut from the stream.
    pub fn finish(self) -> std::io::Result<u64> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("an output copier panicked")))
    }
}

/// The copier's loop: waits for output at most [`POLL_MS`] at a time; ends on end of
/// file, on EIO (every program side of a terminal closed), or once stopped with nothing
/// left to read. A log that cannot be written (a full disk) does not stop the reading,
/// so the program never dies of a closed pipe; the error is returned at the end.
fn pump(mut source: File, mut kept: Kept, stop: &AtomicBool) -> std::io::Result<u64> {
    let mut buffer = vec![0u8; 64 * 1024];
    let mut failed: Option<std::io::Error> = None;
    let end = |kept: Kept, failed: Option<std::io::Error>| match failed {
        Some(e) => Err(e),
        None => kept.finish(),
    };
    loop {
        let mut poll = libc::pollfd {
            fd: source.as_raw_fd(),
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
                return end(kept, failed);
            }
            continue;
        }
        match source.read(&mut buffer) {
            Ok(0) => return end(kept, failed),
            Ok(n) if failed.is_none() => failed = kept.write(&buffer[..n]).err(),
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::EIO) => return end(kept, failed),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_past_the_cap_keeps_its_head_and_tail_and_says_what_was_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut kept = Kept {
            file: crate::fsutil::create_new(&path).unwrap(),
            written: 0,
            tail: VecDeque::new(),
            cut: 0,
        };
        let total = HEAD_BYTES as usize + TAIL_BYTES + 1000;
        let chunk: Vec<u8> = (0..=255u8).cycle().take(1 << 20).collect();
        let mut sent = Vec::with_capacity(total);
        while sent.len() < total {
            let n = chunk.len().min(total - sent.len());
            kept.write(&chunk[..n]).unwrap();
            sent.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(kept.finish().unwrap(), 1000);
        let log = crate::fsutil::read_bytes_capped(&path, 64 << 20).unwrap();
        let head = HEAD_BYTES as usize;
        assert_eq!(&log[..head], &sent[..head]);
        assert_eq!(&log[log.len() - TAIL_BYTES..], &sent[total - TAIL_BYTES..]);
        let note = String::from_utf8_lossy(&log[head..log.len() - TAIL_BYTES]).into_owned();
        assert!(note.contains("1000 bytes cut here"), "{note}");
    }
}
