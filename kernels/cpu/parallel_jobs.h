// A parallel loop over jobs that tells each job which thread slot runs it,
// so that a kernel can give every thread its own scratch (column chunks,
// interpolated rows, gradient accumulators) from one preallocated tensor.
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace dcsr::kernels::cpu {

// Below about this many scalar operations in total a kernel runs on one
// thread: opening a parallel region costs microseconds, and much more when
// the cores are shared with other processes (a thread spins while its
// partner waits for a core), which would make small ops (gradchecks, tiny
// layers) hundreds of times slower.
constexpr int64_t kParallelWork = int64_t(1) << 17;

// Threads for `jobs` independent jobs doing about `work` scalar operations
// in all: one inside a parallel region (no nesting) or for little work, else
// at most one per job.
inline int job_workers(int64_t jobs, int64_t work) {
  if (jobs <= 1 || work < kParallelWork || omp_in_parallel()) return 1;
  return int(std::min<int64_t>(omp_get_max_threads(), jobs));
}

// The grain for parallel_for (cpu_common.h) over items of `work_per_item`
// operations each, by the same rule.
inline int64_t grain_for(int64_t work_per_item) {
  return std::max<int64_t>(1, kParallelWork / std::max<int64_t>(work_per_item, 1));
}

// Runs fn(job, slot) for job in [0, jobs) on `workers` threads (from
// job_workers), slot = the thread's index in [0, workers), so that each slot
// can own a piece of scratch memory. By default jobs are handed out one at a
// time to whichever thread is free, which keeps both cores busy when one of
// them is also serving another process. With `fixed`, thread t runs the
// contiguous range [jobs*t/n, jobs*(t+1)/n): which jobs share a slot then
// depends only on the counts, so sums accumulated per slot are the same
// from run to run.
template <typename Fn>
void run_jobs(int64_t jobs, int workers, Fn&& fn, bool fixed = false) {
  if (jobs <= 0) return;
  if (workers <= 1) {
    for (int64_t j = 0; j < jobs; ++j) fn(j, 0);
    return;
  }
#pragma omp parallel num_threads(workers)
  {
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    if (fixed) {
      for (int64_t j = jobs * t / nt; j < jobs * (t + 1) / nt; ++j) fn(j, int(t));
    } else {
#pragma omp for schedule(dynamic, 1)
      for (int64_t j = 0; j < jobs; ++j) fn(j, int(t));
    }
  }
}

}  // namespace dcsr::kernels::cpu
