// What tch does not expose, as a few extern "C" functions, declared on the Rust side in
// src/ffi.rs. None of them throws: the setters only store flags.
#include <ATen/Context.h>
#include <ATen/Version.h>
#include <ATen/autocast_mode.h>
#include <ATen/core/Tensor.h>
#include <torch/version.h>

extern "C" {

// The libtorch version the headers (and so the linked library) carry, e.g. "2.11.0".
const char *cifar_repro_torch_version() { return TORCH_VERSION; }

// The CPU instruction set ATen's kernels dispatch to on this machine ("AVX2", "AVX512",
// "DEFAULT", ...): the part of the platform that changes CPU floating-point results.
const char *cifar_repro_cpu_capability() {
  static const std::string capability = at::get_cpu_capability();
  return capability.c_str();
}

// at::globalContext().setDeterministicAlgorithms, which tch does not expose.
void cifar_repro_set_deterministic_algorithms(bool on) {
  at::globalContext().setDeterministicAlgorithms(on, /*warn_only=*/false);
}
bool cifar_repro_deterministic_algorithms() {
  return at::globalContext().deterministicAlgorithms();
}

void cifar_repro_set_cudnn(bool deterministic, bool benchmark) {
  at::globalContext().setDeterministicCuDNN(deterministic);
  at::globalContext().setBenchmarkCuDNN(benchmark);
}
bool cifar_repro_cudnn_deterministic() { return at::globalContext().deterministicCuDNN(); }
bool cifar_repro_cudnn_benchmark() { return at::globalContext().benchmarkCuDNN(); }

void cifar_repro_set_tf32(bool allow) {
  at::globalContext().setAllowTF32CuBLAS(allow);
  at::globalContext().setAllowTF32CuDNN(allow);
}
void cifar_repro_set_tf32_cudnn(bool allow) { at::globalContext().setAllowTF32CuDNN(allow); }
bool cifar_repro_tf32_cublas() { return at::globalContext().allowTF32CuBLAS(); }
bool cifar_repro_tf32_cudnn() { return at::globalContext().allowTF32CuDNN(); }

// Drops a tensor's gradient (PyTorch's `zero_grad(set_to_none=True)`, its default since
// 2.0): the next backward writes a fresh gradient instead of adding to a zeroed one.
void cifar_repro_clear_grad(at::Tensor *tensor) { tensor->mutable_grad().reset(); }

// In-place addcmul_ and addcdiv_ with their `value` argument, which tch's generated API
// leaves out: torch.optim's Adam passes it, and without it each step needs a temporary.
void cifar_repro_addcmul_(at::Tensor *self, const at::Tensor *t1, const at::Tensor *t2,
                          double value) {
  self->addcmul_(*t1, *t2, value);
}
void cifar_repro_addcdiv_(at::Tensor *self, const at::Tensor *t1, const at::Tensor *t2,
                          double value) {
  self->addcdiv_(*t1, *t2, value);
}

// add with its `alpha` argument (self + alpha * other in one kernel, one rounding), which
// torch.optim uses for weight decay, Nesterov momentum and SGD's update; tch leaves it out.
// The out-of-place form returns a new tensor that the caller owns (tch's convention).
at::Tensor *cifar_repro_add_alpha(const at::Tensor *self, const at::Tensor *other, double alpha) {
  return new at::Tensor(self->add(*other, alpha));
}
void cifar_repro_add_alpha_(at::Tensor *self, const at::Tensor *other, double alpha) {
  self->add_(*other, alpha);
}

// A copy in the channels-last (NHWC) memory format, as x.contiguous(memory_format=
// torch.channels_last); the caller owns it.
at::Tensor *cifar_repro_channels_last(const at::Tensor *self) {
  return new at::Tensor(self->contiguous(at::MemoryFormat::ChannelsLast));
}
// param.data = param.contiguous(memory_format=torch.channels_last), as module.to(
// memory_format=torch.channels_last) does to every 4-d parameter and buffer.
void cifar_repro_set_channels_last_(at::Tensor *self) {
  self->set_data(self->contiguous(at::MemoryFormat::ChannelsLast));
}

// Entering and leaving torch.autocast(device_type, dtype=torch.bfloat16) on the CPU (cuda
// false) or CUDA: the enabled flag, the dtype, and the nesting count whose return to zero
// clears the cast cache. Returns whether autocast was enabled before.
bool cifar_repro_autocast_enter_bf16(bool cuda) {
  const auto device = cuda ? at::kCUDA : at::kCPU;
  const bool before = at::autocast::is_autocast_enabled(device);
  at::autocast::set_autocast_dtype(device, at::kBFloat16);
  at::autocast::set_autocast_enabled(device, true);
  at::autocast::increment_nesting();
  return before;
}
void cifar_repro_autocast_exit(bool cuda, bool before) {
  const auto device = cuda ? at::kCUDA : at::kCPU;
  if (at::autocast::decrement_nesting() == 0) {
    at::autocast::clear_cache();
  }
  at::autocast::set_autocast_enabled(device, before);
}

}
