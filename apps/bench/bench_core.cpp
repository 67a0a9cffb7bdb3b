// Core benches (issue 2): our matmul against raw Eigen GEMM on the same
// buffers, and elementwise add/mul against memcpy of the same bytes. The
// sizes are the op table's (tests/op_table.h, the rows' `bench`).
#include <cstring>

#include "apps/bench/bench.h"
#include "apps/bench/eigen_baseline.h"
#include "autograd/ops.h"
#include "runtime/threads.h"
#include "tensor/random.h"
#include "apps/bench/table_sizes.h"

namespace dcsr::bench {

namespace {

void bench_matmul(const Context& ctx, int64_t n) {
  std::string name = "matmul_f32_" + std::to_string(n);
  if (!selected(ctx, name)) return;
  NoGradGuard no_grad;
  Generator gen(1);
  Tensor a = uniform({n, n}, gen, -1, 1), b = uniform({n, n}, gen, -1, 1);
  // Baseline: Eigen directly on the same row-major buffers, output preallocated.
  Tensor c_raw = empty({n, n});
  Eigen::Map<const RowMajorF> A(a.data<float>(), n, n), B(b.data<float>(), n, n);
  Eigen::Map<RowMajorF> C(c_raw.data<float>(), n, n);
  Eigen::setNbThreads(ctx.threads);
  auto raw = [&] { C.noalias() = A * B; };
  raw();
  Tensor ours_out = matmul(a, b);
  DCSR_CHECK(max_rel_diff(ours_out, c_raw) < 1e-3, name, ": our matmul disagrees with Eigen");
  int repeats = repeats_for(ctx, 7);
  Timing ours = time_ms([&] { Tensor c = matmul(a, b); }, 2, repeats);
  Timing base = time_ms(raw, 2, repeats);
  double flop = 2.0 * double(n) * double(n) * double(n);
  nlohmann::json line = {{"name", name},
                         {"ms", ours.median_ms},
                         {"gflops", flop / ours.median_ms / 1e6},
                         {"baseline", "raw Eigen GEMM, same buffers"},
                         {"baseline_ms", base.median_ms},
                         {"vs_eigen", base.median_ms / ours.median_ms},
                         {"goal_vs_eigen", 0.9}};
  add_torch_peer(ctx, line, {{"op", "matmul"}, {"n", n}}, true, ours.median_ms);
  emit(ctx, line);
}

// Bytes moved by a binary elementwise op: two reads and one write per element.
void bench_elementwise(const Context& ctx, const char* op_name, Tensor (*op)(const Tensor&, const Tensor&),
                       int64_t n) {
  std::string name = std::string(op_name) + "_f32_" + std::to_string(n);
  if (!selected(ctx, name)) return;
  NoGradGuard no_grad;
  Generator gen(2);
  Tensor a = uniform({n}, gen, 1, 2), b = uniform({n}, gen, 1, 2);
  {
    Tensor c = op(a, b);
    const float *pa = a.data<float>(), *pb = b.data<float>(), *pc = c.data<float>();
    for (int64_t i = 0; i < n; i += 9973) {
      float expect = std::strcmp(op_name, "add") == 0 ? pa[i] + pb[i] : pa[i] * pb[i];
      DCSR_CHECK(pc[i] == expect, name, ": wrong result at ", i);
    }
  }
  Tensor dst = empty({n});
  const size_t bytes = size_t(n) * sizeof(float);
  int repeats = repeats_for(ctx, 9);
  Timing ours = time_ms([&] { Tensor c = op(a, b); }, 2, repeats);
  // Baselines: one plain memcpy call, and the same split across our threads.
  Timing plain = time_ms([&] { std::memcpy(dst.raw_data(), a.raw_data(), bytes); }, 2, repeats);
  Timing threaded = time_ms(
      [&] {
        parallel_for(n, 1 << 16, [&](int64_t begin, int64_t end) {
          std::memcpy(dst.data<float>() + begin, a.data<float>() + begin, size_t(end - begin) * sizeof(float));
        });
      },
      2, repeats);
  double ours_gbps = 3.0 * double(bytes) / ours.median_ms / 1e6;
  double plain_gbps = 2.0 * double(bytes) / plain.median_ms / 1e6;
  double threaded_gbps = 2.0 * double(bytes) / threaded.median_ms / 1e6;
  nlohmann::json line = {{"name", name},
                         {"ms", ours.median_ms},
                         {"gbps", ours_gbps},
                         {"memcpy_gbps", plain_gbps},
                         {"threaded_memcpy_gbps", threaded_gbps},
                         {"vs_memcpy", ours_gbps / plain_gbps},
                         {"vs_threaded_memcpy", ours_gbps / threaded_gbps},
                         {"goal_vs_memcpy", 0.5},
                         {"note", "gbps counts 2 reads + 1 write for the op, 1 read + 1 write for memcpy"}};
  add_torch_peer(ctx, line, {{"op", op_name}, {"n", n}}, true, ours.median_ms);
  emit(ctx, line);
}
}  // namespace

DCSR_BENCH(core) {
  for (const TableSize& size : table_sizes(ctx, "matmul", kCPU)) bench_matmul(ctx, size.sizes.at(0));  // n x n x n
  using Binary = Tensor (*)(const Tensor&, const Tensor&);
  for (auto [op_name, op] : {std::pair<const char*, Binary>{"add", add}, std::pair<const char*, Binary>{"mul", mul}})
    for (const TableSize& size : table_sizes(ctx, op_name, kCPU))  // elements per operand
      bench_elementwise(ctx, op_name, op, size.sizes.at(0));
}

}  // namespace dcsr::bench
