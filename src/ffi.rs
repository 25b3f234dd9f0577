//! The C++ shim's functions (`src/shim.cpp`): what tch does not expose. One block, so the
//! Rust and C++ sides are read side by side. None of them throws.

use torch_sys::C_tensor;

unsafe extern "C" {
    // Versions and the CPU's kernel dispatch (`runtime`).
    pub fn cifar_repro_torch_version() -> *const std::ffi::c_char;
    pub fn cifar_repro_cpu_capability() -> *const std::ffi::c_char;

    // libtorch's global determinism switches (`determinism::flags`).
    pub fn cifar_repro_set_deterministic_algorithms(on: bool);
    pub fn cifar_repro_deterministic_algorithms() -> bool;
    pub fn cifar_repro_set_cudnn(deterministic: bool, benchmark: bool);
    pub fn cifar_repro_cudnn_deterministic() -> bool;
    pub fn cifar_repro_cudnn_benchmark() -> bool;
    pub fn cifar_repro_set_tf32(allow: bool);
    pub fn cifar_repro_set_tf32_cudnn(allow: bool);
    pub fn cifar_repro_tf32_cublas() -> bool;
    pub fn cifar_repro_tf32_cudnn() -> bool;

    // The in-place and scaled ops `torch.optim` uses (`optim::optimizer`).
    pub fn cifar_repro_clear_grad(tensor: *mut C_tensor);
    pub fn cifar_repro_addcmul_(
        tensor: *mut C_tensor,
        t1: *const C_tensor,
        t2: *const C_tensor,
        value: f64,
    );
    pub fn cifar_repro_addcdiv_(
        tensor: *mut C_tensor,
        t1: *const C_tensor,
        t2: *const C_tensor,
        value: f64,
    );
    pub fn cifar_repro_add_alpha(
        tensor: *const C_tensor,
        other: *const C_tensor,
        alpha: f64,
    ) -> *mut C_tensor;
    pub fn cifar_repro_add_alpha_(tensor: *mut C_tensor, other: *const C_tensor, alpha: f64);

    // Memory format and mixed precision (`model::compute`).
    pub fn cifar_repro_channels_last(tensor: *const C_tensor) -> *mut C_tensor;
    pub fn cifar_repro_set_channels_last_(tensor: *mut C_tensor);
    pub fn cifar_repro_autocast_enter_bf16(cuda: bool) -> bool;
    pub fn cifar_repro_autocast_exit(cuda: bool, before: bool);
}
