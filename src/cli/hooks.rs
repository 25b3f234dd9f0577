//! The test hooks, read from the environment here and nowhere in the library
//! (docs/development.md, "Test hooks"). None is set in normal use.

use cifar_repro::determinism::numerics::DIGEST_OVERRIDE_ENV;
use cifar_repro::train::Hooks;

/// Installs the process-wide kill point of `CIFAR_REPRO_KILL_BEFORE_RENAME=NAME@K`
/// (K defaults to 1). Call it once, first thing.
pub fn install_kill_point() {
    let Ok(spec) = std::env::var("CIFAR_REPRO_KILL_BEFORE_RENAME") else {
        return;
    };
    let (name, nth) = spec
        .split_once('@')
        .map_or((spec.as_str(), 1), |(n, k)| (n, k.parse().unwrap_or(1)));
    cifar_repro::fsutil::install_kill_point(name, nth);
}

/// The training hooks: `CIFAR_REPRO_NUDGE_AFTER_STEP=k` and the fake numerics digest.
pub fn training() -> Hooks {
    Hooks {
        nudge_after_step: std::env::var("CIFAR_REPRO_NUDGE_AFTER_STEP")
            .ok()
            .and_then(|s| s.parse().ok()),
        numerics_digest: std::env::var(DIGEST_OVERRIDE_ENV).ok(),
    }
}
