//! Crash safety. Kill-and-resume ends bit-identical to the run that was never interrupted;
//! a damaged checkpoint is refused and the previous one used; SIGKILL at random moments
//! and just before each atomic rename (`CIFAR_REPRO_KILL_BEFORE_RENAME`) leaves no file
//! half-written.

use crate::common::{cli, golden_data, killed_before_rename, verify};
use cifar_repro::config::TrainConfig;
use cifar_repro::determinism::SeedTree;
use cifar_repro::run_dir::{Checkpoint, RunDir};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn train_args(out: &Path) -> Vec<String> {
    let data = golden_data();
    let args = [
        "train",
        "--config",
        "quickstart",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--epochs",
        "3",
        "--train-limit",
        "320",
        "--batch-size",
        "32",
        "--threads",
        "1",
    ];
    args.iter().map(|s| s.to_string()).collect()
}

fn verify_identical(a: &Path, b: &Path) -> String {
    let (identical, text) = verify(a, b);
    assert!(identical, "{text}");
    text
}

fn resume(run: &Path) -> String {
    let out = cli(&["train", "--resume", run.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    stderr
}

#[test]
fn killed_mid_epoch_then_resumed_equals_uninterrupted_and_damaged_checkpoints_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (straight, killed) = (dir.path().join("straight"), dir.path().join("killed"));
    let args = train_args(&straight);
    let out = cli(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut child = Command::new(env!("CARGO_BIN_EXE_cifar-repro"))
        .args(train_args(&killed))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let first = killed.join("checkpoints/epoch-0001/state.json");
    let started = Instant::now();
    while !first.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no checkpoint appeared"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300)); // into epoch 2
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let manifest = std::fs::read_to_string(killed.join("manifest.json")).unwrap();
    assert!(
        manifest.contains("\"running\""),
        "the run finished before it was killed; the test proves nothing"
    );

    let notes = resume(&killed);
    assert!(notes.contains("resuming after epoch"), "{notes}");
    assert!(verify_identical(&straight, &killed).starts_with("identical: 3 epochs"));

    // Damage the newest checkpoint: it is refused and the one before it is used.
    let newest = killed.join("checkpoints/epoch-0003/model.safetensors");
    let mut bytes = std::fs::read(&newest).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&newest, bytes).unwrap();
    let notes = resume(&killed);
    assert!(
        notes.contains("refusing checkpoint") && notes.contains("fails its SHA-256 check"),
        "{notes}"
    );
    assert!(notes.contains("resuming after epoch 2"), "{notes}");
    assert!(verify_identical(&straight, &killed).starts_with("identical: 3 epochs"));
}

/// Every file a reader can see in `run` is whole: the manifest passes its checks (digest,
/// config, metrics), the config parses, metrics.jsonl is whole lines of JSON, every visible
/// checkpoint passes its hash check.
fn assert_whole(run: &Path) {
    if run.join("manifest.json").exists() {
        RunDir::open(run).manifest().unwrap();
    }
    if let Ok(text) = std::fs::read_to_string(run.join("config.toml")) {
        TrainConfig::from_toml(&text).unwrap();
    }
    if let Ok(text) = std::fs::read_to_string(run.join("metrics.jsonl")) {
        assert!(
            text.is_empty() || text.ends_with('\n'),
            "half a line: {text}"
        );
        for line in text.lines() {
            serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
    }
    for entry in std::fs::read_dir(run.join("checkpoints"))
        .into_iter()
        .flatten()
    {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with('.') {
            Checkpoint::open(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}

fn leftovers(run: &Path) -> Vec<String> {
    [run.to_owned(), run.join("checkpoints")]
        .iter()
        .flat_map(|dir| std::fs::read_dir(dir).into_iter().flatten())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| cifar_repro::fsutil::is_leftover(name))
        .collect()
}

/// Carries a killed run on: `train --resume` once it has written its config (from any
/// point: a checkpoint, or the start), else the plain command again.
fn carry_on(run: &Path, kill_after: Option<Duration>) {
    let mut args = train_args(run);
    if run.join("config.toml").exists() {
        args = vec!["train".into(), "--resume".into(), run.display().to_string()];
    } else if run.exists() {
        args.push("--overwrite".into());
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_cifar-repro"))
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    match kill_after {
        Some(delay) => {
            std::thread::sleep(delay);
            child.kill().unwrap(); // SIGKILL (a no-op if it already finished)
            child.wait().unwrap();
        }
        None => assert!(child.wait().unwrap().success(), "{args:?} failed"),
    }
}

#[test]
fn sigkill_at_random_moments_leaves_whole_files_and_resumes_identical() {
    let dir = tempfile::tempdir().unwrap();
    let (straight, killed) = (dir.path().join("straight"), dir.path().join("killed"));
    carry_on(&straight, None);
    // Moments drawn from a seeded stream: random, and the same on every run of the test.
    let mut moments = SeedTree::new(2026).stream("test/kill-moments");
    for _ in 0..4 {
        carry_on(
            &killed,
            Some(Duration::from_secs_f64(moments.uniform(0.2, 3.0))),
        );
        assert_whole(&killed);
    }
    carry_on(&killed, None);
    assert!(leftovers(&killed).is_empty(), "{:?}", leftovers(&killed));
    verify_identical(&straight, &killed);
}

#[test]
fn sigkill_just_before_each_atomic_rename_leaves_whole_files_and_resumes_identical() {
    let dir = tempfile::tempdir().unwrap();
    let straight = dir.path().join("straight");
    carry_on(&straight, None);
    // The manifest's 1st write is before any step, its 2nd and 3rd follow epochs 1 and 2;
    // metrics.jsonl's 1st and 2nd, epochs 1 and 2; epoch-0001 and epoch-0002 are their
    // checkpoints; the marker and config.toml are the first files a run writes. Those
    // before epoch-0001 are kills before the first checkpoint.
    for point in [
        ".cifar-repro",
        "config.toml",
        "manifest.json@1",
        "metrics.jsonl@1",
        "manifest.json@2",
        "epoch-0001",
        "manifest.json@3",
        "metrics.jsonl@2",
        "epoch-0002",
    ] {
        let run = dir.path().join(point.replace(['@', '.'], "-"));
        killed_before_rename(&train_args(&run), point);
        assert_whole(&run);
        carry_on(&run, None);
        assert!(leftovers(&run).is_empty(), "{point}: {:?}", leftovers(&run));
        verify_identical(&straight, &run);
    }
}
