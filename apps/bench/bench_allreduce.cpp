// The gradient allreduce alone (issue 19: does overlapping it with the
// backward pass pay?): distributed::allreduce_sum on a float32 buffer of the
// width-64 model's gradient size (3.2 M parameters, 12.8 MB) and of smaller
// buckets, against a memcpy of the same bytes measured in the same run.
// Meant for `mpirun -np N build/bin/dcsr_bench --filter allreduce`; every rank
// runs it, rank 0 prints. With one rank the allreduce is a no-op and the line
// says so. Runs only when the filter names it.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "apps/bench/bench.h"
#include "nn/distributed.h"

namespace dcsr::bench {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

DCSR_BENCH(allreduce) {
  if (!opted_in(ctx, "allreduce")) return;
  int argc = 0;
  char** argv = nullptr;
  distributed::init(&argc, &argv);  // a no-op outside mpirun
  const distributed::World& w = distributed::world();
  const int repeats = ctx.quick ? 5 : 20;
  for (int64_t floats : {int64_t(3'200'000), int64_t(800'000), int64_t(200'000)}) {
    Tensor buffer = full({floats}, 1.0f);
    std::vector<float> copy(size_t(floats), 0.0f);
    std::vector<double> reduce_ms, copy_ms;
    for (int r = 0; r < repeats + 2; ++r) {  // the first two are warm-up
      distributed::barrier();
      auto start = std::chrono::steady_clock::now();
      distributed::allreduce_sum(buffer);
      const double reduce = seconds_since(start) * 1e3;
      start = std::chrono::steady_clock::now();
      std::memcpy(copy.data(), buffer.data<float>(), size_t(floats) * sizeof(float));
      const double copied = seconds_since(start) * 1e3;
      if (r >= 2) reduce_ms.push_back(reduce), copy_ms.push_back(copied);
    }
    // Every rank started at 1 and each allreduce sums: w.size^(repeats + 2).
    const float got = buffer.data<float>()[floats - 1];
    float want = 1.0f;
    for (int r = 0; r < repeats + 2; ++r) want *= float(w.size);
    if (!w.is_root()) continue;
    emit(ctx, {{"name", "allreduce_sum_f32"},
               {"ranks", w.size},
               {"mpi_built", distributed::mpi_built()},
               {"mb", double(floats) * 4 / 1e6},
               {"ms", median(reduce_ms)},
               {"min_ms", *std::min_element(reduce_ms.begin(), reduce_ms.end())},
               {"memcpy_ms", median(copy_ms)},
               // One rank: the allreduce is a no-op, and a ratio against the copy would mean nothing.
               {"vs_memcpy", w.size > 1 ? nlohmann::json(median(copy_ms) / median(reduce_ms)) : nlohmann::json(nullptr)},
               {"sum_correct", got == want},
               {"note", w.size == 1 ? "one rank: the allreduce is a no-op; run under mpirun -np 2" : ""}});
  }
}

}  // namespace dcsr::bench
