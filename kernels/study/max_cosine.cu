// Study: patch matching (dcsr-spec §4.1), max and FIRST argmax over keys of
// the query-key dot products. q: (N, D, Nq), k: (N, D, Nk).
//
//   version 0  production: kernels/cuda/max_cosine.cu, the fused sweep of
//              kernels/cuda/dot_sweep.cuh (128 x 128 register tiles, double-buffered
//              D steps, running max/argmax per query, keys cut into chunks)
//   version 1  unfused: cuBLAS SGEMM of all scores (N, Nk, Nq) into a buffer, then
//              the production max_along over the keys (first index): Nq * Nk * 4
//              bytes of extra memory, the thing the fused kernel avoids
//
// The goal: version 0 at >= 50% of cuBLAS SGEMM throughput on the same shape,
// which this program times in the same run. The two numbers for 4096 x 4096
// x 576: 19.3 GFLOP (~0.4 ms at 50 TFLOP/s) against 19 MB of operands: compute
// bound; the unfused version also writes and reads 64 MB of scores.
//
// Measured on an H200: the chunk count once gave "two blocks per SM" and left
// the last wave part-empty (4x576x1600x6400: 312 blocks on 264 slots, 2.00 ms,
// 0.47 of SGEMM; the 4K tile's 1x144x27556x30976: 432 blocks, 9.2 ms inside the
// model). plan_chunks in kernels/cuda/dot_sweep.cuh now fills whole waves:
// 1.47 ms (0.63) and 7.41 ms (0.65 of peak SGEMM, 0.84 of cuBLAS on that shape).
//
// usage: study_max_cosine [--quick] [--version V] [--shape NxDxNqxNk]...
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cuda/cublas_handle.h"
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/study/study_common.cuh"
#include "tests/op_table.h"

using namespace dcsr;

namespace {

struct MatchCase {
  int64_t N, D, Nq, Nk;
};

void run_case(const MatchCase& c, int only_version, const study::Peaks& peaks) {
  const std::string shape = study::dims({c.N, c.D, c.Nq, c.Nk});
  const double flop = 2.0 * double(c.N) * double(c.D) * double(c.Nq) * double(c.Nk);
  Generator gen(31);
  Tensor q = study::unit_columns({c.N, c.D, c.Nq}, gen), k = study::unit_columns({c.N, c.D, c.Nk}, gen);
  Tensor conf_ref = empty({c.N, c.Nq}), index_ref = empty({c.N, c.Nq}, kInt64);
  kernels::cpu::max_cosine(q, k, conf_ref, index_ref, int64_t(64) << 20);
  Tensor dq = q.to(kCUDA), dk = k.to(kCUDA);
  Tensor conf = empty({c.N, c.Nq}, kFloat32, kCUDA), index = empty({c.N, c.Nq}, kInt64, kCUDA);

  // The same product through cuBLAS: scores (Nk x Nq) = K^T Q per image, row-major,
  // i.e. column-major (Nq x Nk) = Q^T K: m = Nq, n = Nk, k = D.
  Tensor scores = empty({c.N, c.Nk, c.Nq}, kFloat32, kCUDA);
  cublasHandle_t handle = kernels::cuda::cublas_handle();
  const float one = 1.0f, zero = 0.0f;
  auto gemm = [&] {
    DCSR_CUBLAS_CHECK(cublasSgemmStridedBatched(handle, CUBLAS_OP_N, CUBLAS_OP_T, int(c.Nq), int(c.Nk), int(c.D), &one,
                                                dq.data<float>(), int(c.Nq), c.D * c.Nq, dk.data<float>(), int(c.Nk),
                                                c.D * c.Nk, &zero, scores.data<float>(), int(c.Nq), c.Nk * c.Nq,
                                                int(c.N)));
  };
  const double gemm_ms = study::time_ms(gemm);
  study::print_baseline("max_cosine", shape, "cuBLAS SGEMM of the same scores", gemm_ms, flop, peaks);

  Tensor values = empty({c.N, 1, c.Nq}, kFloat32, kCUDA), argmax = empty({c.N, 1, c.Nq}, kInt64, kCUDA);
  // The confidences are checked here, the indices after each version.
  const std::vector<study::Version> versions = {
      {"production: fused tiled sweep with running max/argmax", {&conf}, {&conf_ref}, 1e-5,
       [&] { kernels::cuda::max_cosine(dq, dk, conf, index, int64_t(64) << 20); }},
      {"unfused: cuBLAS scores + max_along", {&conf}, {&conf_ref}, 1e-5,
       [&] {
         gemm();
         kernels::cuda::max_along(scores, 1, false, values, argmax);
         DCSR_CUDA_CHECK(cudaMemcpyAsync(conf.raw_data(), values.raw_data(), conf.nbytes(), cudaMemcpyDeviceToDevice, 0));
         DCSR_CUDA_CHECK(cudaMemcpyAsync(index.raw_data(), argmax.raw_data(), index.nbytes(), cudaMemcpyDeviceToDevice, 0));
       }},
  };
  study::run_versions("max_cosine", shape, versions, only_version, flop, 0.0, peaks,
                      [&](int v, const study::Check& check, double ms) {
                        // Version 0 computes every dot product as the CPU does (one fma
                        // chain), so its indices should match exactly; cuBLAS sums in
                        // another order, so version 1 may pick another key where two
                        // scores are within rounding. (Timing reran the version: the
                        // same indices, both versions being deterministic.)
                        std::printf("{\"study\": \"max_cosine\", \"shape\": \"%s\", \"version\": %d, "
                                    "\"index_mismatches\": %lld%s}\n",
                                    shape.c_str(), v, (long long)study::mismatches(index, index_ref),
                                    check.ok ? (", \"vs_same_shape_sgemm\": " + std::to_string(gemm_ms / ms)).c_str()
                                             : "");
                      });
}

}  // namespace

int main(int argc, char** argv) {
  return study::study_main(argc, argv, "max_cosine", "NxDxNqxNk", 4, [](const study::Options& o,
                                                                        const study::Peaks& peaks) {
    std::vector<MatchCase> cases;
    for (const std::vector<int64_t>& f : o.shapes) cases.push_back({f[0], f[1], f[2], f[3]});
    if (cases.empty() && study::quick_mode()) cases = {{2, 20, 131, 203}, {1, 9, 40, 700}};
    // The op table's GPU sizes of max_cosine (tests/op_rows_dcsr.h), (N, D, queries, keys).
    if (cases.empty())
      for (const std::vector<int64_t>& s : study::table_gpu_sizes(test::op_row("max_cosine")))
        cases.push_back({s.at(0), s.at(1), s.at(2), s.at(3)});
    for (const MatchCase& c : cases) run_case(c, o.only_version, peaks);
  });
}
