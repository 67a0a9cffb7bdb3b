// The CPU thread setting and the parallel loop every CPU kernel and the
// pipeline use.
#pragma once
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>

#include "runtime/heartbeat.h"

namespace dcsr {

// The most CPU threads a run may ask for, through --threads or
// DCSR_NUM_THREADS alike (libgomp fails with its own message far above it).
constexpr int kMaxThreads = 1024;

// Threads used by CPU kernels (OpenMP and Eigen). Initialised once from the
// environment variable DCSR_NUM_THREADS (1 to kMaxThreads), else the number of
// cores (at most kMaxThreads). A DCSR_NUM_THREADS that is not such a number
// ends the program at start-up with a one-line error naming the variable and
// exit status 2.
int num_threads();
// 1 <= threads <= kMaxThreads, else throws dcsr::Error.
void set_num_threads(int threads);

// Within its scope, the parallel loops started by the calling thread use at
// most `threads` threads (at least 1); the thread's setting comes back at the
// scope's end. For work that shares the cores with another busy thread: the
// loops split their work evenly, so one of their threads that shares a core
// holds up every loop (dcsr sr while the model loads beside it on CUDA).
class ScopedThreadLimit {
 public:
  explicit ScopedThreadLimit(int threads) : previous_(omp_get_max_threads()) {
    omp_set_num_threads(std::max(1, std::min(threads, previous_)));
  }
  ~ScopedThreadLimit() { omp_set_num_threads(previous_); }
  ScopedThreadLimit(const ScopedThreadLimit&) = delete;
  ScopedThreadLimit& operator=(const ScopedThreadLimit&) = delete;

 private:
  int previous_;
};

// Runs fn(begin, end) on contiguous chunks of [0, n), one per thread, when
// there is more than `grain` work items; otherwise runs fn(0, n) here. Nested
// calls (inside another parallel region) run serially.
template <typename Fn>
void parallel_for(int64_t n, int64_t grain, Fn&& fn) {
  if (n <= 0) return;
  runtime::heartbeat();  // a sign of life, where a scope asks for one (runtime/heartbeat.h)
  int threads = omp_get_max_threads();
  if (n <= grain || threads == 1 || omp_in_parallel()) {
    fn(int64_t(0), n);
    return;
  }
  int64_t chunks = std::min<int64_t>(threads, (n + grain - 1) / std::max<int64_t>(grain, 1));
#pragma omp parallel num_threads(int(chunks))
  {
    int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    int64_t begin = n * t / nt, end = n * (t + 1) / nt;
    if (begin < end) fn(begin, end);
  }
}

// Runs fn(job) for every job in [0, jobs), each on whichever thread is free
// (for jobs of unequal cost: the next job goes to the first thread done).
// Inside another parallel region, or with one thread, the jobs run here in
// order. The first exception a job throws is rethrown here once every thread
// has stopped (no new job starts after it).
template <typename Fn>
void parallel_jobs(int64_t jobs, Fn&& fn) {
  if (jobs <= 0) return;
  runtime::heartbeat();
  const int threads = int(std::min<int64_t>(omp_get_max_threads(), jobs));
  if (threads <= 1 || omp_in_parallel()) {
    for (int64_t job = 0; job < jobs; ++job) fn(job);
    return;
  }
  std::atomic<int64_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mutex;
#pragma omp parallel num_threads(threads)
  {
    for (int64_t job = next++; job < jobs && !failed.load(); job = next++) {
      try {
        fn(job);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        failed.store(true);
      }
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace dcsr
