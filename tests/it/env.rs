//! `cifar-repro env` and REQUIRE_CUDA.

use crate::common::{assert_one_line_error, cli};
use std::process::Command;

#[test]
fn env_reports_the_pinned_libtorch() {
    let out = cli(&["env", "--json"]);
    assert!(out.status.success());
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["libtorch_version"], "2.11.0");
    assert_eq!(info["crate_version"], env!("CARGO_PKG_VERSION"));
    assert!(info["threads"].as_i64().unwrap() >= 1);
}

#[test]
fn require_cuda_fails_loudly_without_cuda() {
    let out = Command::new(env!("CARGO_BIN_EXE_cifar-repro"))
        .arg("env")
        .env("REQUIRE_CUDA", "1")
        .output()
        .unwrap();
    if tch::Cuda::is_available() {
        assert!(out.status.success());
    } else {
        assert_one_line_error(&out, &["CUDA is required", "REQUIRE_CUDA=1"]);
    }
}
