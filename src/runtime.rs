//! The libtorch runtime this process runs on: versions, devices, threads.

use serde::Serialize;
use std::ffi::CStr;

unsafe extern "C" {
    fn cifar_repro_torch_version() -> *const std::ffi::c_char;
    fn cifar_repro_cpu_capability() -> *const std::ffi::c_char;
}

/// What `cifar-repro env` prints and what a run's manifest records about its runtime.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct RuntimeInfo {
    pub crate_version: String,
    pub libtorch_version: String,
    pub cuda_available: bool,
    pub cuda_device_count: i64,
    /// cuDNN version as libtorch encodes it (e.g. 91900 for 9.19.0), when CUDA is there.
    pub cudnn_version: Option<i64>,
    pub threads: i32,
    /// The CPU instruction set ATen dispatches to (e.g. "AVX512"); CPU results depend on it.
    #[serde(default)]
    pub cpu_capability: String,
}

/// The libtorch version the binary is linked against.
pub fn libtorch_version() -> String {
    // SAFETY: the shim returns a pointer to a static NUL-terminated string literal.
    unsafe { CStr::from_ptr(cifar_repro_torch_version()) }
        .to_string_lossy()
        .into_owned()
}

/// The CPU instruction set libtorch's ATen kernels use on this machine, as
/// `torch.backends.cpu.get_cpu_capability()` reports it.
pub fn cpu_capability() -> String {
    // SAFETY: the shim returns a pointer into a static string that lives for the process.
    unsafe { CStr::from_ptr(cifar_repro_cpu_capability()) }
        .to_string_lossy()
        .into_owned()
}

impl RuntimeInfo {
    /// Reads the runtime as it is now.
    pub fn current() -> Self {
        let cuda_available = tch::Cuda::is_available();
        Self {
            crate_version: env!("CARGO_PKG_VERSION").to_owned(),
            libtorch_version: libtorch_version(),
            cuda_available,
            cuda_device_count: if cuda_available {
                tch::Cuda::device_count()
            } else {
                0
            },
            cudnn_version: (cuda_available && tch::Cuda::cudnn_is_available())
                .then(tch::utils::version_cudnn),
            threads: tch::get_num_threads(),
            cpu_capability: cpu_capability(),
        }
    }
}

/// Error when CUDA is required but absent.
#[derive(Debug, thiserror::Error)]
#[error(
    "CUDA is required ({reason}) but libtorch sees no CUDA device; check the driver and that libtorch_cuda is linked"
)]
pub struct CudaMissing {
    pub reason: String,
}

/// True when the environment demands CUDA (`REQUIRE_CUDA=1`, as GPU runners set it).
pub fn cuda_required_by_env() -> bool {
    std::env::var("REQUIRE_CUDA").is_ok_and(|v| v == "1")
}

/// Fails when `REQUIRE_CUDA=1` is set and CUDA is not available.
pub fn check_required_cuda() -> Result<(), CudaMissing> {
    if cuda_required_by_env() && !tch::Cuda::is_available() {
        return Err(CudaMissing {
            reason: "REQUIRE_CUDA=1".into(),
        });
    }
    Ok(())
}
