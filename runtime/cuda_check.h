// Error checks for every CUDA runtime and cuBLAS call: the message names the
// call, the file and the line. Usable from .cpp and .cu files.
#pragma once
#include <cuda_runtime.h>

#include "tensor/error.h"

#define DCSR_CUDA_CHECK(call)                                                                   \
  do {                                                                                         \
    cudaError_t dcsr_status_ = (call);                                                         \
    if (dcsr_status_ != cudaSuccess)                                                           \
      ::dcsr::fail(#call, " failed: ", cudaGetErrorString(dcsr_status_), " (", __FILE__, ":", \
                   __LINE__, ")");                                                             \
  } while (0)

// After a kernel launch: reports launch-configuration errors at the launch site.
#define DCSR_CUDA_CHECK_LAUNCH() DCSR_CUDA_CHECK(cudaGetLastError())
