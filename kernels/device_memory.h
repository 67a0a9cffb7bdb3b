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

// The CUDA conv2d forward as an implicit GEMM for 3x3 stride-1 single-group
// convolutions (kernels/cuda/conv2d_implicit.cuh) instead of im2col + cuBLAS.
// Off by default: not yet measured on a GPU. DCSR_CONV_IMPLICIT=1 in the
// environment turns it on. A no-op in builds without CUDA.
void set_cuda_conv_implicit(bool enabled);
bool cuda_conv_implicit();

void* cuda_raw_alloc(size_t bytes);
void cuda_raw_free(void* ptr, size_t bytes);
void cuda_synchronize();

// Copies `bytes` between any two devices (host<->device, device<->device, host<->host).
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);

}  // namespace dcsr::kernels
