// CUDA backend: one file per op under kernels/cuda/, float32 (int64 indices).
// Included only in CUDA builds (DCSR_HAVE_CUDA).
#pragma once
#include "kernels/kernels.h"

namespace dcsr::kernels::cuda {
#include "kernels/kernel_list.inc"

// The implicit-GEMM option of conv2d_forward (kernels/cuda/conv2d.cu; the
// switch users see is kernels::set_cuda_conv_implicit).
bool conv_implicit_enabled();
void set_conv_implicit_enabled(bool enabled);
}  // namespace dcsr::kernels::cuda
