//! The crate's two guards on the file system, each the only path: files are opened for
//! reading through `fsutil::open_file` (regular files only, refused by what they are
//! before anything blocks) and created through `fsutil`'s writers.

use crate::common::{cli_command, golden_data};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
    found
}

/// The ways to open a file that bypass `fsutil`.
const RAW: [&str; 8] = [
    "File::open(",
    "File::create(",
    "fs::read(",
    "fs::read_to_string(",
    "fs::write(",
    "OpenOptions::new(",
    "File::options(",
    "fs::copy(",
];

#[test]
fn only_fsutil_opens_reads_or_creates_files() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut raw = Vec::new();
    for path in rust_files(&src) {
        if path.ends_with("fsutil.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        for (n, line) in code.lines().enumerate() {
            if RAW.iter().any(|p| line.contains(p)) {
                raw.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        raw.is_empty(),
        "raw file access outside fsutil:\n{}",
        raw.join("\n")
    );
}

/// Runs `args` in `dir` and returns what it printed, failing if it takes 20 s (a reader
/// blocked on a FIFO never returns).
fn ends_quickly(args: &[&str], dir: &Path) -> String {
    let mut child = cli_command(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("{args:?} hung on a FIFO");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

fn fifo(path: &Path) {
    let name = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid C string.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
}

const RUNNER: &str = r#"
[runners.r]
command = ["python3", "-c", "pass", "{seed}"]
inputs = ["input.bin"]
metrics = { file = "{out}/m.json", accuracy = "acc" }

[[claim]]
id = "r"
sentence = "s"
run = "runner:r"
metric = "accuracy"
value = 0.5
"#;

#[test]
fn a_fifo_is_refused_by_every_reader_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = golden_data();
    let data = data.to_str().unwrap();
    for name in ["pipe.toml", "pipe.csv", "pipe.pth", "input.bin"] {
        fifo(&d.join(name));
    }
    std::fs::create_dir(d.join("run")).unwrap();
    fifo(&d.join("run/manifest.json"));
    std::fs::write(
        d.join("claims.toml"),
        "seed = 1\nmargin = 0.1\n".to_owned() + RUNNER,
    )
    .unwrap();
    let cases: [&[&str]; 6] = [
        &[
            "train",
            "--config",
            "pipe.toml",
            "--data",
            data,
            "--out",
            "out",
        ],
        &["audit", "pipe.toml", "--plan"],
        &["audit", "claims.toml", "--results", "pipe.csv"],
        &["eval", "--run", "run"],
        &[
            "eval",
            "--checkpoint",
            "pipe.pth",
            "--config",
            "quickstart",
            "--data",
            data,
        ],
        &["audit", "claims.toml", "--plan", "--allow-commands"],
    ];
    for args in cases {
        let printed = ends_quickly(args, d);
        assert!(printed.contains("FIFO (named pipe)"), "{args:?}: {printed}");
    }
    assert!(!d.join("out").exists());
}
