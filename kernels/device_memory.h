// Device memory and device queries: the few calls the tensor core needs from a
// backend to hold and move bytes. Without a CUDA build (or without a GPU) the
// CUDA entry points fail with a message that says so; `cuda_available()` never
// throws.
#pragma once
#include <cstddef>
#include <string>

#include "tensor/types.h"

namespace dcsr::kernels {

bool cuda_built();      // compiled with the CUDA backend
bool cuda_available();  // built and a device answered; any runtime error counts as "no GPU"
// Why CUDA is unavailable ("built without CUDA", or the runtime's error string).
std::string cuda_unavailable_reason();
std::string cuda_device_description();  // "NVIDIA H100 80GB HBM3 (sm_90, driver 12.4)"

// TF32 tensor-core math for the float32 GEMMs of the CUDA backend (cuBLAS).
// Off by default (exact float32); DCSR_TF32=1 in the environment turns it on.
// A no-op in builds without CUDA.
void set_cuda_tf32(bool enabled);
bool cuda_tf32();

// How the CUDA conv2d forward runs 3x3 and 5x5 stride-1 single-group
// convolutions: as an implicit GEMM (kernels/cuda/conv2d_implicit.cuh) or as
// im2col + cuBLAS. kAuto (the default) takes whichever a cost model fitted to
// H100 timings says is faster (kernels/conv_forward_plan.h); the other two
// force one path where the implicit GEMM applies. Read on first
// use from DCSR_CONV_PATH ("auto", "im2col" or "implicit"; unset: auto; any
// other value is an Error that names it). No effect in builds without CUDA.
enum class CudaConvPath { kAuto, kIm2col, kImplicit };
void set_cuda_conv_path(CudaConvPath path);
CudaConvPath cuda_conv_path();
const char* conv_path_name(CudaConvPath path);  // "auto", "im2col", "implicit"
CudaConvPath conv_path_from_name(const std::string& name);  // the inverse; an Error names a bad name

void* cuda_raw_alloc(size_t bytes);
void cuda_raw_free(void* ptr, size_t bytes);
void cuda_synchronize();

// Copies `bytes` between any two devices (host<->device, device<->device, host<->host).
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);

}  // namespace dcsr::kernels
