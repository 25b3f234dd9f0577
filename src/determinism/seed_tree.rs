//! The seed tree and its random streams.
//!
//! A stream's state is SHA-256(root seed, consumer name), so each consumer
//! (`init`, `order/epoch/3`, `augment/epoch/3/batch/17`, ...) draws from its own
//! sequence, and adding a consumer never shifts another's. The generator is
//! xoshiro256** (Blackman and Vigna): small, fast, and fully specified here, so the
//! numbers do not depend on a crate's version.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The sources of randomness a training run draws from, each a family of streams that a
/// variance study can vary on its own (`stream_names` names them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The initial weights (`init`).
    Init,
    /// Each epoch's data order (`order/...`).
    Order,
    /// Each batch's augmentation parameters (`augment/...`).
    Augment,
    /// Each batch's Mixup or CutMix (`mix/...`).
    Mix,
}

impl Source {
    /// Every source, in the order they are named.
    pub const ALL: [Source; 4] = [Source::Init, Source::Order, Source::Augment, Source::Mix];

    /// The source a stream belongs to, from its name's first part; none for the streams
    /// outside training (an audit's seeds, its bootstrap).
    pub fn of(name: &str) -> Option<Self> {
        match name.split('/').next() {
            Some("init") => Some(Source::Init),
            Some("order") => Some(Source::Order),
            Some("augment") => Some(Source::Augment),
            Some("mix") => Some(Source::Mix),
            _ => None,
        }
    }
}

/// Roots that replace the tree's for one source's streams (a variance study varies one
/// source while the others keep the run's root). All absent in a normal run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceRoots {
    /// The initial weights' root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<u64>,
    /// The data order's root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<u64>,
    /// The augmentation parameters' root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub augment: Option<u64>,
    /// Mixup's and CutMix's root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mix: Option<u64>,
}

impl SourceRoots {
    /// The root `source` draws from, when it has its own.
    pub fn get(&self, source: Source) -> Option<u64> {
        match source {
            Source::Init => self.init,
            Source::Order => self.order,
            Source::Augment => self.augment,
            Source::Mix => self.mix,
        }
    }

    /// These roots with `source`'s set to `root`.
    pub fn with(mut self, source: Source, root: u64) -> Self {
        let slot = match source {
            Source::Init => &mut self.init,
            Source::Order => &mut self.order,
            Source::Augment => &mut self.augment,
            Source::Mix => &mut self.mix,
        };
        *slot = Some(root);
        self
    }

    /// Whether no source has a root of its own.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// The root of all randomness in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedTree {
    /// The run's seed (`loop.seed`).
    pub root: u64,
    /// Roots of their own for some sources (a variance study); none in a normal run.
    #[serde(default, skip_serializing_if = "SourceRoots::is_empty")]
    pub sources: SourceRoots,
}

impl SeedTree {
    /// A tree with this root seed.
    pub fn new(root: u64) -> Self {
        Self {
            root,
            sources: SourceRoots::default(),
        }
    }

    /// A tree whose `sources` draw from roots of their own.
    pub fn with_sources(root: u64, sources: SourceRoots) -> Self {
        Self { root, sources }
    }

    /// The root the stream `name` draws from: its source's own, else the tree's.
    pub fn root_of(&self, name: &str) -> u64 {
        Source::of(name)
            .and_then(|s| self.sources.get(s))
            .unwrap_or(self.root)
    }

    /// The stream named `name`, e.g. `augment/epoch/3/batch/17`.
    pub fn stream(&self, name: &str) -> Stream {
        let mut hasher = Sha256::new();
        hasher.update(b"cifar-repro/seed-tree/v1\0");
        hasher.update(self.root_of(name).to_le_bytes());
        hasher.update(name.as_bytes());
        let digest = hasher.finalize();
        let mut state = [0u64; 4];
        for (word, chunk) in state.iter_mut().zip(digest.chunks_exact(8)) {
            *word = u64::from_le_bytes(chunk.try_into().expect("8-byte chunk"));
        }
        if state == [0; 4] {
            state[0] = 1; // the all-zero state is the generator's one fixed point
        }
        Stream { state }
    }

    /// A 63-bit seed for a consumer that takes a plain integer (libtorch's generator).
    pub fn seed(&self, name: &str) -> i64 {
        (self.stream(name).next_u64() >> 1) as i64
    }
}

/// One consumer's random sequence. Its whole position is its state, which can be saved
/// and restored exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stream {
    state: [u64; 4],
}

impl Stream {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.state;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1), 53 bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [low, high).
    pub fn uniform(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.unit()
    }

    /// Uniform integer in 0..n (unbiased; n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0)");
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let x = self.next_u64();
            if x < zone {
                return x % n;
            }
        }
    }

    /// True with probability p.
    pub fn bernoulli(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// A uniformly random permutation of 0..n (Fisher-Yates).
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut items: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
        items
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit(); // (0, 1]
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Gamma(shape, 1) by Marsaglia and Tsang, boosted for shape < 1.
    pub fn gamma(&mut self, shape: f64) -> f64 {
        if shape < 1.0 {
            let boost = self.unit().max(f64::MIN_POSITIVE).powf(1.0 / shape);
            return self.gamma(shape + 1.0) * boost;
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = (1.0 + c * x).powi(3);
            if v <= 0.0 {
                continue;
            }
            let u = self.unit();
            if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v;
            }
        }
    }

    /// Beta(a, b) as X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b).
    pub fn beta(&mut self, a: f64, b: f64) -> f64 {
        let x = self.gamma(a);
        let y = self.gamma(b);
        if x + y == 0.0 { 0.5 } else { x / (x + y) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_independent_of_each_other() {
        let tree = SeedTree::new(42);
        let a: Vec<u64> = (0..4)
            .map({
                let mut s = tree.stream("order/epoch/0");
                move |_| s.next_u64()
            })
            .collect();
        let mut again = tree.stream("order/epoch/0");
        assert_eq!(a, (0..4).map(|_| again.next_u64()).collect::<Vec<_>>());
        assert_ne!(a[0], tree.stream("order/epoch/1").next_u64());
        assert_ne!(a[0], SeedTree::new(43).stream("order/epoch/0").next_u64());
    }

    #[test]
    fn permutation_holds_every_index_once() {
        let mut p = SeedTree::new(7).stream("p").permutation(1000);
        p.sort_unstable();
        assert_eq!(p, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn beta_has_the_right_mean() {
        let mut s = SeedTree::new(1).stream("beta");
        let n = 20_000;
        let mean = (0..n).map(|_| s.beta(2.0, 6.0)).sum::<f64>() / n as f64;
        assert!((mean - 0.25).abs() < 0.01, "{mean}");
        let small = (0..n).map(|_| s.beta(0.2, 0.2)).sum::<f64>() / n as f64;
        assert!((small - 0.5).abs() < 0.02, "{small}");
    }

    #[test]
    fn below_is_roughly_uniform() {
        let mut s = SeedTree::new(3).stream("below");
        let mut counts = [0usize; 9];
        for _ in 0..90_000 {
            counts[s.below(9) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (9_400..10_600).contains(&c)),
            "{counts:?}"
        );
    }
}
