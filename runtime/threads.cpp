#include "runtime/threads.h"

#include <omp.h>

#include <cstdlib>
#include <string>
#include <thread>

#include "tensor/error.h"

namespace dcsr {

namespace {
int threads_from_environment() {
  if (const char* value = std::getenv("DCSR_NUM_THREADS"); value && *value) {
    char* end = nullptr;
    long n = std::strtol(value, &end, 10);
    DCSR_CHECK(end && *end == 0 && n >= 1 && n <= 4096, "DCSR_NUM_THREADS='", value,
               "' is not a thread count (a positive integer)");
    return int(n);
  }
  unsigned cores = std::thread::hardware_concurrency();
  return cores ? int(cores) : 1;
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
  DCSR_CHECK(threads >= 1, "set_num_threads: ", threads, " is not a positive thread count");
  thread_setting() = threads;
  omp_set_num_threads(threads);
}

}  // namespace dcsr
