#include "runtime/device.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "runtime/profiler.h"
#include "tensor/error.h"

#ifdef DCSR_HAVE_CUDA
#include <cuda_runtime.h>

#include "runtime/cuda_check.h"
#endif

namespace dcsr::runtime {

bool cuda_built() {
#ifdef DCSR_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

namespace {
std::atomic<bool> g_cuda_runtime_started{false};

struct CudaProbe {
  bool available = false;
  std::string reason;
};

// Asked once; a machine without a driver answers "driver version is insufficient"
// or "no CUDA-capable device", which we report and treat as "no GPU".
const CudaProbe& probe() {
  static const CudaProbe result = [] {
    CudaProbe p;
#ifdef DCSR_HAVE_CUDA
    int count = 0;
    cudaError_t status = cudaGetDeviceCount(&count);
    if (status != cudaSuccess) {
      p.reason = std::string("cudaGetDeviceCount failed: ") + cudaGetErrorString(status);
      cudaGetLastError();  // clear the sticky error state
    } else if (count == 0) {
      p.reason = "no CUDA device found";
    } else {
      p.available = true;
      g_cuda_runtime_started = true;
    }
#else
    p.reason = "dcsr was built without CUDA (configure with -DDCSR_CUDA=ON on a machine with nvcc)";
#endif
    return p;
  }();
  return result;
}
}  // namespace

bool cuda_available() { return probe().available; }
bool cuda_runtime_started() { return g_cuda_runtime_started; }
std::string cuda_unavailable_reason() { return probe().available ? "" : probe().reason; }

std::string cuda_device_description() {
  if (!cuda_available()) return "none (" + cuda_unavailable_reason() + ")";
#ifdef DCSR_HAVE_CUDA
  cudaDeviceProp prop{};
  DCSR_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  int driver = 0;
  DCSR_CUDA_CHECK(cudaDriverGetVersion(&driver));
  return detail::concat(prop.name, " (sm_", prop.major, prop.minor, ", ", prop.multiProcessorCount,
                        " SMs, driver ", driver / 1000, ".", (driver % 1000) / 10, ")");
#else
  return "none";
#endif
}

void* cuda_raw_alloc(size_t bytes) {
  DCSR_CHECK(cuda_available(), "CUDA memory requested but CUDA is unavailable: ", cuda_unavailable_reason());
#ifdef DCSR_HAVE_CUDA
  void* ptr = nullptr;
  cudaError_t status = cudaMalloc(&ptr, bytes);
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    return nullptr;  // the caching pool frees its cache and retries once
  }
  // Any other error is not for lack of memory (after a kernel's illegal
  // address every call fails): said as it is, not as "out of memory".
  DCSR_CHECK(status == cudaSuccess, "cudaMalloc of ", bytes, " bytes failed: ", cudaGetErrorString(status));
  return ptr;
#else
  (void)bytes;
  return nullptr;
#endif
}

const char* cuda_raw_free(void* ptr, size_t) noexcept {
#ifdef DCSR_HAVE_CUDA
  const cudaError_t status = cudaFree(ptr);
  return status == cudaSuccess ? nullptr : cudaGetErrorString(status);
#else
  (void)ptr;
  return nullptr;
#endif
}

void cuda_synchronize() {
#ifdef DCSR_HAVE_CUDA
  if (cuda_available()) DCSR_CUDA_CHECK(cudaDeviceSynchronize());
#endif
}

void cuda_select_device(int index) {
#ifdef DCSR_HAVE_CUDA
  DCSR_CHECK(cuda_available(), "cuda_select_device: ", cuda_unavailable_reason());
  int count = 0;
  DCSR_CUDA_CHECK(cudaGetDeviceCount(&count));
  DCSR_CUDA_CHECK(cudaSetDevice(index % count));
#else
  (void)index;
#endif
}

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  if (bytes == 0) return;
  if (dst_device == Device::CPU && src_device == Device::CPU) {
    std::memcpy(dst, src, bytes);
    return;
  }
#ifdef DCSR_HAVE_CUDA
  cudaMemcpyKind kind = dst_device == Device::CPU   ? cudaMemcpyDeviceToHost
                        : src_device == Device::CPU ? cudaMemcpyHostToDevice
                                                    : cudaMemcpyDeviceToDevice;
  const KernelScope scope("copy", Device::CUDA,
                          kind == cudaMemcpyDeviceToHost   ? "to_host"
                          : kind == cudaMemcpyHostToDevice ? "to_device"
                                                           : "on_device");
  DCSR_CUDA_CHECK(cudaMemcpy(dst, src, bytes, kind));
#else
  fail("copy between ", device_name(src_device), " and ", device_name(dst_device), ": ",
       cuda_unavailable_reason());
#endif
}

}  // namespace dcsr::runtime
