//! `weights fetch` against a local HTTP server on 127.0.0.1 (no other network), with the
//! small torchvision-named fixture standing in for the ImageNet file.

use crate::common::{assert_one_line_error, cli, serve};
use std::path::Path;

fn fixture() -> (Vec<u8>, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/weights/resnet18-w8.pth");
    let sha256 = cifar_repro::hash::sha256_file(&path).unwrap();
    (std::fs::read(path).unwrap(), sha256)
}

#[test]
fn fetch_checks_the_whole_digest_and_keeps_a_good_file() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("weights");
    let (body, sha256) = fixture();
    let url = serve(body.clone(), 1, "resnet18-f37072fd.pth");
    let args = |url: &str| {
        let mut args = vec!["weights", "fetch", "resnet18", "--url", url];
        args.extend(["--sha256", &sha256, "--dest", dest.to_str().unwrap()]);
        cli(&args)
    };
    let out = args(&url);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("downloaded") && stdout.contains(&sha256),
        "{stdout}"
    );
    let file = dest.join("resnet18-f37072fd.pth");
    assert_eq!(std::fs::read(&file).unwrap(), body);

    // The server has stopped: a second fetch must find the file and not touch the network.
    let again = args(&url);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("already there"));
}

#[test]
fn a_file_off_torchvisions_pin_is_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("weights");
    let url = serve(fixture().0, 1, "resnet18-f37072fd.pth");
    let out = cli(&[
        "weights",
        "fetch",
        "resnet18",
        "--url",
        &url,
        "--dest",
        dest.to_str().unwrap(),
    ]);
    assert_one_line_error(&out, &["f37072fd", "nothing was kept"]);
    assert_eq!(std::fs::read_dir(&dest).unwrap().count(), 0);
}

#[test]
fn unknown_name_and_bad_digest_are_refused() {
    let out = cli(&["weights", "fetch", "resnet99"]);
    assert_one_line_error(&out, &["resnet99", "resnet50, resnet50-v1, resnet18"]);
    let out = cli(&["weights", "fetch", "resnet50", "--sha256", "abc"]);
    assert_one_line_error(&out, &["--sha256", "64 hex digits"]);
}
