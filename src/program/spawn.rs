//! Running a program: no shell, its own process group (killed whole on timeout, on
//! Ctrl-C, and once the program exits, so nothing it started lingers), stdout and stderr
//! into files or a pseudo-terminal, and the program killed if cifar-repro itself dies.
//!
//! A descendant that leaves the group (`setsid`, a daemon's double fork) is caught too:
//! cifar-repro is a child subreaper (`PR_SET_CHILD_SUBREAPER`), so every orphan of the
//! program becomes its child, and once the program ends every child started since the
//! program that is not another live program is killed and reaped ([`sweep_orphans`]).

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How a program ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ended {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub wall_seconds: f64,
    /// Bytes cut from the middle of its stdout and stderr logs ([`super::capture`]).
    pub output_cut: u64,
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

/// Field `n` (counted from 1, as proc(5) counts them, from the state, field 3) of
/// `/proc/PID/stat`.
fn stat_field(pid: i32, n: usize) -> Option<u64> {
    let stat = crate::fsutil::read_capped(Path::new(&format!("/proc/{pid}/stat")), 1 << 16).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(n - 3)?
        .parse()
        .ok()
}

/// When process `pid` started, in clock ticks since boot (field 22 of `/proc/PID/stat`).
pub fn start_ticks(pid: i32) -> Option<u64> {
    stat_field(pid, 22)
}

/// The programs running now (their pids), which a sweep leaves alone; held while one is
/// spawned, so a sweep never sees a program before it is listed.
static LIVE: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Makes this process the child subreaper of its descendants (once).
fn become_subreaper() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: prctl(2) with integer arguments only.
    ONCE.call_once(|| unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1);
    });
}

/// Kills and reaps every child of this process that started at or after `started` ticks
/// and is not a live program (`keep`): the orphans a program left behind, whatever
/// session or group they moved to. Their own children become this process's in turn,
/// so it repeats until none is left, for at most 100 rounds of 50 ms: it never blocks on
/// a child it may not signal or one stuck in the kernel (left as it is).
fn sweep_orphans(started: u64, keep: &[i32]) {
    // SAFETY: getpid(2) cannot fail.
    let me = u64::from(unsafe { libc::getpid() }.unsigned_abs());
    for round in 0..100 {
        if round > 0 {
            std::thread::sleep(Duration::from_millis(50));
        }
        let orphans: Vec<i32> = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
            .filter(|&pid| !keep.contains(&pid) && stat_field(pid, 4) == Some(me))
            .filter(|&pid| start_ticks(pid).is_some_and(|t| t >= started))
            .collect();
        if orphans.is_empty() {
            return;
        }
        for pid in orphans {
            // SAFETY: kill(2) and a non-blocking waitpid(2) on a child of this process.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG);
            }
        }
    }
}

/// Whether process group `pgid`, whose leader started at `started` ticks, still has a
/// member of that run: the leader itself (same start time), or, the leader gone, a member
/// started after it (Linux reuses no id while a group holds it, so while one of the run's
/// processes lives, the group id is the run's).
pub fn group_alive(pgid: i32, started: u64) -> bool {
    if pgid <= 0 {
        return false;
    }
    if let Some(leader) = start_ticks(pgid) {
        return leader == started;
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        let pid = entry.file_name().to_string_lossy().parse::<i32>().ok();
        pid.and_then(|p| stat_field(p, 5)) == Some(u64::from(pgid.unsigned_abs()))
            && pid.and_then(start_ticks).is_some_and(|t| t >= started)
    })
}

/// Where a program's output goes: two logs, or one pseudo-terminal whose output is
/// copied into the first; each is kept to a cap ([`super::capture`]).
pub enum Output {
    /// stdout and stderr through pipes into their logs; stdin closed.
    Files(File, File),
    /// stdin, stdout and stderr on a pseudo-terminal of 24 rows and 80 columns, its output
    /// copied into the file.
    Terminal(File),
}

/// The command for `argv`: in `cwd`, `env` over the inherited environment (less the
/// variables in `unset`), a process group of its own, killed if cifar-repro dies.
fn command(argv: &[String], cwd: &Path, env: &BTreeMap<String, String>, unset: &[&str]) -> Command {
    let mut command = Command::new(&argv[0]);
    command.args(&argv[1..]).current_dir(cwd).envs(env);
    for name in unset {
        command.env_remove(name);
    }
    command
}

/// A pipe: (the end cifar-repro reads, the end the program writes).
fn pipe() -> std::io::Result<(File, std::io::PipeWriter)> {
    let (reader, writer) = std::io::pipe()?;
    Ok((File::from(std::os::fd::OwnedFd::from(reader)), writer))
}

/// Sets the command's standard streams and returns what to copy into which log: two
/// pipes, or a terminal's controlling side; for a terminal, makes the program a session
/// leader with the terminal as its controlling one (a session leader leads its own
/// process group too).
fn connect(command: &mut Command, output: Output) -> std::io::Result<Vec<(File, File)>> {
    match output {
        Output::Files(stdout, stderr) => {
            let (out_source, out_sink) = pipe()?;
            let (err_source, err_sink) = pipe()?;
            command
                .stdin(Stdio::null())
                .stdout(out_sink)
                .stderr(err_sink)
                .process_group(0);
            // SAFETY: prctl(2) is async-signal-safe; between fork and exec it only asks the
            // kernel to kill the program when cifar-repro dies.
            unsafe {
                command.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
            Ok(vec![(out_source, stdout), (err_source, stderr)])
        }
        Output::Terminal(log) => {
            let (master, slave) = super::terminal::open()?;
            command
                .stdin(slave.try_clone()?)
                .stdout(slave.try_clone()?)
                .stderr(slave);
            // SAFETY: setsid(2), ioctl(2) and prctl(2) are async-signal-safe; between fork
            // and exec they start a session whose controlling terminal is the program's stdin.
            unsafe {
                command.pre_exec(|| {
                    if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
            Ok(vec![(master, log)])
        }
    }
}

/// Spawns `command` (then dropped, closing the program's ends of its pipes) and lists
/// it as live, both under the lock a sweep takes.
fn spawn_listed(mut command: Command) -> std::io::Result<std::process::Child> {
    let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    let child = command.spawn()?;
    live.push(child.id() as i32);
    Ok(child)
}

/// Once the program led by `pgid` has ended: kills what is left of its group, then every
/// orphan it left (started at or after `leader_start`).
fn end_all(pgid: i32, leader_start: Option<u64>) {
    kill_group(pgid);
    let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    live.retain(|&p| p != pgid);
    if let Some(started) = leader_start {
        sweep_orphans(started, &live);
    }
}

/// Runs `argv` in `cwd` with `env` set over the inherited environment (less `unset`),
/// its output as `output` says, for at most `timeout`; `started` gets the process group's
/// id and its leader's start time as soon as they exist (to record them). A program that
/// cannot start is an I/O error.
pub fn run(
    argv: &[String],
    (cwd, env, unset): (&Path, &BTreeMap<String, String>, &[&str]),
    output: Output,
    timeout: Duration,
    started: &mut dyn FnMut(i32, Option<u64>),
) -> std::io::Result<Result<Ended, Interrupted>> {
    if interrupted() {
        return Ok(Err(Interrupted));
    }
    let mut command = command(argv, cwd, env, unset);
    let streams = connect(&mut command, output)?;
    let clock = Instant::now();
    let guard = InterruptGuard::install();
    become_subreaper();
    let mut child = spawn_listed(command)?;
    let copiers: Vec<_> = streams
        .into_iter()
        .map(|(source, log)| super::capture::copy(source, log))
        .collect();
    let pgid = child.id() as i32;
    let leader_start = start_ticks(pgid);
    started(pgid, leader_start);
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
    end_all(pgid, leader_start);
    let mut output_cut = 0;
    for copier in copiers {
        output_cut += copier.finish()?;
    }
    drop(guard);
    let wall_seconds = clock.elapsed().as_secs_f64();
    Ok(match status {
        None if interrupted() => Err(Interrupted),
        None => Ok(Ended {
            exit_code: None,
            signal: Some(libc::SIGKILL),
            timed_out: true,
            wall_seconds,
            output_cut,
        }),
        Some(status) => Ok(Ended {
            exit_code: status.code(),
            signal: status.signal(),
            timed_out: false,
            wall_seconds,
            output_cut,
        }),
    })
}
