// cuBLAS is loaded by its first call, not at the start of every process
// (kernels/cuda/cublas_on_demand.cu): a `dcsr` command that computes nothing
// on a GPU never maps the library, and the library's entry points reach the
// real cuBLAS once called. Neither needs a GPU.
#include <string>

#include "cli_runner.h"

#if defined(DCSR_HAVE_CUDA) && !defined(DCSR_CUDA_EMU)
#include <cublas_v2.h>
#endif

using dcsr::test::run_dcsr;

TEST_CASE("the dcsr command starts without mapping cuBLAS", "[cublas][cli]") {
  // glibc's loader names every library it maps on stderr when LD_DEBUG=files.
  ::setenv("LD_DEBUG", "files", 1);  // inherited by the child process
  const dcsr::test::RunResult traced = run_dcsr("help", ".");
  ::unsetenv("LD_DEBUG");
  INFO(traced.output.substr(0, 4000));
  REQUIRE(traced.status == 0);
  // The control: the trace is there (every process maps the C library).
  REQUIRE_THAT(traced.output, Catch::Contains("libc.so.6"));
  CHECK_THAT(traced.output, !Catch::Contains("libcublas"));
}

#if defined(DCSR_HAVE_CUDA) && !defined(DCSR_CUDA_EMU)
TEST_CASE("cuBLAS's entry points reach the library on demand", "[cublas]") {
  // Two statuses, two names: only the library itself knows them both.
  CHECK(std::string(cublasGetStatusName(CUBLAS_STATUS_SUCCESS)) == "CUBLAS_STATUS_SUCCESS");
  CHECK(std::string(cublasGetStatusName(CUBLAS_STATUS_INVALID_VALUE)) == "CUBLAS_STATUS_INVALID_VALUE");
}
#endif
