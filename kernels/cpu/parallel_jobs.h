// A parallel loop over jobs that tells each job which thread slot runs it,
// so that a kernel can give every thread its own scratch (column chunks,
// interpolated rows, gradient accumulators) from one preallocated tensor.
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace dcsr::kernels::cpu {

// Threads for `jobs` independent jobs: one when called inside a parallel
// region (no nesting), else at most one per job.
inline int job_workers(int64_t jobs) {
  if (jobs <= 1 || omp_in_parallel()) return 1;
  return int(std::min<int64_t>(omp_get_max_threads(), jobs));
}

// Runs fn(job, slot) for job in [0, jobs) on `workers` threads (from
// job_workers), slot = the thread's index in [0, workers), so that each slot
// can own a piece of scratch memory. Contiguous static ranges: which jobs
// share a slot depends only on the counts, so accumulations into per-slot
// buffers are deterministic.
template <typename Fn>
void run_jobs(int64_t jobs, int workers, Fn&& fn) {
  if (jobs <= 0) return;
  if (workers <= 1) {
    for (int64_t j = 0; j < jobs; ++j) fn(j, 0);
    return;
  }
#pragma omp parallel num_threads(workers)
  {
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    for (int64_t j = jobs * t / nt; j < jobs * (t + 1) / nt; ++j) fn(j, int(t));
  }
}

}  // namespace dcsr::kernels::cpu
