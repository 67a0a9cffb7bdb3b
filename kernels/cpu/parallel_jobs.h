// A parallel loop over jobs that tells each job which thread slot runs it,
// so that a kernel can give every thread its own scratch (column chunks,
// interpolated rows, gradient accumulators) from one preallocated tensor.
#pragma once
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>

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
// can own a piece of scratch memory.
//
// By default each thread owns the contiguous range [jobs*t/n, jobs*(t+1)/n)
// and takes its jobs in order; a thread whose range is done takes the next
// untaken jobs of the other ranges. Owning a range keeps a layer's rows on
// the core that wrote them in the layer before (the ranges of two layers of
// one size coincide): handed out one at a time to whichever thread was free,
// half of a 2-thread convolution's input had just been written by the other
// core, and a chain of 32-channel convolutions ran 1.33x slower than the
// same convolutions on an input no conv writes (1.13x now; dcsr_bench's
// conv2d_32x32_k3_228x292_chain line). Taking over the
// rest of a slow thread's range keeps both cores busy when one of them also
// serves another process. Which slot runs a job then varies from run to
// run; with `fixed`, thread t runs exactly its own range, so that sums
// accumulated per slot are the same from run to run.
template <typename Fn>
void run_jobs(int64_t jobs, int workers, Fn&& fn, bool fixed = false) {
  if (jobs <= 0) return;
  if (workers <= 1) {
    for (int64_t j = 0; j < jobs; ++j) fn(j, 0);
    return;
  }
  // next[t]: the first untaken job of thread t's range, on its own cache line.
  struct alignas(64) Cursor {
    std::atomic<int64_t> next{0};
  };
  std::unique_ptr<Cursor[]> cursors;
  if (!fixed) {
    cursors.reset(new Cursor[size_t(workers)]);
    for (int t = 0; t < workers; ++t) cursors[size_t(t)].next.store(jobs * t / workers, std::memory_order_relaxed);
  }
#pragma omp parallel num_threads(workers)
  {
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    if (fixed || nt != workers) {
      for (int64_t j = jobs * t / nt; j < jobs * (t + 1) / nt; ++j) fn(j, int(t));
    } else {
      // Its own range first, then the others' in turn.
      for (int64_t k = 0; k < nt; ++k) {
        const int64_t owner = (t + k) % nt, end = jobs * (owner + 1) / nt;
        std::atomic<int64_t>& next = cursors[size_t(owner)].next;
        for (int64_t j = next.fetch_add(1, std::memory_order_relaxed); j < end;
             j = next.fetch_add(1, std::memory_order_relaxed))
          fn(j, int(t));
      }
    }
  }
}

}  // namespace dcsr::kernels::cpu
