//! cifar-repro: re-run the CIFAR-10 experiments of a published report on tch (libtorch),
//! prove that a run is reproducible bit for bit, and audit claimed numbers.
//!
//! The library holds the pipeline; the binary (`src/main.rs`, `src/cli/`) is the only
//! place that picks devices, paths and what goes to stdout.
//!
//! # Module map, in the order data flows
//!
//! Each layer uses only the layers above it in this list (`tests/it/layers.rs` checks it).
//!
//! 1. `ffi` (the C++ shim's functions), [`fsutil`] (the one guarded way to open, write
//!    and lock files), [`text`] (bounded messages about what a user wrote): plumbing.
//! 2. [`hash`] (digests of bytes and of files, read through `fsutil`).
//! 3. [`runtime`] (libtorch, devices, cores), [`download`] (checked fetches) and [`pth`]
//!    (reading `torch.save` state dicts, the format torchvision publishes weights in),
//!    [`python`] (the provisioned Python torch, which makes stand-in weight files).
//! 4. [`data`] reads CIFAR-10; [`determinism`] derives every random stream from one seed
//!    and sets libtorch's switches; [`metrics`] turns predictions into numbers.
//! 5. [`model`] (ResNets, torchvision's init), [`optim`] (torch.optim op for op) and
//!    [`augment`] (the transforms, CPU and device backends): one component each, each
//!    owning its config section.
//! 6. [`config`]: a run's whole config, the presets, and [`config::resolve`], the one
//!    way a config file or preset plus overrides becomes a checked config.
//! 7. [`manifest`]: what a run records about itself, and comparing two runs (`verify`).
//! 8. [`run_dir`]: a run folder, the one owner of its files (checkpoints included), which
//!    it refuses by name when they are not whole and true.
//! 9. [`train`] runs a config into a run folder; [`report`] renders a finished run;
//!    [`bench`](mod@bench) times the pieces; [`program`] runs any training program (a
//!    command) into a run folder of its own and records it.
//! 10. [`audit`]: claims, runs over seeds, verdicts with stated error rates.
//! 11. [`variance`]: one source of randomness varied at a time, and how much each moves
//!     the final metrics (on the audit's run machinery).
#![warn(missing_docs)]

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
pub mod program;
pub mod pth;
pub mod python;
pub mod report;
pub mod run_dir;
pub mod runtime;
pub mod text;
pub mod train;
pub mod variance;
