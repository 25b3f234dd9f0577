//! An `audit --results` CSV (byte-order marks, quoting, comments, any field count).
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = cifar_repro::audit::Results::parse(text, std::path::Path::new("fuzz.csv"));
    }
});
