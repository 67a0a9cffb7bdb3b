// Shared helpers of the CUDA kernels (kernels/cuda/*.cu): launch geometry,
// grid-stride loops with 64-bit indices, dtype checks, and small by-value
// shape descriptors for kernels that walk several dims.
//
// Indexing rule: every element index and every offset is int64_t. A tensor
// of 2^31 float32 elements is only 8 GiB, well within one H100, so 32-bit
// index math would silently wrap on shapes we do meet (a batch of large
// feature maps, a big matching tile). The cost of 64-bit integer math is
// negligible next to the memory traffic of these kernels.
//
// Streams: everything runs on the legacy default stream (0), cuBLAS
// included, so kernels are ordered without events and host code sees a
// consistent state after any synchronising copy.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "runtime/cuda_check.h"
#include "tensor/error.h"
#include "tensor/tensor.h"

namespace dcsr::kernels::cuda {

constexpr int kBlock = 256;  // threads per block of the elementwise kernels
// Upper bound on the blocks of a grid-stride launch: enough to fill any
// current GPU many times over (132 SMs x 2048 threads / 256 = 1056 blocks
// resident on an H100), small enough that each thread does several elements
// of huge tensors.
// (DCSR_CUDA_MAX_GRID_BLOCKS overrides it: the host emulator of
// tools/cuda_emu uses a small grid, which also exercises the striding.)
#ifndef DCSR_CUDA_MAX_GRID_BLOCKS
#define DCSR_CUDA_MAX_GRID_BLOCKS (int64_t(1) << 16)
#endif
constexpr int64_t kMaxGridBlocks = DCSR_CUDA_MAX_GRID_BLOCKS;
// Grid y and z are limited to 65535 by the hardware.
constexpr int64_t kMaxGridYZ = std::min<int64_t>(65535, kMaxGridBlocks);

// Streaming multiprocessors of the current device (asked once).
inline int64_t multiprocessors() {
  static const int64_t count = [] {
    int device = 0, sms = 0;
    DCSR_CUDA_CHECK(cudaGetDevice(&device));
    DCSR_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    return int64_t(sms);
  }();
  return count;
}

// Whether this GPU has TF32 tensor cores (compute capability 8.0 or later; asked once).
inline bool tf32_tensor_cores() {
  static const bool present = [] {
    int device = 0;
    DCSR_CUDA_CHECK(cudaGetDevice(&device));
    cudaDeviceProp prop{};
    DCSR_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    return prop.major >= 8;
  }();
  return present;
}

// Blocks for a grid-stride loop over n work items with `block` threads each.
inline unsigned grid_for(int64_t n, int block = kBlock) {
  int64_t blocks = (n + block - 1) / block;
  return unsigned(std::max<int64_t>(1, std::min(blocks, kMaxGridBlocks)));
}

// The index of this thread in a 1-D grid and the grid's total thread count,
// both 64-bit (blockIdx.x * blockDim.x overflows 32 bits past 2^32 threads,
// and the loop variable must hold any element index).
__device__ __forceinline__ int64_t global_thread() {
  return int64_t(blockIdx.x) * int64_t(blockDim.x) + int64_t(threadIdx.x);
}
__device__ __forceinline__ int64_t grid_threads() { return int64_t(gridDim.x) * int64_t(blockDim.x); }

// for (i = this thread; i < n; i += all threads)
#define DCSR_GRID_STRIDE_LOOP(i, n) \
  for (int64_t i = ::dcsr::kernels::cuda::global_thread(); i < (n); i += ::dcsr::kernels::cuda::grid_threads())

// Fails with "<op>: unsupported dtype <dtype> on cuda" unless t is float32:
// the arithmetic kernels of this backend are float32 only.
inline void require_float32(const Tensor& t, const char* op) {
  if (t.dtype() != DType::Float32) fail(op, ": unsupported dtype ", dtype_name(t.dtype()), " on cuda");
}

// Data-movement kernels also take int64 (indices travel through permute,
// concat and gather like any other tensor), as the CPU backend does.
inline void require_float32_or_int64(const Tensor& t, const char* op) {
  if (t.dtype() != DType::Float32 && t.dtype() != DType::Int64)
    fail(op, ": unsupported dtype ", dtype_name(t.dtype()), " on cuda");
}

// Calls body(T{}) with T = float or int64_t for the tensor's dtype.
template <typename Body>
void dispatch_float32_or_int64(const Tensor& t, const char* op, Body&& body) {
  require_float32_or_int64(t, op);
  if (t.dtype() == DType::Int64) body(int64_t{});
  else body(float{});
}

// Shapes and strides passed to kernels by value (kernel parameters live in
// constant memory, so every thread reads them for free).
constexpr int kMaxDims = 8;

struct Dims {
  int ndim = 0;
  int64_t size[kMaxDims] = {};
  int64_t stride[kMaxDims] = {};
};

// Builds a Dims from sizes and strides, failing (naming op) past kMaxDims.
inline Dims make_dims(const std::vector<int64_t>& sizes, const std::vector<int64_t>& strides, const char* op) {
  DCSR_CHECK(sizes.size() <= size_t(kMaxDims) && sizes.size() == strides.size(), op, ": at most ", kMaxDims,
             " dims on cuda, got ", sizes.size());
  Dims d;
  d.ndim = int(sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) {
    d.size[i] = sizes[i];
    d.stride[i] = strides[i];
  }
  return d;
}

// Offset of linear (row-major) index `linear` over d.size, using d.stride:
// the odometer decomposition, innermost dim first.
__device__ __forceinline__ int64_t offset_of(int64_t linear, const Dims& d) {
  int64_t offset = 0;
  for (int k = d.ndim - 1; k >= 0; --k) {
    const int64_t size = d.size[k];
    const int64_t i = linear % size;
    linear /= size;
    offset += i * d.stride[k];
  }
  return offset;
}

// Offset for a Dims with one dim needs no division (the common case of a
// single merged group).
__device__ __forceinline__ int64_t offset_of_fast(int64_t linear, const Dims& d) {
  return d.ndim == 1 ? linear * d.stride[0] : offset_of(linear, d);
}

// Sum of `value` over the block, valid in thread 0 (other threads get partial
// sums). blockDim.x must be a multiple of 32 and at most 1024. All threads of
// the block must call it. The shared scratch is reused, so a second call in
// the same kernel needs a __syncthreads() between the two.
template <typename T>
__device__ T block_reduce_sum(T value) {
  __shared__ T warp_sums[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int delta = 16; delta > 0; delta >>= 1) value += __shfl_down_sync(0xffffffffu, value, delta);
  if (lane == 0) warp_sums[warp] = value;
  __syncthreads();
  const int warps = int(blockDim.x) >> 5;
  if (warp == 0) {
    value = lane < warps ? warp_sums[lane] : T(0);
    for (int delta = 16; delta > 0; delta >>= 1) value += __shfl_down_sync(0xffffffffu, value, delta);
  }
  return value;
}

// The int32 limit of cuBLAS dimensions and of a few launch parameters.
constexpr int64_t kInt32Max = 2147483647;

}  // namespace dcsr::kernels::cuda
