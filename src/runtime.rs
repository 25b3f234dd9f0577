//! The libtorch runtime this process runs on: versions, devices, threads.

use crate::ffi::{cifar_repro_cpu_capability, cifar_repro_torch_version};
use serde::Serialize;
use std::ffi::CStr;
use std::path::Path;

/// The most read from a file of `/proc`.
const PROC_CAP: u64 = 16 << 20;

/// What `cifar-repro env` prints and what a run's manifest records about its runtime.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct RuntimeInfo {
    /// cifar-repro's version.
    pub crate_version: String,
    /// The libtorch it runs on.
    pub libtorch_version: String,
    /// Whether libtorch sees CUDA.
    pub cuda_available: bool,
    /// How many CUDA devices it sees.
    pub cuda_device_count: i64,
    /// cuDNN version as libtorch encodes it (e.g. 91900 for 9.19.0), when CUDA is there.
    pub cudnn_version: Option<i64>,
    /// libtorch's intra-op threads.
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

/// Whether the CPU has bf16 instructions (AVX512-BF16 or AMX-BF16, as /proc/cpuinfo
/// lists them); without them oneDNN emulates bf16, correct but slower than fp32.
pub fn cpu_has_bf16() -> bool {
    crate::fsutil::read_capped(Path::new("/proc/cpuinfo"), PROC_CAP).is_ok_and(|info| {
        info.lines()
            .find(|line| line.starts_with("flags"))
            .is_some_and(|flags| {
                flags
                    .split_whitespace()
                    .any(|f| f == "avx512_bf16" || f == "amx_bf16")
            })
    })
}

/// The cores this process may use (its CPU affinity and cgroup quota included): the
/// most threads a run may ask for, and what "every core" means.
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Memory the machine has available now (`MemAvailable` in `/proc/meminfo`), when the OS
/// reports it.
pub fn available_memory_bytes() -> Option<u64> {
    let info = crate::fsutil::read_capped(Path::new("/proc/meminfo"), PROC_CAP).ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// A device as the command line spells it: `cpu`, `cuda:0`, `mps`, `vulkan`.
pub fn device_name(device: tch::Device) -> String {
    match device {
        tch::Device::Cuda(i) => format!("cuda:{i}"),
        tch::Device::Mps => "mps".into(),
        tch::Device::Vulkan => "vulkan".into(),
        tch::Device::Cpu => "cpu".into(),
    }
}

/// The total memory of `device` in bytes: the machine's RAM for the CPU, the GPU's own
/// for CUDA (from the CUDA runtime libtorch has loaded); none when it cannot be read.
pub fn device_memory_bytes(device: tch::Device) -> Option<u64> {
    match device {
        tch::Device::Cuda(index) => cuda_total_memory(index),
        _ => {
            let info = crate::fsutil::read_capped(Path::new("/proc/meminfo"), PROC_CAP).ok()?;
            let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        }
    }
}

/// `cudaMemGetInfo`'s total for GPU `index`, looked up in the CUDA runtime already loaded
/// into the process (libtorch_cuda links it); none when it is not there.
fn cuda_total_memory(index: usize) -> Option<u64> {
    type SetDevice = unsafe extern "C" fn(i32) -> i32;
    type MemGetInfo = unsafe extern "C" fn(*mut usize, *mut usize) -> i32;
    // SAFETY: RTLD_NOLOAD only finds a library the process has already loaded; the two
    // symbols have these C signatures in every CUDA runtime, and both outputs are locals.
    unsafe {
        let handle = ["libcudart.so.13", "libcudart.so.12", "libcudart.so"]
            .iter()
            .map(|name| {
                let name = std::ffi::CString::new(*name).ok()?;
                let h = libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_NOLOAD);
                (!h.is_null()).then_some(h)
            })
            .find_map(|h| h)?;
        let symbol = |name: &str| {
            let name = std::ffi::CString::new(name).ok()?;
            let f = libc::dlsym(handle, name.as_ptr());
            (!f.is_null()).then_some(f)
        };
        let set_device: SetDevice = std::mem::transmute(symbol("cudaSetDevice")?);
        let mem_get_info: MemGetInfo = std::mem::transmute(symbol("cudaMemGetInfo")?);
        let (mut free, mut total) = (0usize, 0usize);
        if set_device(i32::try_from(index).ok()?) != 0 || mem_get_info(&mut free, &mut total) != 0 {
            return None;
        }
        Some(total as u64)
    }
}

/// A libtorch error as a person reads it: an I/O failure inside a safetensors write or
/// read (a full disk) comes out as "PATH: No space left on device (os error 28)" rather
/// than the safetensors crate's debug text.
pub fn tch_message(e: &tch::TchError) -> String {
    match e {
        tch::TchError::SafeTensorError {
            path,
            err: safetensors::SafeTensorError::IoError(io),
        } => format!("{path}: {io}"),
        other => other.to_string(),
    }
}

/// Error when CUDA is required but absent.
#[derive(Debug, thiserror::Error)]
#[error(
    "CUDA is required ({reason}) but libtorch sees no CUDA device; check the driver and that libtorch_cuda is linked"
)]
pub struct CudaMissing {
    /// What demanded CUDA.
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

/// Asks libtorch's CPU allocator for transparent huge pages on large tensors
/// (`THP_MEM_ALLOC_ENABLE=1`, which libtorch reads once): a fresh 77 MB batch of 224x224
/// images then costs tens of page faults instead of tens of thousands (E3's preprocessing
/// at batch 128 ran about 30% faster here). A value already set is kept. Call it first
/// thing in `main`, while the process has one thread.
pub fn prefer_huge_pages() {
    if std::env::var_os("THP_MEM_ALLOC_ENABLE").is_none() {
        // SAFETY: called at the start of `main`, before any other thread exists.
        unsafe { std::env::set_var("THP_MEM_ALLOC_ENABLE", "1") };
    }
}
