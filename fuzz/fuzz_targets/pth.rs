//! A `.pth` file read as `weights init`, `--checkpoint` and a runner's `pth` metrics read
//! it. The input is either a whole file (seeds: tests/fixtures/weights/*.pth) or, when it
//! is not a zip archive, a pickle placed as `f/data.pkl` of a stored archive, so that the
//! fuzzer reaches the pickle machine's nesting, memo and container limits directly.
#![no_main]

use std::io::Write;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("f.pth");
    if bytes.starts_with(b"PK") {
        std::fs::write(&path, bytes).expect("write");
    } else {
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).expect("create"));
        let stored = zip::write::FileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        zip.start_file("f/data.pkl", stored).expect("entry");
        zip.write_all(bytes).expect("write");
        zip.finish().expect("finish");
    }
    let _ = cifar_repro::pth::read_state_dict(&path);
    let _ = cifar_repro::pth::read_number(&path, "acc");
});
