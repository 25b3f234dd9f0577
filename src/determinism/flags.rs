//! libtorch's process-global determinism switches, set through the C++ shim and read back.

use crate::ffi::*;
use serde::{Deserialize, Serialize};

/// How much of libtorch's nondeterminism is shut off. Every mode seeds every stream
/// from the seed tree; they differ in the kernels libtorch may pick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Determinism {
    /// Deterministic algorithms and cuDNN, no autotuning, no TF32: bit-exact reruns.
    Strict,
    /// libtorch's defaults: the fast kernels, some of them nondeterministic on CUDA.
    Seeded,
    /// The fastest settings, as speed-minded training scripts set them: cuDNN autotuning
    /// (`cudnn.benchmark`) and TF32 matmuls on. On a CPU the same as `seeded`.
    Off,
}

/// The flags as libtorch reports them, plus the environment and threads they depend on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flags {
    /// The mode that was applied.
    pub mode: Determinism,
    /// `torch.use_deterministic_algorithms`.
    pub deterministic_algorithms: bool,
    /// `torch.backends.cudnn.deterministic`.
    pub cudnn_deterministic: bool,
    /// `torch.backends.cudnn.benchmark` (autotuning).
    pub cudnn_benchmark: bool,
    /// `torch.backends.cuda.matmul.allow_tf32`.
    pub tf32_cublas: bool,
    /// `torch.backends.cudnn.allow_tf32`.
    pub tf32_cudnn: bool,
    /// `CUBLAS_WORKSPACE_CONFIG` as the process sees it.
    pub cublas_workspace_config: Option<String>,
    /// libtorch intra-op threads.
    pub threads: i32,
}

/// The value strict mode needs for cuBLAS to be deterministic.
pub const CUBLAS_WORKSPACE: &str = ":4096:8";

/// Sets `CUBLAS_WORKSPACE_CONFIG` (strict mode needs it before CUDA starts; it only
/// costs a little cuBLAS workspace otherwise). Call it first thing in `main`, while the
/// process has one thread (setting the environment later is unsound). A value already
/// set is kept, and recorded.
pub fn prepare_environment() {
    if std::env::var_os("CUBLAS_WORKSPACE_CONFIG").is_none() {
        SET_CUBLAS_WORKSPACE.store(true, std::sync::atomic::Ordering::SeqCst);
        // SAFETY: called at the start of `main`, before any other thread exists.
        unsafe { std::env::set_var("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE) };
    }
}

/// Whether [`prepare_environment`] set `CUBLAS_WORKSPACE_CONFIG` (it was not inherited).
static SET_CUBLAS_WORKSPACE: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// The variables this process set for itself rather than inherited: a program it runs
/// must not get them unless its runner sets them.
pub fn variables_set_here() -> Vec<&'static str> {
    match SET_CUBLAS_WORKSPACE.load(std::sync::atomic::Ordering::SeqCst) {
        true => vec!["CUBLAS_WORKSPACE_CONFIG"],
        false => Vec::new(),
    }
}

/// Applies `mode` (see [`Determinism`]). `threads` > 0 fixes the intra-op thread count.
/// Returns the flags as read back.
pub fn apply(mode: Determinism, threads: usize) -> Flags {
    if threads > 0 {
        tch::set_num_threads(threads as i32);
    }
    let strict = mode == Determinism::Strict;
    let fastest = mode == Determinism::Off;
    // SAFETY: the shim's setters store flags in libtorch's global context and cannot fail.
    unsafe {
        cifar_repro_set_deterministic_algorithms(strict);
        cifar_repro_set_cudnn(strict, fastest);
        // libtorch's defaults are TF32 off for cuBLAS and on for cuDNN.
        cifar_repro_set_tf32(fastest);
        cifar_repro_set_tf32_cudnn(!strict);
    }
    read(mode)
}

/// Reads every flag back from libtorch.
pub fn read(mode: Determinism) -> Flags {
    // SAFETY: plain getters of libtorch's global context.
    unsafe {
        Flags {
            mode,
            deterministic_algorithms: cifar_repro_deterministic_algorithms(),
            cudnn_deterministic: cifar_repro_cudnn_deterministic(),
            cudnn_benchmark: cifar_repro_cudnn_benchmark(),
            tf32_cublas: cifar_repro_tf32_cublas(),
            tf32_cudnn: cifar_repro_tf32_cudnn(),
            cublas_workspace_config: std::env::var("CUBLAS_WORKSPACE_CONFIG").ok(),
            threads: tch::get_num_threads(),
        }
    }
}
