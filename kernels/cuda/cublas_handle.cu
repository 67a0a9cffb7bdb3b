// The process-wide cuBLAS handle (see cublas_handle.h).
#include "kernels/cuda/cublas_handle.h"

#include <atomic>
#include <mutex>

#include "runtime/cuda_check.h"
#include "runtime/allocator.h"
#include "runtime/switches.h"

namespace dcsr::kernels::cuda {

namespace {
// cuBLAS asks for 32 MiB of workspace on Hopper (4 MiB on older parts) to
// run its best split-K kernels.
constexpr size_t kWorkspaceBytes = size_t(32) << 20;

struct HandleState {
  std::mutex mutex;
  cublasHandle_t handle = nullptr;
  bool tf32_applied = false;
};

HandleState& state() {
  // Never destroyed: destroying a handle after the CUDA runtime has shut down
  // at exit fails, and the driver reclaims everything anyway.
  static HandleState* s = new HandleState();
  return *s;
}
}  // namespace

const char* cublas_status_string(cublasStatus_t status) { return cublasGetStatusName(status); }

cublasHandle_t cublas_handle() {
  HandleState& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (!s.handle) {
    // The workspace comes from the caching pool and is held for the life of
    // the process (it shows in allocator_stats(kCUDA).bytes_in_use). It is
    // taken first, and the handle is kept only once it runs on it: when any
    // step fails, the call fails naming it and the next call starts over.
    // (A handle kept after a failed workspace ran every later GEMM, without a
    // word, on cuBLAS's own workspace, allocated behind the pool's back, whose
    // size can change the kernels cuBLAS picks and so the sums' rounding.)
    void* workspace = nullptr;
    try {
      workspace = device_allocate(Device::CUDA, kWorkspaceBytes);
    } catch (const Error& e) {
      fail("cuBLAS's workspace of ", kWorkspaceBytes >> 20, " MiB: ", e.what());
    }
    cublasHandle_t handle = nullptr;
    try {
      DCSR_CUBLAS_CHECK(cublasCreate(&handle));
      DCSR_CUBLAS_CHECK(cublasSetStream(handle, 0));  // before the workspace: setting a stream resets it
      DCSR_CUBLAS_CHECK(cublasSetWorkspace(handle, workspace, kWorkspaceBytes));
      DCSR_CUBLAS_CHECK(cublasSetMathMode(handle, CUBLAS_DEFAULT_MATH));
    } catch (...) {
      // Cleanup on the way out of a failure: its own errors are not reported.
      if (handle) cublasDestroy(handle);
      device_deallocate(Device::CUDA, workspace, kWorkspaceBytes);
      throw;
    }
    s.handle = handle;
    s.tf32_applied = false;
  }
  const bool want = runtime::cuda_tf32();
  if (want != s.tf32_applied) {
    DCSR_CUBLAS_CHECK(cublasSetMathMode(s.handle, want ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    s.tf32_applied = want;
  }
  return s.handle;
}

}  // namespace dcsr::kernels::cuda
