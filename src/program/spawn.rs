//! Running a program: no shell, its own process group (killed whole on timeout, on
//! Ctrl-C, and once the program exits, so nothing it started lingers), stdout and stderr
//! into files, and the program killed if cifar-repro itself dies.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How a program ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ended {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub wall_seconds: f64,
}

/// Set by SIGINT or SIGTERM while a program runs.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Whether the user interrupted a program (Ctrl-C): the caller should stop.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// The user interrupted: the program's group was killed.
#[derive(Debug, Clone, Copy)]
pub struct Interrupted;

extern "C" fn note_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// SIGINT and SIGTERM handled by noting them while it lives; the previous handlers after.
struct InterruptGuard {
    previous: [libc::sighandler_t; 2],
}

const SIGNALS: [libc::c_int; 2] = [libc::SIGINT, libc::SIGTERM];

impl InterruptGuard {
    fn install() -> Self {
        let handler = note_interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t;
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        let previous = SIGNALS.map(|s| unsafe { libc::signal(s, handler) });
        Self { previous }
    }
}

impl Drop for InterruptGuard {
    fn drop(&mut self) {
        for (s, previous) in SIGNALS.iter().zip(self.previous) {
            // SAFETY: restores the handler `install` replaced.
            unsafe { libc::signal(*s, previous) };
        }
    }
}

/// Kills process group `pgid` (nothing when it is gone).
pub fn kill_group(pgid: i32) {
    if pgid > 0 {
        // SAFETY: kill(2) with a negative pid signals a process group; no memory is touched.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }
}

/// The environment variable every program gets, naming its run folder: how a later
/// cifar-repro recognises a process group an earlier one left behind.
pub const RUN_VARIABLE: &str = "CIFAR_REPRO_RUN";

/// Whether process group `pgid` still has a member whose environment names `run` (a
/// group id alone could have been reused by an unrelated program).
pub fn group_of_run_alive(pgid: i32, run: &str) -> bool {
    let needle = format!("{RUN_VARIABLE}={run}");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        let dir = entry.path();
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
        // Field 5 of /proc/PID/stat, after the parenthesised command name.
        let group = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(2)?.parse::<i32>().ok());
        group == Some(pgid)
            && std::fs::read(dir.join("environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == needle.as_bytes()))
    })
}

/// The command for `argv`: in `workdir`, `env` over the inherited environment, stdin
/// closed, output into the files, a process group of its own, killed if cifar-repro dies.
fn command(
    argv: &[String],
    workdir: &Path,
    env: &BTreeMap<String, String>,
    (stdout, stderr): (File, File),
) -> Command {
    let mut command = Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .current_dir(workdir)
        .envs(env)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0);
    // SAFETY: prctl(2) is async-signal-safe; between fork and exec it only asks the kernel
    // to kill the program when cifar-repro dies.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    command
}

/// Runs `argv` in `workdir` with `env` set over the inherited environment, stdout and
/// stderr into the two files, for at most `timeout`; `started` gets the process group's
/// id as soon as it exists (to record it). A program that cannot start is an I/O error.
pub fn run(
    argv: &[String],
    workdir: &Path,
    env: &BTreeMap<String, String>,
    (stdout, stderr): (File, File),
    timeout: Duration,
    started: &mut dyn FnMut(i32),
) -> std::io::Result<Result<Ended, Interrupted>> {
    if interrupted() {
        return Ok(Err(Interrupted));
    }
    let mut command = command(argv, workdir, env, (stdout, stderr));
    let clock = Instant::now();
    let guard = InterruptGuard::install();
    let mut child = command.spawn()?;
    let pgid = child.id() as i32;
    started(pgid);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if interrupted() || clock.elapsed() >= timeout {
            kill_group(pgid);
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    kill_group(pgid);
    drop(guard);
    let wall_seconds = clock.elapsed().as_secs_f64();
    Ok(match status {
        None if interrupted() => Err(Interrupted),
        None => Ok(Ended {
            exit_code: None,
            signal: Some(libc::SIGKILL),
            timed_out: true,
            wall_seconds,
        }),
        Some(status) => Ok(Ended {
            exit_code: status.code(),
            signal: status.signal(),
            timed_out: false,
            wall_seconds,
        }),
    })
}
