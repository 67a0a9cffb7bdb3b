// CUDA backend: one file per op under kernels/cuda/, float32 (int64 indices).
// Included only in CUDA builds (DCSR_HAVE_CUDA).
#pragma once
#include "kernels/kernels.h"

namespace dcsr::kernels::cuda {
#include "kernels/kernel_list.inc"
}  // namespace dcsr::kernels::cuda
