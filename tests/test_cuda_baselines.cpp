// The GPU benches' baselines (kernels/cuda_baselines.h): cuBLAS SGEMM called
// directly, in every layout apps/bench/bench_cuda.cpp times (one product, A
// stored transposed, batched with a shared A, batched with A transposed),
// against our matmul on the CPU; and the CUDA-event timer's shape of answer.
// Skipped without a GPU.
#include <algorithm>

#include "cuda_parity.h"
#include "kernels/cuda_baselines.h"

using namespace dcsr;
namespace baselines = kernels::cuda_baselines;

namespace {

// a (batch_a, M, K) or (batch_a, K, M) when trans_a; b (batch, K, N); batch_a 1 or batch.
void check_sgemm(int64_t batch, int64_t batch_a, int64_t M, int64_t N, int64_t K, bool trans_a) {
  INFO("batch " << batch << " (A " << batch_a << "), " << M << "x" << N << "x" << K << (trans_a ? ", A^T" : ""));
  const Tensor a = test::f32(trans_a ? Shape{batch_a, K, M} : Shape{batch_a, M, K}, 71);
  const Tensor b = test::f32({batch, K, N}, 72);
  const Tensor da = a.to(kCUDA), db = b.to(kCUDA);
  Tensor dc = full({batch, M, N}, -7.0, kFloat32, kCUDA);
  baselines::SgemmArgs g;
  g.a = da.data<float>(), g.b = db.data<float>(), g.c = dc.data<float>();
  g.M = M, g.N = N, g.K = K, g.trans_a = trans_a;
  if (batch > 1) {
    g.batched = true, g.batch = batch;
    g.stride_a = batch_a == 1 ? 0 : M * K, g.stride_b = K * N, g.stride_c = M * N;
  }
  baselines::sgemm(g);
  const Tensor got = dc.to(kCPU);
  auto matrix = [](const Tensor& t, int64_t i) { return narrow(t, 0, i, 1).reshape({t.size(1), t.size(2)}); };
  for (int64_t i = 0; i < batch; ++i) {
    const Tensor want = matmul(matrix(a, batch_a == 1 ? 0 : i), matrix(b, i), trans_a, false);
    test::require_close(matrix(got, i), want, 1e-4, 1e-4);
  }
}

}  // namespace

TEST_CASE("cuda: the benches' cuBLAS SGEMM baseline equals matmul in every layout they use", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  check_sgemm(1, 1, 37, 53, 29, false);  // bench_matmul
  check_sgemm(1, 1, 37, 53, 29, true);   // bench_matmul, the matching's K^T Q
  check_sgemm(3, 1, 5, 70, 27, false);   // bench_conv2d: one W for every image's columns
  check_sgemm(2, 2, 41, 33, 9, true);    // bench_max_cosine: per batch entry K^T Q
  const std::vector<double> times = baselines::event_times_ms([] { Tensor t = zeros({1024}, kFloat32, kCUDA); }, 1, 5);
  REQUIRE(times.size() == 5);
  CHECK(std::is_sorted(times.begin(), times.end()));
}
