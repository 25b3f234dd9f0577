//! Bad data sources: each gives a non-zero exit and one line naming the file and the problem.

use crate::common::{ALL_FILES, assert_one_line_error, cli, copy_golden, pack_tar_gz};
use std::path::Path;

fn verify(path: &Path) -> std::process::Output {
    cli(&["data", "verify", path.to_str().unwrap()])
}

#[test]
fn size_not_a_multiple_of_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let folder = copy_golden(dir.path());
    let file = folder.join("data_batch_3.bin");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.truncate(bytes.len() - 100);
    std::fs::write(&file, bytes).unwrap();
    assert_one_line_error(
        &verify(dir.path()),
        &["data_batch_3.bin", "3,073-byte records"],
    );
}

#[test]
fn label_above_nine() {
    let dir = tempfile::tempdir().unwrap();
    let folder = copy_golden(dir.path());
    let file = folder.join("test_batch.bin");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[7 * 3073] = 12;
    std::fs::write(&file, bytes).unwrap();
    assert_one_line_error(
        &verify(dir.path()),
        &["test_batch.bin", "record 7", "label 12"],
    );
}

#[test]
fn missing_batch_file() {
    let dir = tempfile::tempdir().unwrap();
    let folder = copy_golden(dir.path());
    std::fs::remove_file(folder.join("data_batch_4.bin")).unwrap();
    assert_one_line_error(&verify(dir.path()), &["data_batch_4.bin", "missing"]);
}

#[test]
fn empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let folder = copy_golden(dir.path());
    std::fs::write(folder.join("data_batch_1.bin"), b"").unwrap();
    assert_one_line_error(&verify(dir.path()), &["data_batch_1.bin", "empty"]);
}

#[test]
fn cut_archive() {
    let dir = tempfile::tempdir().unwrap();
    let folder = copy_golden(dir.path());
    let archive = dir.path().join("cut.tar.gz");
    pack_tar_gz(&folder, &archive, &ALL_FILES);
    let bytes = std::fs::read(&archive).unwrap();
    std::fs::write(&archive, &bytes[..bytes.len() / 2]).unwrap();
    assert_one_line_error(&verify(&archive), &["cut.tar.gz", "cut or corrupt"]);
}

#[test]
fn corrupt_archive() {
    let dir = tempfile::tempdir().unwrap();
    let folder = copy_golden(dir.path());
    let archive = dir.path().join("corrupt.tar.gz");
    pack_tar_gz(&folder, &archive, &ALL_FILES);
    let mut bytes = std::fs::read(&archive).unwrap();
    let middle = bytes.len() / 2;
    for b in &mut bytes[middle..middle + 64] {
        *b ^= 0x5a;
    }
    std::fs::write(&archive, bytes).unwrap();
    assert_one_line_error(&verify(&archive), &["corrupt.tar.gz", "cut or corrupt"]);
}

#[test]
fn archive_without_the_expected_members() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("notes.txt"), b"not cifar").unwrap();
    let archive = dir.path().join("other.tar.gz");
    pack_tar_gz(&other, &archive, &["notes.txt"]);
    assert_one_line_error(&verify(&archive), &["other.tar.gz", "holds no data_batch"]);
}

#[test]
fn archive_missing_one_member() {
    let dir = tempfile::tempdir().unwrap();
    let folder = copy_golden(dir.path());
    let archive = dir.path().join("partial.tar.gz");
    pack_tar_gz(&folder, &archive, &ALL_FILES[..6]);
    assert_one_line_error(
        &verify(&archive),
        &["partial.tar.gz", "batches.meta.txt", "missing"],
    );
}

#[test]
fn path_that_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    assert_one_line_error(&verify(&missing), &["nowhere", "no such file"]);
}

#[test]
fn directory_of_something_else() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("photo.jpg"), b"jpeg").unwrap();
    assert_one_line_error(&verify(dir.path()), &["not CIFAR-10 binary data"]);
}

#[test]
fn info_fails_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    let folder = copy_golden(dir.path());
    std::fs::write(folder.join("batches.meta.txt"), b"cat\ndog\n").unwrap();
    let out = cli(&["data", "info", dir.path().to_str().unwrap()]);
    assert_one_line_error(&out, &["batches.meta.txt", "2 class names, expected 10"]);
}

#[test]
fn a_class_name_too_long_or_with_a_control_character() {
    let dir = tempfile::tempdir().unwrap();
    let folder = copy_golden(dir.path());
    let meta = folder.join("batches.meta.txt");
    let names = std::fs::read_to_string(&meta).unwrap();
    for (edit, needle) in [
        (
            "x".repeat(20_000_000),
            "class name 1 is 20000000 characters long; at most 64",
        ),
        (
            "air\u{1b}[2Jplane".to_owned(),
            "class name 1 holds a control character",
        ),
    ] {
        let mut lines: Vec<String> = names.lines().map(str::to_owned).collect();
        lines[0] = edit;
        std::fs::write(&meta, lines.join("\n")).unwrap();
        assert_one_line_error(&verify(dir.path()), &["batches.meta.txt", needle]);
    }
}
