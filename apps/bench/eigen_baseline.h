// Eigen for the CPU benches' raw-GEMM baselines (bench_core.cpp,
// bench_max_cosine.cpp): our row-major float32 buffers mapped as Eigen
// matrices, multiplied by Eigen directly. GCC 12 reports false
// "maybe-uninitialized" warnings inside the AVX intrinsics that Eigen's
// packet code inlines (as in kernels/cpu/gemm.cpp), hence the pragmas.
#pragma once
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>
#pragma GCC diagnostic pop

namespace dcsr::bench {

using RowMajorF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

}  // namespace dcsr::bench
