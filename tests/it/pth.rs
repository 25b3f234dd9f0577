//! The `torch.save` reader against files torch 2.11 wrote (tests/fixtures/weights/
//! generate.py): every tensor's dtype, shape and bytes as torch recorded them; the legacy
//! format and hostile archives refused by name, never a panic.

use cifar_repro::hash::{sha256_hex, tensor_bytes};
use cifar_repro::pth::{PthError, read_state_dict};
use proptest::prelude::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use tch::Kind;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/weights")
        .join(name)
}

fn dtype(kind: Kind) -> &'static str {
    match kind {
        Kind::Float => "float32",
        Kind::Double => "float64",
        Kind::Half => "float16",
        Kind::BFloat16 => "bfloat16",
        Kind::Int64 => "int64",
        Kind::Int => "int32",
        Kind::Int16 => "int16",
        Kind::Int8 => "int8",
        Kind::Uint8 => "uint8",
        Kind::Bool => "bool",
        other => panic!("unexpected kind {other:?}"),
    }
}

/// Asserts that `file` reads as exactly what `digests.json` records under `recorded`.
fn assert_matches_torch(file: &str, recorded: &str) {
    let text = std::fs::read_to_string(fixture("digests.json")).unwrap();
    let digests: serde_json::Value = serde_json::from_str(&text).unwrap();
    let expected = digests[recorded].as_object().unwrap();
    let tensors = read_state_dict(&fixture(file)).unwrap();
    assert_eq!(tensors.len(), expected.len(), "{file}: tensor count");
    for (name, tensor) in &tensors {
        let want = &expected[name];
        assert_eq!(dtype(tensor.kind()), want["dtype"], "{file}: {name} dtype");
        let shape: Vec<i64> = serde_json::from_value(want["shape"].clone()).unwrap();
        assert_eq!(tensor.size(), shape, "{file}: {name} shape");
        assert_eq!(
            sha256_hex(&tensor_bytes(tensor)),
            want["sha256"],
            "{file}: {name} bytes"
        );
    }
}

#[test]
fn a_torchvision_state_dict_reads_byte_for_byte() {
    assert_matches_torch("resnet18-w8.pth", "resnet18-w8.pth");
}

#[test]
fn every_dtype_view_and_pickle_protocol_reads_byte_for_byte() {
    assert_matches_torch("views.pth", "views.pth");
    assert_matches_torch("views-protocol4.pth", "views.pth");
}

#[test]
fn the_legacy_format_is_refused_by_name() {
    let err = read_state_dict(&fixture("legacy.pth")).unwrap_err();
    assert!(matches!(err, PthError::Legacy(_)), "{err}");
    assert!(err.to_string().contains("before 1.6"), "{err}");
}

/// A zip archive at `path` holding `entries` (name, bytes), stored as torch stores them.
fn write_zip(path: &Path, entries: &[(&str, &[u8])]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let options =
        zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in entries {
        zip.start_file(*name, options).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap();
}

/// The pickle of views.pth, to damage.
fn views_pickle() -> Vec<u8> {
    let mut archive =
        zip::ZipArchive::new(std::fs::File::open(fixture("views.pth")).unwrap()).unwrap();
    let name = archive
        .file_names()
        .find(|n| n.ends_with("/data.pkl"))
        .unwrap()
        .to_owned();
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut archive.by_name(&name).unwrap(), &mut out).unwrap();
    out
}

fn read_pickle(dir: &Path, pickle: &[u8], storages: &[(&str, &[u8])]) -> Result<usize, String> {
    let path = dir.join("f.pth");
    let mut entries = vec![("f/data.pkl", pickle)];
    entries.extend(storages.iter().copied());
    write_zip(&path, &entries);
    read_state_dict(&path)
        .map(|t| t.len())
        .map_err(|e| e.to_string())
}

#[test]
fn hostile_pickles_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    // A callable a state dict never names.
    let evil = b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85R.";
    let err = read_pickle(dir.path(), evil, &[]).unwrap_err();
    assert!(
        err.contains("os.system") && err.contains("refusing"),
        "{err}"
    );
    // Cut short.
    let pickle = views_pickle();
    let err = read_pickle(dir.path(), &pickle[..pickle.len() / 2], &[]).unwrap_err();
    assert!(err.contains("ends early") || err.contains("byte"), "{err}");
    // A storage the archive lacks.
    let err = read_pickle(dir.path(), &pickle, &[]).unwrap_err();
    assert!(err.contains("has no f/data/"), "{err}");
    // Nested references 60 deep: each level doubles a naive copy; here it is one pointer.
    let mut laughs = b"\x80\x02]q\x00".to_vec();
    for i in 1..60u8 {
        laughs.extend([b'h', i - 1, b'h', i - 1, 0x86, b'q', i]);
    }
    laughs.push(b'.');
    let err = read_pickle(dir.path(), &laughs, &[]).unwrap_err();
    assert!(err.contains("not a state dict"), "{err}");
    // Not an archive.
    std::fs::write(dir.path().join("x.pth"), b"PK garbage").unwrap();
    let err = read_state_dict(&dir.path().join("x.pth")).unwrap_err();
    assert!(matches!(err, PthError::NotTorch { .. }), "{err}");
}

/// `{"w": _rebuild_tensor_v2(storage of 4 floats, offset, size (3,), stride (1,))}`.
fn view_pickle(offset: u8) -> Vec<u8> {
    let mut p = b"\x80\x02}q\x00X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v2\n(".to_vec();
    p.extend(b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000");
    p.extend(b"X\x03\x00\x00\x00cpuK\x04tQK");
    p.push(offset);
    p.extend(b"K\x03\x85K\x01\x85\x89}tRs.");
    p
}

#[test]
fn a_view_past_its_storage_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = [0u8; 16];
    let storage = [("f/data/0", &data[..])];
    let err = read_pickle(dir.path(), &view_pickle(2), &storage).unwrap_err();
    assert!(err.contains("reads past its storage"), "{err}");
    assert_eq!(read_pickle(dir.path(), &view_pickle(1), &storage), Ok(1));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any damage to a real pickle is an error or a state dict, never a panic.
    #[test]
    fn a_damaged_pickle_never_panics(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut pickle = views_pickle();
        for (at, byte) in flips {
            let n = pickle.len();
            pickle[at % n] = byte;
        }
        let _ = read_pickle(dir.path(), &pickle, &[]);
    }
}

#[test]
fn a_storage_that_inflates_past_its_bound_is_refused_before_inflating() {
    // torch.save({"w": torch.zeros(2**25)}) re-zipped deflated: 128 MiB in 130 kB.
    let err = read_state_dict(&fixture("bomb.pth"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("/data/0 inflates from") && err.contains("100-fold"),
        "{err}"
    );
}
