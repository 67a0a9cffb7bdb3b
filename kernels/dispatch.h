// Helpers for the dispatch_*.cpp files: a CUDA call compiles only in a CUDA build.
#pragma once
#include "runtime/device.h"
#include "runtime/profiler.h"
#include "tensor/error.h"

#ifdef DCSR_HAVE_CUDA
#include "kernels/cuda/cuda_kernels.h"
#define DCSR_CUDA_ONLY(call) call
#else
#define DCSR_CUDA_ONLY(call) ::dcsr::fail(__func__, ": ", ::dcsr::runtime::cuda_unavailable_reason())
#endif

#include "kernels/cpu/cpu_kernels.h"

namespace dcsr::kernels {
// Every dispatch function times its kernel through the runtime's profiler.
using runtime::KernelScope;
}  // namespace dcsr::kernels
