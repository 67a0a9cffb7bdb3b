// The host emulation of the CUDA runtime and cuBLAS (see include/cuda_runtime.h).
#include <ucontext.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <vector>

#include "cublas_v2.h"
#include "cuda_runtime.h"

namespace emu {

uint3 thread_idx, block_idx;
dim3 block_dim, grid_dim;

namespace {

enum class FiberState { Ready, AtBlockBarrier, AtWarpBarrier, Done };

struct Fiber {
  ucontext_t context;
  FiberState state = FiberState::Ready;
  unsigned linear = 0;  // thread index in the block
};

constexpr size_t kStackBytes = 64 * 1024;

std::vector<Fiber> fibers;
std::vector<std::vector<char>> stacks;
std::vector<std::vector<uint64_t>> slots;  // per warp, 32 exchange slots
ucontext_t scheduler;
Fiber* current = nullptr;
void (*kernel_body)(void*) = nullptr;
void* kernel_arg = nullptr;
std::recursive_mutex atomics;

void set_thread_index(const Fiber& f) {
  thread_idx.x = f.linear % block_dim.x;
  thread_idx.y = (f.linear / block_dim.x) % block_dim.y;
  thread_idx.z = f.linear / (block_dim.x * block_dim.y);
}

void fiber_entry() {
  kernel_body(kernel_arg);
  current->state = FiberState::Done;
  swapcontext(&current->context, &scheduler);
}

void wait_at(FiberState state) {
  current->state = state;
  swapcontext(&current->context, &scheduler);
}

void run_block() {
  const unsigned threads = block_dim.x * block_dim.y * block_dim.z;
  if (fibers.size() < threads) {
    fibers.resize(threads);
    stacks.resize(threads, std::vector<char>(kStackBytes));
  }
  slots.assign((threads + 31) / 32, std::vector<uint64_t>(32, 0));
  for (unsigned t = 0; t < threads; ++t) {
    Fiber& f = fibers[t];
    f.state = FiberState::Ready;
    f.linear = t;
    getcontext(&f.context);
    f.context.uc_stack.ss_sp = stacks[t].data();
    f.context.uc_stack.ss_size = kStackBytes;
    f.context.uc_link = nullptr;
    makecontext(&f.context, fiber_entry, 0);
  }
  const unsigned warps = (threads + 31) / 32;
  for (;;) {
    bool ran = false;
    for (unsigned t = 0; t < threads; ++t) {
      Fiber& f = fibers[t];
      if (f.state != FiberState::Ready) continue;
      current = &f;
      set_thread_index(f);
      swapcontext(&scheduler, &f.context);
      ran = true;
    }
    // Release barriers whose every live participant has arrived.
    bool all_done = true, released = false;
    bool block_ready = true;
    for (unsigned t = 0; t < threads; ++t) {
      if (fibers[t].state != FiberState::Done) all_done = false;
      if (fibers[t].state != FiberState::Done && fibers[t].state != FiberState::AtBlockBarrier) block_ready = false;
    }
    if (all_done) return;
    if (block_ready) {
      for (unsigned t = 0; t < threads; ++t)
        if (fibers[t].state == FiberState::AtBlockBarrier) fibers[t].state = FiberState::Ready;
      released = true;
    }
    for (unsigned w = 0; w < warps; ++w) {
      bool warp_ready = true, any = false;
      for (unsigned t = w * 32; t < std::min(threads, (w + 1) * 32); ++t) {
        const FiberState s = fibers[t].state;
        if (s == FiberState::AtWarpBarrier) any = true;
        else if (s != FiberState::Done) warp_ready = false;
      }
      if (warp_ready && any) {
        for (unsigned t = w * 32; t < std::min(threads, (w + 1) * 32); ++t)
          if (fibers[t].state == FiberState::AtWarpBarrier) fibers[t].state = FiberState::Ready;
        released = true;
      }
    }
    if (!ran && !released) {
      std::fprintf(stderr, "cuda_emu: deadlock in block (%u, %u, %u): threads wait at different barriers\n",
                   block_idx.x, block_idx.y, block_idx.z);
      std::abort();
    }
  }
}

}  // namespace

std::mutex allocations_mutex;
std::map<uintptr_t, size_t> allocations;  // device block start -> bytes

bool is_device_pointer(const void* p) {
  if (!p) return true;
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  std::lock_guard<std::mutex> lock(allocations_mutex);
  auto it = allocations.upper_bound(a);
  if (it == allocations.begin()) return false;
  --it;
  return a < it->first + std::max<size_t>(it->second, 1);
}

void fail_host_pointer(int argument) {
  std::fprintf(stderr, "cuda_emu: kernel argument %d points to host memory (not from cudaMalloc)\n", argument);
  std::abort();
}

void sync_block() { wait_at(FiberState::AtBlockBarrier); }
void sync_warp() { wait_at(FiberState::AtWarpBarrier); }
unsigned warp_lane() { return current->linear % 32; }
unsigned warp_index() { return current->linear / 32; }
uint64_t* warp_slots(unsigned warp) { return slots[warp].data(); }
void atomic_lock() { atomics.lock(); }
void atomic_unlock() { atomics.unlock(); }

void run_grid(dim3 grid, dim3 block, void (*body)(void*), void* arg) {
  const unsigned threads = block.x * block.y * block.z;
  if (threads == 0 || threads > 1024 || grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.y > 65535 ||
      grid.z > 65535) {
    std::fprintf(stderr, "cuda_emu: invalid launch grid (%u, %u, %u) block (%u, %u, %u)\n", grid.x, grid.y, grid.z,
                 block.x, block.y, block.z);
    std::abort();
  }
  kernel_body = body;
  kernel_arg = arg;
  grid_dim = grid;
  block_dim = block;
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) {
        block_idx.x = x;
        block_idx.y = y;
        block_idx.z = z;
        run_block();
      }
}

}  // namespace emu

// ---------------------------------------------------------------- runtime

const char* cudaGetErrorString(cudaError_t error) { return error == cudaSuccess ? "no error" : "emulated error"; }
cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : cudaErrorInvalidValue; }
cudaError_t cudaGetLastError() { return cudaSuccess; }
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int) {
  std::snprintf(prop->name, sizeof(prop->name), "cuda_emu (host emulation)");
  prop->major = 9;
  prop->minor = 0;
  prop->multiProcessorCount = 4;
  return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int* version) {
  *version = 13000;
  return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr, int) {
  *value = 4;  // few "SMs": launch plans stay small
  return cudaSuccess;
}
cudaError_t cudaMalloc(void** ptr, size_t bytes) {
  *ptr = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
  if (!*ptr) return cudaErrorMemoryAllocation;
  {
    std::lock_guard<std::mutex> lock(emu::allocations_mutex);
    emu::allocations[reinterpret_cast<uintptr_t>(*ptr)] = bytes;
  }
  // Poison: a kernel that reads memory nothing wrote sees NaN-like garbage.
  std::memset(*ptr, 0xff, bytes);
  return cudaSuccess;
}
cudaError_t cudaFree(void* ptr) {
  {
    std::lock_guard<std::mutex> lock(emu::allocations_mutex);
    emu::allocations.erase(reinterpret_cast<uintptr_t>(ptr));
  }
  std::free(ptr);
  return cudaSuccess;
}
// The kind must match where the pointers live, as on a device.
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (bytes > 0) {
    const bool dst_dev = emu::is_device_pointer(dst), src_dev = emu::is_device_pointer(src);
    const bool ok = kind == cudaMemcpyDefault || (kind == cudaMemcpyHostToHost && !dst_dev && !src_dev) ||
                    (kind == cudaMemcpyHostToDevice && dst_dev && !src_dev) ||
                    (kind == cudaMemcpyDeviceToHost && !dst_dev && src_dev) ||
                    (kind == cudaMemcpyDeviceToDevice && dst_dev && src_dev);
    if (!ok) {
      std::fprintf(stderr, "cuda_emu: cudaMemcpy kind %d does not match the pointers (dst %s, src %s)\n", int(kind),
                   dst_dev ? "device" : "host", src_dev ? "device" : "host");
      std::abort();
    }
  }
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t) {
  return cudaMemcpy(dst, src, bytes, kind);
}
cudaError_t cudaMemsetAsync(void* ptr, int value, size_t bytes, cudaStream_t) {
  if (bytes > 0 && !emu::is_device_pointer(ptr)) {
    std::fprintf(stderr, "cuda_emu: cudaMemsetAsync on host memory\n");
    std::abort();
  }
  std::memset(ptr, value, bytes);
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
cudaError_t cudaEventCreate(cudaEvent_t* event) {
  *event = nullptr;
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventRecord(cudaEvent_t, cudaStream_t) { return cudaSuccess; }
cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t, cudaEvent_t) {
  *ms = 1.0f;
  return cudaSuccess;
}

// ---------------------------------------------------------------- cuBLAS

const char* cublasGetStatusName(cublasStatus_t status) {
  return status == CUBLAS_STATUS_SUCCESS ? "CUBLAS_STATUS_SUCCESS" : "CUBLAS_STATUS_INVALID_VALUE";
}
cublasStatus_t cublasCreate(cublasHandle_t* handle) {
  *handle = reinterpret_cast<cublasHandle_t>(new char[1]);
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  delete[] reinterpret_cast<char*>(handle);
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream(cublasHandle_t, cudaStream_t) { return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetWorkspace(cublasHandle_t, void*, size_t) { return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetMathMode(cublasHandle_t, cublasMath_t) { return CUBLAS_STATUS_SUCCESS; }

// Column-major: C (m x n, ld ldc) = alpha op(A) op(B) + beta C; op(A) is m x k,
// stored (m x k, ld lda) when N, (k x m, ld lda) when T. beta = 0 never reads C.
// The argument checks are cuBLAS's documented ones.
namespace {

// A float32 input as a TF32 tensor core may see it: the low 13 mantissa bits cleared.
float truncate_to_tf32(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  bits &= ~uint32_t(0x1FFF);
  std::memcpy(&v, &bits, sizeof(bits));
  return v;
}

cublasStatus_t gemm_strided_batched(cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,
                                    const float* alpha, const float* A, int lda, long long strideA, const float* B,
                                    int ldb, long long strideB, const float* beta, float* C, int ldc,
                                    long long strideC, int batchCount, bool tf32) {
  const int a_rows = transa == CUBLAS_OP_N ? m : k, b_rows = transb == CUBLAS_OP_N ? k : n;
  if (m < 0 || n < 0 || k < 0 || batchCount < 0 || lda < std::max(1, a_rows) || ldb < std::max(1, b_rows) ||
      ldc < std::max(1, m)) {
    std::fprintf(stderr, "cuda_emu: cublasSgemm invalid arguments m %d n %d k %d lda %d ldb %d ldc %d\n", m, n, k, lda,
                 ldb, ldc);
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  // Operands in device memory, scalars on the host (the default pointer mode).
  if (!emu::is_device_pointer(A) || !emu::is_device_pointer(B) || !emu::is_device_pointer(C) ||
      emu::is_device_pointer(alpha) || emu::is_device_pointer(beta)) {
    std::fprintf(stderr, "cuda_emu: cublasSgemm operands must be device pointers and alpha/beta host pointers\n");
    std::abort();
  }
  for (int b = 0; b < batchCount; ++b) {
    const float* Ab = A + b * strideA;
    const float* Bb = B + b * strideB;
    float* Cb = C + b * strideC;
    for (int j = 0; j < n; ++j)
      for (int i = 0; i < m; ++i) {
        double acc = 0.0;
        for (int p = 0; p < k; ++p) {
          float a = transa == CUBLAS_OP_N ? Ab[i + size_t(p) * lda] : Ab[p + size_t(i) * lda];
          float bv = transb == CUBLAS_OP_N ? Bb[p + size_t(j) * ldb] : Bb[j + size_t(p) * ldb];
          if (tf32) a = truncate_to_tf32(a), bv = truncate_to_tf32(bv);
          acc += double(a) * double(bv);
        }
        float& c = Cb[i + size_t(j) * ldc];
        c = float(double(*alpha) * acc + (*beta == 0.0f ? 0.0 : double(*beta) * double(c)));
      }
  }
  return CUBLAS_STATUS_SUCCESS;
}

}  // namespace

cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t, cublasOperation_t transa, cublasOperation_t transb, int m,
                                         int n, int k, const float* alpha, const float* A, int lda, long long strideA,
                                         const float* B, int ldb, long long strideB, const float* beta, float* C,
                                         int ldc, long long strideC, int batchCount) {
  return gemm_strided_batched(transa, transb, m, n, k, alpha, A, lda, strideA, B, ldb, strideB, beta, C, ldc, strideC,
                              batchCount, false);
}

cublasStatus_t cublasGemmEx(cublasHandle_t, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,
                            const void* alpha, const void* A, cudaDataType Atype, int lda, const void* B,
                            cudaDataType Btype, int ldb, const void* beta, void* C, cudaDataType Ctype, int ldc,
                            cublasComputeType_t compute, cublasGemmAlgo_t) {
  if (Atype != CUDA_R_32F || Btype != CUDA_R_32F || Ctype != CUDA_R_32F) {
    std::fprintf(stderr, "cuda_emu: cublasGemmEx supports float32 operands only\n");
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  return gemm_strided_batched(transa, transb, m, n, k, static_cast<const float*>(alpha),
                              static_cast<const float*>(A), lda, 0, static_cast<const float*>(B), ldb, 0,
                              static_cast<const float*>(beta), static_cast<float*>(C), ldc, 0, 1,
                              compute == CUBLAS_COMPUTE_32F_FAST_TF32);
}

cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                           int k, const float* alpha, const float* A, int lda, const float* B, int ldb,
                           const float* beta, float* C, int ldc) {
  return cublasSgemmStridedBatched(handle, transa, transb, m, n, k, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1);
}
