//! cifar-repro: re-run the CIFAR-10 experiments of a published report on tch (libtorch),
//! prove that a run is reproducible bit for bit, and audit claimed numbers.
//!
//! The library holds the pipeline; the binary (`src/main.rs`) is the only place that picks
//! devices, paths and what goes to stdout.

pub mod audit;
pub mod augment;
pub mod bench;
pub mod config;
pub mod data;
pub mod determinism;
pub mod download;
mod ffi;
pub mod fsutil;
pub mod hash;
pub mod manifest;
pub mod metrics;
pub mod model;
pub mod optim;
pub mod report;
pub mod runtime;
pub mod train;
