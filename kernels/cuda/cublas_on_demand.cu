// cuBLAS, loaded by the first call that needs it rather than by the linker.
//
// Why: libcublas pulls in libcublasLt, a 540 MB library with about 390 000
// relocations. Linked the usual way, the dynamic loader maps and relocates it
// before main in every process, CPU-only runs and `dcsr help` included: 60-75
// ms and 150 MB of resident memory on the 2-core Zen 5 (`DCSR_TIME_PROCESS=1`
// and /proc/self/smaps). On a GPU the first call is the network's warm-up,
// which runs beside the reading and registration of the photos
// (apps/dcsr/sr.cpp), so the load no longer delays the start either.
//
// How: dcsr_core is not linked against cuBLAS (CMakeLists.txt). This file
// defines the eight entry points the library calls, under the names and
// types that cublas_v2.h declares for them (the compiler checks each
// definition against the header: a different parameter list is a conflicting
// declaration of a C function). Each forwards to the library's own function,
// found once with dlsym. The library is found by its soname (the search
// honours LD_LIBRARY_PATH, the executable's run path and the loader's cache),
// then beside the CUDA runtime this process loaded. If neither has it, the
// first cuBLAS call fails with one line naming the library.
//
// Programs that link cuBLAS themselves (none in this tree do) still work:
// these definitions take precedence, and dlsym on the library's handle finds
// the library's own functions.
#if !defined(DCSR_CUDA_EMU)  // the host emulator defines these functions itself (tools/cuda_emu)

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <string>

#include "tensor/error.h"

namespace {

// "libcublas.so.13" for the headers this file is compiled with.
std::string cublas_soname() { return "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR); }

void* open_cublas() {
  const std::string soname = cublas_soname();
  if (void* library = dlopen(soname.c_str(), RTLD_NOW | RTLD_LOCAL)) return library;
  const std::string by_name_error = dlerror();
  // The CUDA runtime's folder: the toolkit keeps its libraries side by side.
  Dl_info runtime{};
  if (dladdr(reinterpret_cast<void*>(&cudaGetDeviceCount), &runtime) && runtime.dli_fname) {
    std::string folder = runtime.dli_fname;
    folder.erase(folder.find_last_of('/') + 1);
    if (void* library = dlopen((folder + soname).c_str(), RTLD_NOW | RTLD_LOCAL)) return library;
  }
  dcsr::fail("cannot load cuBLAS (", soname, "), which the CUDA backend needs: ", by_name_error);
}

// The library's function `name`, of the type `Fn`; loads the library on the
// first call (thread-safe: a function-local static).
template <class Fn>
Fn cublas_function(const char* name) {
  static void* const library = open_cublas();
  void* function = dlsym(library, name);
  if (!function) dcsr::fail("cuBLAS (", cublas_soname(), ") has no function ", name);
  return reinterpret_cast<Fn>(function);
}

}  // namespace

// Each entry point resolves its function once (a static per entry point).
#define DCSR_CUBLAS_REAL(name) static const auto real = cublas_function<decltype(&name)>(#name)

cublasStatus_t CUBLASWINAPI cublasCreate_v2(cublasHandle_t* handle) {
  DCSR_CUBLAS_REAL(cublasCreate_v2);
  return real(handle);
}

cublasStatus_t CUBLASWINAPI cublasDestroy_v2(cublasHandle_t handle) {
  DCSR_CUBLAS_REAL(cublasDestroy_v2);
  return real(handle);
}

cublasStatus_t CUBLASWINAPI cublasSetWorkspace_v2(cublasHandle_t handle, void* workspace,
                                                  size_t workspaceSizeInBytes) {
  DCSR_CUBLAS_REAL(cublasSetWorkspace_v2);
  return real(handle, workspace, workspaceSizeInBytes);
}

cublasStatus_t CUBLASWINAPI cublasSetStream_v2(cublasHandle_t handle, cudaStream_t streamId) {
  DCSR_CUBLAS_REAL(cublasSetStream_v2);
  return real(handle, streamId);
}

cublasStatus_t CUBLASWINAPI cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
  DCSR_CUBLAS_REAL(cublasSetMathMode);
  return real(handle, mode);
}

const char* CUBLASWINAPI cublasGetStatusName(cublasStatus_t status) {
  DCSR_CUBLAS_REAL(cublasGetStatusName);
  return real(status);
}

cublasStatus_t CUBLASWINAPI cublasSgemm_v2(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                           int m, int n, int k, const float* alpha, const float* A, int lda,
                                           const float* B, int ldb, const float* beta, float* C, int ldc) {
  DCSR_CUBLAS_REAL(cublasSgemm_v2);
  return real(handle, transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

cublasStatus_t CUBLASWINAPI cublasSgemmStridedBatched(cublasHandle_t handle, cublasOperation_t transa,
                                                      cublasOperation_t transb, int m, int n, int k,
                                                      const float* alpha, const float* A, int lda,
                                                      long long int strideA, const float* B, int ldb,
                                                      long long int strideB, const float* beta, float* C, int ldc,
                                                      long long int strideC, int batchCount) {
  DCSR_CUBLAS_REAL(cublasSgemmStridedBatched);
  return real(handle, transa, transb, m, n, k, alpha, A, lda, strideA, B, ldb, strideB, beta, C, ldc, strideC,
              batchCount);
}

#undef DCSR_CUBLAS_REAL

#endif  // !DCSR_CUDA_EMU
