// Helpers for the dispatch_*.cpp files: a CUDA call compiles only in a CUDA build.
#pragma once
#include "kernels/device_memory.h"
#include "kernels/kernel_profile.h"
#include "tensor/error.h"

#ifdef DCSR_HAVE_CUDA
#include "kernels/cuda/cuda_kernels.h"
#define DCSR_CUDA_ONLY(call) call
#else
#define DCSR_CUDA_ONLY(call) ::dcsr::fail(__func__, ": ", ::dcsr::kernels::cuda_unavailable_reason())
#endif

#include "kernels/cpu/cpu_kernels.h"
