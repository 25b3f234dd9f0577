//! A run config (TOML) and an augmentation config: parsed, validated (every range) and
//! sized. Run with `-malloc_limit_mb=64` to hold it to bounded allocation as well.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    if let Ok(text) = std::str::from_utf8(bytes) {
        if let Ok(config) = cifar_repro::config::TrainConfig::from_toml(text) {
            let _ = config.to_toml();
            let _ = config.estimated_training_bytes();
        }
        let _ = cifar_repro::augment::AugmentConfig::from_toml(text);
    }
});
