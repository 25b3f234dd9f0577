//! `data fetch` against a local HTTP server on 127.0.0.1 (no other network).

use crate::common::{ALL_FILES, assert_one_line_error, cli, copy_golden, pack_tar_gz, serve};
use std::net::TcpListener;

fn small_archive(dir: &std::path::Path) -> Vec<u8> {
    let folder = copy_golden(dir);
    let archive = dir.join("built.tar.gz");
    pack_tar_gz(&folder, &archive, &ALL_FILES);
    std::fs::read(archive).unwrap()
}

#[test]
fn fetch_streams_checks_md5_and_renames_into_place() {
    let dir = tempfile::tempdir().unwrap();
    let body = small_archive(dir.path());
    let md5 = cifar_repro::data::md5_file(&dir.path().join("built.tar.gz")).unwrap();
    let url = serve(body.clone(), 1, "cifar-10-binary.tar.gz");
    let dest = dir.path().join("dest");
    let out = cli(&[
        "data",
        "fetch",
        "--url",
        &url,
        "--md5",
        &md5,
        "--dest",
        dest.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fetched = dest.join("cifar-10-binary.tar.gz");
    assert_eq!(std::fs::read(&fetched).unwrap(), body);
    assert_eq!(
        std::fs::read_dir(&dest).unwrap().count(),
        1,
        "no partial file left"
    );
    let verify = cli(&["data", "verify", fetched.to_str().unwrap(), "--md5", &md5]);
    assert!(verify.status.success());
}

#[test]
fn fetch_with_a_wrong_md5_keeps_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = serve(small_archive(dir.path()), 1, "cifar-10-binary.tar.gz");
    let dest = dir.path().join("dest");
    let wrong = "f".repeat(32);
    let out = cli(&[
        "data",
        "fetch",
        "--url",
        &url,
        "--md5",
        &wrong,
        "--dest",
        dest.to_str().unwrap(),
    ]);
    assert_one_line_error(
        &out,
        &["MD5", "differs from the pinned", "nothing was kept"],
    );
    assert_eq!(std::fs::read_dir(&dest).unwrap().count(), 0);
}

#[test]
fn fetch_from_a_closed_port_fails_in_one_line() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}/x.tar.gz");
    let out = cli(&[
        "data",
        "fetch",
        "--url",
        &url,
        "--dest",
        dir.path().to_str().unwrap(),
    ]);
    assert_one_line_error(&out, &["download of", "failed"]);
}

#[test]
fn fetch_never_replaces_a_file_it_did_not_download() {
    let dir = tempfile::tempdir().unwrap();
    let body = small_archive(dir.path());
    let md5 = cifar_repro::data::md5_file(&dir.path().join("built.tar.gz")).unwrap();
    let dest = dir.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    let mine = dest.join("cifar-10-binary.tar.gz");
    std::fs::write(&mine, b"my own notes").unwrap();
    let url = serve(body, 1, "cifar-10-binary.tar.gz");
    let args = ["data", "fetch", "--url", &url, "--md5", &md5, "--dest"];
    let out = cli(&[&args[..], &[dest.to_str().unwrap()]].concat());
    assert_one_line_error(
        &out,
        &["exists and is not the pinned file", "never replaces"],
    );
    assert_eq!(std::fs::read(&mine).unwrap(), b"my own notes");
}
