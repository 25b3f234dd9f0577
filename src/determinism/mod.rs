//! The determinism layer: every source of randomness is a named stream derived from one
//! root seed, and libtorch's global switches are set and read back per mode.

pub mod flags;
pub mod numerics;
mod seed_tree;
pub mod stream_names;

pub use flags::{Determinism, Flags};
pub use numerics::NumericsClass;
pub use seed_tree::{SeedTree, Source, SourceRoots, Stream};
