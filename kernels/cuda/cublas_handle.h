// The one cuBLAS handle of the process, its error check, and the TF32 switch.
//
// The handle is created on first use, on the default stream, with a
// workspace taken from the CUDA caching pool: left alone, cuBLAS would
// cudaMalloc its own workspace behind the pool's back, and a training step
// must do no cudaMalloc once the pool is warm. There is no fallback: a first
// use whose workspace the pool cannot give fails, naming the workspace, and
// keeps no handle, so the next use tries again.
//
// TF32: off by default, so float32 GEMMs are exact float32 (the [cuda] tests
// compare against the CPU at float32 tolerances). DCSR_TF32=1 in the
// environment, or runtime::set_cuda_tf32(true), lets cuBLAS use TF32 tensor cores
// (10-bit mantissa products, float32 accumulation: about 2^-11 relative error
// per product, several times the SGEMM throughput on an H100).
#pragma once
#include <cublas_v2.h>

#include "tensor/error.h"

namespace dcsr::kernels::cuda {

// The handle, with the math mode of the current TF32 setting applied.
cublasHandle_t cublas_handle();

const char* cublas_status_string(cublasStatus_t status);

}  // namespace dcsr::kernels::cuda

#define DCSR_CUBLAS_CHECK(call)                                                                              \
  do {                                                                                                      \
    cublasStatus_t dcsr_cublas_status_ = (call);                                                            \
    if (dcsr_cublas_status_ != CUBLAS_STATUS_SUCCESS)                                                       \
      ::dcsr::fail(#call, " failed: ", ::dcsr::kernels::cuda::cublas_status_string(dcsr_cublas_status_), " (", \
                   __FILE__, ":", __LINE__, ")");                                                           \
  } while (0)
