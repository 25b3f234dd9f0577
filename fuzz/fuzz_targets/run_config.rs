//! A run config (TOML) and an augmentation config: parsed and validated.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    if let Ok(text) = std::str::from_utf8(bytes) {
        if let Ok(config) = cifar_repro::train::TrainConfig::from_toml(text) {
            let _ = config.to_toml();
        }
        let _ = cifar_repro::augment::AugmentConfig::from_toml(text);
    }
});
