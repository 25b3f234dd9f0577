//! The determinism layer: every source of randomness is a named stream derived from one
//! root seed.

mod stream;

pub use stream::{SeedTree, Stream};
