// A host emulation of the small part of the CUDA runtime that dcsr uses, so
// that the CUDA backend's kernels can be compiled as C++ and run on a machine
// without a GPU (tools/cuda_emu/run.sh). Kernels run block by block; the
// threads of a block are fibers (ucontext) switched at __syncthreads and at
// warp shuffles, so barriers, shared memory and shuffles behave as on a GPU
// (one block at a time: no inter-block races are modelled). Memory is host
// memory; streams are synchronous. A check of index math, launch geometry,
// barriers and library calls, not of timing or of device floating point.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

// ---- qualifiers ----
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))

// ---- vector types ----
struct uint3 {
  unsigned x = 0, y = 0, z = 0;
};
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

struct alignas(16) float4 {
  float x, y, z, w;
};
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
struct alignas(16) uint4 {
  unsigned x, y, z, w;
};
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }
struct alignas(8) float2 {
  float x, y;
};
inline float2 make_float2(float x, float y) { return {x, y}; }

// ---- runtime API ----
enum cudaError_t { cudaSuccess = 0, cudaErrorMemoryAllocation = 2, cudaErrorInvalidValue = 1 };
enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4
};
enum cudaDeviceAttr { cudaDevAttrMultiProcessorCount = 16 };
typedef struct CUstream_st* cudaStream_t;
typedef struct CUevent_st* cudaEvent_t;
struct cudaDeviceProp {
  char name[256];
  int major, minor, multiProcessorCount;
};

const char* cudaGetErrorString(cudaError_t error);
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaGetLastError();
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaDriverGetVersion(int* version);
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device);
// Two resident blocks per "SM", whatever the kernel.
template <typename Kernel>
cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int* blocks, Kernel, int, size_t) {
  *blocks = 2;
  return cudaSuccess;
}
cudaError_t cudaMalloc(void** ptr, size_t bytes);
cudaError_t cudaFree(void* ptr);
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream = 0);
cudaError_t cudaMemsetAsync(void* ptr, int value, size_t bytes, cudaStream_t stream = 0);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaEventCreate(cudaEvent_t* event);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = 0);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t stop);

// ---- the emulator ----
namespace emu {
extern uint3 thread_idx, block_idx;
extern dim3 block_dim, grid_dim;
void sync_block();  // __syncthreads
void sync_warp();   // a barrier of the calling thread's warp
unsigned warp_lane();
unsigned warp_index();
uint64_t* warp_slots(unsigned warp);  // 32 exchange slots of one warp
void run_grid(dim3 grid, dim3 block, void (*body)(void*), void* arg);
void atomic_lock();
void atomic_unlock();
// True when p is null or inside a block from cudaMalloc. Kernels on a real
// GPU cannot read host memory; the emulator can, so it checks.
bool is_device_pointer(const void* p);
void fail_host_pointer(int argument);

template <typename T>
void check_argument(const T& value, int index) {
  if constexpr (std::is_pointer_v<T>) {
    if (!is_device_pointer(static_cast<const void*>(value))) fail_host_pointer(index);
  }
}

template <typename Kernel, typename Params>
struct LaunchState {
  Kernel kernel;
  Params* params;
};

template <typename Kernel, typename Params>
void invoke(void* p) {
  auto* state = static_cast<LaunchState<Kernel, Params>*>(p);
  Params copy = *state->params;  // every thread gets its own copy of the arguments
  std::apply(state->kernel, copy);
}

template <typename... P, typename... A>
void launch(dim3 grid, dim3 block, void (*kernel)(P...), A&&... args) {
  using Params = std::tuple<std::decay_t<P>...>;
  Params params(static_cast<std::decay_t<P>>(std::forward<A>(args))...);
  std::apply([](const auto&... values) {
    int index = 0;
    (check_argument(values, index++), ...);
  }, params);
  LaunchState<void (*)(P...), Params> state{kernel, &params};
  run_grid(grid, block, &invoke<void (*)(P...), Params>, &state);
}
}  // namespace emu

#define threadIdx (::emu::thread_idx)
#define blockIdx (::emu::block_idx)
#define blockDim (::emu::block_dim)
#define gridDim (::emu::grid_dim)

inline void __syncthreads() { emu::sync_block(); }

// ---- device intrinsics ----
using std::isnan;
template <typename T>
inline T min(T a, T b) { return b < a ? b : a; }
template <typename T>
inline T max(T a, T b) { return a < b ? b : a; }

namespace emu {
// A warp shuffle: every lane posts `value`, then reads the value of the lane
// source(lane) names (its own value where that is outside the warp).
template <typename T, typename Source>
T shuffle(T value, Source source) {
  static_assert(sizeof(T) <= 8, "shuffle of at most 8 bytes");
  uint64_t* slots = warp_slots(warp_index());
  const unsigned lane = warp_lane();
  uint64_t raw = 0;
  std::memcpy(&raw, &value, sizeof(T));
  slots[lane] = raw;
  sync_warp();
  T result = value;
  const unsigned from = source(lane);
  if (from < 32) std::memcpy(&result, &slots[from], sizeof(T));
  sync_warp();
  return result;
}
}  // namespace emu

template <typename T>
T __shfl_down_sync(unsigned, T value, int delta) {
  return emu::shuffle(value, [delta](unsigned lane) { return lane + unsigned(delta); });
}

// The value of lane src_lane (0-31) of the warp, as every lane asks.
template <typename T>
T __shfl_sync(unsigned, T value, int src_lane) {
  return emu::shuffle(value, [src_lane](unsigned) { return unsigned(src_lane) & 31u; });
}


template <typename T>
T atomicAdd(T* address, T value) {
  emu::atomic_lock();
  T old = *address;
  *address = old + value;
  emu::atomic_unlock();
  return old;
}
inline unsigned long long atomicMin(unsigned long long* address, unsigned long long value) {
  emu::atomic_lock();
  unsigned long long old = *address;
  if (value < old) *address = value;
  emu::atomic_unlock();
  return old;
}
inline unsigned long long atomicCAS(unsigned long long* address, unsigned long long compare, unsigned long long value) {
  emu::atomic_lock();
  unsigned long long old = *address;
  if (old == compare) *address = value;
  emu::atomic_unlock();
  return old;
}
