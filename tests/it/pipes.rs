//! A closed stdout (`| head -1`, a pager quit early) never panics a command, and an audit
//! writes its three files before it prints, keeping its own exit status.

use crate::common::{cli_command, golden_data};
use std::process::Stdio;

/// Runs `args` with stdout closed before the command writes: (exit code, stderr).
fn with_stdout_closed(args: &[&str]) -> (Option<i32>, String) {
    let mut child = cli_command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn no_command_panics_on_a_closed_stdout() {
    let data = golden_data();
    let data = data.to_str().unwrap();
    let commands: [&[&str]; 6] = [
        &["presets"],
        &["env"],
        &["data", "info", data, "--json"],
        &["data", "verify", data, "--json"],
        &["weights", "list"],
        &["claims", "init"],
    ];
    for args in commands {
        let (code, stderr) = with_stdout_closed(args);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(matches!(code, Some(0 | 141)), "{args:?}: {code:?} {stderr}");
    }
}

#[test]
fn an_audit_with_its_stdout_closed_writes_its_files_and_keeps_its_status() {
    let dir = tempfile::tempdir().unwrap();
    let claims = dir.path().join("claims.toml");
    std::fs::write(
        &claims,
        "margin = 0.05\n\n[[claim]]\nid = \"off\"\nsentence = \"s\"\nrun = \"quickstart\"\nmetric = \"accuracy\"\nvalue = 0.9\n",
    )
    .unwrap();
    let csv = dir.path().join("r.csv");
    std::fs::write(
        &csv,
        "claim,seed,value\noff,1,0.30\noff,2,0.31\noff,3,0.29\n",
    )
    .unwrap();
    let out = dir.path().join("audit");
    let (code, stderr) = with_stdout_closed(&[
        "audit",
        claims.to_str().unwrap(),
        "--results",
        csv.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        code,
        Some(1),
        "NOT REPRODUCED, as with an open stdout: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    for file in ["audit.json", "audit.md", "audit.html"] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
}
