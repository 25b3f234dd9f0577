//! Loading the vendored slice from a folder and from a `.tar.gz`.

use crate::common::{ALL_FILES, cli, copy_golden, golden_data, pack_tar_gz};
use cifar_repro::data::{Cifar10, RECORD_BYTES, SourceKind};
use tch::{Kind, Tensor};

#[test]
fn folder_loads_every_record_in_file_order() {
    let set = Cifar10::load(&golden_data()).unwrap();
    assert_eq!(set.kind, SourceKind::Folder);
    assert_eq!((set.train.len(), set.test.len()), (1500, 300));
    assert!(!set.is_full());
    assert_eq!(set.train.images.size(), [1500, 3, 32, 32]);
    assert_eq!(set.train.images.kind(), Kind::Uint8);
    assert_eq!(set.test.labels.kind(), Kind::Int64);
    assert_eq!(set.classes[0], "airplane");
    assert_eq!(set.classes[9], "truck");

    // Record 301 of the train split is the 2nd record of data_batch_2.bin.
    let bytes = std::fs::read(golden_data().join("cifar-10-batches-bin/data_batch_2.bin")).unwrap();
    let record = &bytes[RECORD_BYTES..2 * RECORD_BYTES];
    assert_eq!(set.train.labels.int64_value(&[301]), record[0] as i64);
    let image = Vec::<u8>::try_from(set.train.images.get(301).flatten(0, -1)).unwrap();
    assert_eq!(image, &record[1..]);
}

#[test]
fn file_summaries_match_the_published_checksums() {
    let set = Cifar10::load(&golden_data()).unwrap();
    let sums = std::fs::read_to_string(golden_data().join("SHA256SUMS")).unwrap();
    assert_eq!(set.files.len(), 7);
    for file in &set.files {
        let line = sums.lines().find(|l| l.ends_with(&file.name)).unwrap();
        assert!(line.starts_with(&file.sha256), "{} differs", file.name);
    }
    let counted: usize = set
        .files
        .iter()
        .filter_map(|f| f.class_counts)
        .flatten()
        .sum();
    assert_eq!(counted, 1800);
}

#[test]
fn archive_gives_the_same_tensors_as_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let folder = copy_golden(dir.path());
    let archive = dir.path().join("sample.tar.gz");
    pack_tar_gz(&folder, &archive, &ALL_FILES);
    let from_folder = Cifar10::load(&golden_data()).unwrap();
    let from_archive = Cifar10::load(&archive).unwrap();
    assert_eq!(from_archive.kind, SourceKind::Archive);
    let same = |a: &Tensor, b: &Tensor| a.equal(b);
    assert!(same(&from_folder.train.images, &from_archive.train.images));
    assert!(same(&from_folder.train.labels, &from_archive.train.labels));
    assert!(same(&from_folder.test.images, &from_archive.test.images));
    assert_eq!(from_folder.files, from_archive.files);
}

#[test]
fn verify_prints_digests_counts_and_a_sample_notice() {
    let out = cli(&["data", "verify", golden_data().to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("e7790ef290c14fc5ef1167cf768ca9e8fac56eb209370f2cf0bdc359d49c4983"));
    assert!(stdout.contains("train 1500 + test 300 records: a sample"));
    assert!(stdout.contains("OK"));
}

#[test]
fn verify_of_an_archive_reports_its_md5_and_checks_a_required_one() {
    let dir = tempfile::tempdir().unwrap();
    let folder = copy_golden(dir.path());
    let archive = dir.path().join("sample.tar.gz");
    pack_tar_gz(&folder, &archive, &ALL_FILES);
    let md5 = cifar_repro::data::md5_file(&archive).unwrap();
    let path = archive.to_str().unwrap();

    let out = cli(&["data", "verify", path, "--json"]);
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["archive_md5"], md5.as_str());
    assert_eq!(report["train_records"], 1500);

    let wrong = "0".repeat(32);
    let out = cli(&["data", "verify", path, "--md5", &wrong]);
    crate::common::assert_one_line_error(&out, &["sample.tar.gz", "MD5", &md5]);
}

#[test]
fn info_reports_classes_and_channel_statistics() {
    let out = cli(&["data", "info", golden_data().to_str().unwrap(), "--json"]);
    assert!(out.status.success());
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let counts: Vec<i64> = serde_json::from_value(info["train_class_counts"].clone()).unwrap();
    assert_eq!(counts.iter().sum::<i64>(), 1500);
    let mean: Vec<f64> = serde_json::from_value(info["train_channel_mean"].clone()).unwrap();
    assert!(mean.iter().all(|m| (0.3..0.6).contains(m)), "{mean:?}");
}
