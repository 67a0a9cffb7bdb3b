#include "runtime/threads.h"

#include <omp.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "tensor/error.h"

namespace dcsr {

namespace {
// Runs during static initialisation, before main(): an exception here would
// end in std::terminate's multi-line abort, so a bad value is reported on one
// line and the program exits with status 2 (a usage error, as for a bad option).
int threads_from_environment() {
  if (const char* value = std::getenv("DCSR_NUM_THREADS"); value && *value) {
    char* end = nullptr;
    errno = 0;
    const long n = std::strtol(value, &end, 10);
    if (errno != 0 || end == value || *end != 0 || n < 1 || n > kMaxThreads) {
      std::fprintf(stderr, "error: environment variable DCSR_NUM_THREADS='%.64s' is not a thread count "
                   "(an integer from 1 to %d)\n", value, kMaxThreads);
      std::exit(2);
    }
    return int(n);
  }
  const unsigned cores = std::thread::hardware_concurrency();
  return cores ? int(std::min<unsigned>(cores, unsigned(kMaxThreads))) : 1;
}

int& thread_setting() {
  static int threads = [] {
    int n = threads_from_environment();
    omp_set_num_threads(n);
    return n;
  }();
  return threads;
}

// Applies the setting at start-up, before any kernel asks OpenMP for threads.
const int applied_at_startup = thread_setting();
}  // namespace

int num_threads() { return thread_setting(); }

void set_num_threads(int threads) {
  DCSR_CHECK(threads >= 1 && threads <= kMaxThreads, "set_num_threads: ", threads,
             " is not a thread count (an integer from 1 to ", kMaxThreads, ")");
  thread_setting() = threads;
  omp_set_num_threads(threads);
}

}  // namespace dcsr
