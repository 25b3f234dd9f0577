//! The numerics "poke" of a variance study's numerics arm on a CPU: one weight times
//! 1 + 1e-3 right after initialisation, the weight drawn from its own stream.

use crate::determinism::{SeedTree, stream_names};
use crate::manifest::Poke;
use tch::Tensor;

/// The factor a poke multiplies its weight by.
pub const POKE_FACTOR: f64 = 1.0 + 1e-3;

/// Multiplies one weight of `params`, drawn uniformly over all their elements from the
/// `poke` stream of `seed`, by [`POKE_FACTOR`]; returns which, or nothing when there are no weights.
pub fn poke(params: &[(String, Tensor)], seed: u64) -> Option<Poke> {
    let total: i64 = params.iter().map(|(_, p)| p.numel() as i64).sum();
    let mut stream = SeedTree::new(seed).stream(stream_names::POKE);
    let mut at = stream.below(total.max(1) as u64) as i64;
    let _guard = tch::no_grad_guard();
    for (name, p) in params {
        let n = p.numel() as i64;
        if at < n {
            let _ = p.flatten(0, -1).get(at).g_mul_scalar_(POKE_FACTOR);
            return Some(Poke {
                tensor: name.clone(),
                index: at,
                factor: POKE_FACTOR,
            });
        }
        at -= n;
    }
    None
}
