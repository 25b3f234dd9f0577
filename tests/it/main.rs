//! The integration tests, as one test binary (linking libtorch once, not once per file).
//! Tests that touch libtorch's process-global state (seeds, threads, determinism flags) run
//! the `cifar-repro` binary in a child process.

// A test reads as one story from setup to its assertions, so the 60-line rule of src/
// does not apply here.
#![allow(clippy::too_many_lines)]

mod audit;
mod audit_chains;
mod augment_cli;
mod augment_loader;
mod augment_props;
mod augment_reference;
mod bench;
mod common;
mod data_bad_input;
mod data_fetch;
mod data_load;
mod env;
mod guards;
mod hostile;
mod layers;
mod model;
mod optim;
mod pipes;
mod programs;
mod pth;
mod released;
mod resume;
mod snapshots;
mod train;
mod variance;
mod verdict_rates;
mod verdict_reference;
mod verify;
mod weights;
