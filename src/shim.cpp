// What tch does not expose, as a few extern "C" functions (see src/runtime.rs).
#include <ATen/Context.h>
#include <torch/version.h>

extern "C" {

// The libtorch version the headers (and so the linked library) carry, e.g. "2.11.0".
const char *cifar_repro_torch_version() { return TORCH_VERSION; }

}
