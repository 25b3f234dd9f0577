//! The name of every stream drawn from a seed tree, in one place. A run's manifest records
//! the patterns (`stream_names::recorded`), derived from these same functions.

use std::fmt::Display;

/// The model's initial weights (libtorch's generator is seeded from it).
pub const INIT: &str = "init";

/// The order of epoch `epoch`'s training images.
pub fn order(epoch: impl Display) -> String {
    format!("order/epoch/{epoch}")
}

/// The augmentation parameters of one batch.
pub fn augment(epoch: impl Display, batch: impl Display) -> String {
    format!("augment/epoch/{epoch}/batch/{batch}")
}

/// The Mixup or CutMix draw of one batch.
pub fn mix(epoch: impl Display, batch: impl Display) -> String {
    format!("mix/epoch/{epoch}/batch/{batch}")
}

/// Which weight a numerics "poke" multiplies (a variance study's numerics arm on a CPU).
pub const POKE: &str = "poke";

/// The seed of replicate `i` of a variance study's arm.
pub fn variance_seed(i: usize) -> String {
    format!("variance/seed/{i}")
}

/// The run seed of an audit's `i`-th seed.
pub fn audit_seed(i: usize) -> String {
    format!("audit/seed/{i}")
}

/// The bootstrap resamples of an audit's claim (its P(A>B) interval).
pub fn bootstrap(claim: &str) -> String {
    format!("audit/bootstrap/{claim}")
}

/// The streams a training run draws from, as its manifest records them (E: epoch, B: batch).
pub fn recorded() -> Vec<String> {
    vec![
        INIT.to_owned(),
        order("E"),
        augment("E", "B"),
        mix("E", "B"),
    ]
}
