//! Arbitrary bytes as a cifar-10-binary.tar.gz: every member read and checked, tensors built.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let _ = cifar_repro::data::Cifar10::from_archive(std::path::Path::new("fuzz.tar.gz"), bytes);
});
