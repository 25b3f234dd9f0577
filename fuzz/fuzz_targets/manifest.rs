//! A manifest's JSON, read as every reader reads it (parsed, its digest checked).
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = cifar_repro::manifest::Manifest::from_sealed_json(text);
    }
});
