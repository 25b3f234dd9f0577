//! A CIFAR-10 batch file's bytes and a batches.meta.txt: errors are fine, panics are not.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let _ = cifar_repro::data::class_counts("fuzz.bin", bytes);
    let _ = cifar_repro::data::class_names("fuzz.txt", bytes);
});
