//! Kill-and-resume ends bit-identical to the run that was never interrupted; a damaged
//! checkpoint is refused and the previous one used.

use crate::common::{cli, golden_data, verify};
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
