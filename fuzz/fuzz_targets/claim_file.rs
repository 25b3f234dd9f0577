//! A claim file: parsed, and every claim's run resolved to a config.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    if let Ok(text) = std::str::from_utf8(bytes)
        && let Ok(file) = cifar_repro::audit::ParsedFile::parse(text)
    {
        for claim in file.claims.iter().flatten() {
            let _ = claim.run.resolve(std::path::Path::new("."));
        }
    }
});
