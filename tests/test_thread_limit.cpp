// One thread limit (runtime/threads.h kMaxThreads) for --threads and the
// environment variable DCSR_NUM_THREADS: values outside 1..kMaxThreads are
// refused with one line naming the option or the variable and the range.
#include <atomic>
#include <mutex>
#include <set>
#include <stdexcept>
#include <vector>

#include "cli_runner.h"
#include "runtime/threads.h"

using namespace dcsr;

namespace {

// `dcsr resize --help` with DCSR_NUM_THREADS=value (the variable is read at start-up, before any option).
test::RunResult run_with_environment(const std::string& value) {
  return test::run_shell("env -u DCSR_MODEL DCSR_NUM_THREADS=" + test::quote(value) + " " +
                         test::quote(std::string(DCSR_BIN_DIR) + "/dcsr") + " resize --help 2>&1");
}

int lines(const std::string& text) {
  int n = 0;
  for (char c : text) n += c == '\n';
  return n;
}

}  // namespace

TEST_CASE("errors: DCSR_NUM_THREADS outside 1..kMaxThreads is one line naming the variable, exit 2",
          "[threads][cli]") {
  const std::string max = std::to_string(kMaxThreads);
  for (const std::string& value : {std::to_string(kMaxThreads + 1), std::string("0"), std::string("-3"),
                                  std::string("abc"), std::string("4x"), std::string("99999999999999999999")}) {
    INFO("DCSR_NUM_THREADS=" << value);
    const test::RunResult r = run_with_environment(value);
    CHECK(r.status == 2);
    CHECK_THAT(r.output, Catch::Contains("DCSR_NUM_THREADS='" + value + "'") &&
                             Catch::Contains("from 1 to " + max));
    CHECK(lines(r.output) == 1);
  }
  // The limit itself is accepted.
  CHECK(run_with_environment(max).status == 0);
}

TEST_CASE("errors: --threads takes the same range as DCSR_NUM_THREADS", "[threads][cli]") {
  const test::RunResult over = test::run_dcsr("resize --threads " + std::to_string(kMaxThreads + 1) +
                                              " --in missing.png --out x.png --size 4x4");
  CHECK(over.status == 2);
  CHECK_THAT(over.output, Catch::Contains("--threads") && Catch::Contains("1 to " + std::to_string(kMaxThreads)));
  CHECK(lines(over.output) == 1);
  // set_num_threads refuses the same values.
  CHECK_THROWS_AS(set_num_threads(kMaxThreads + 1), Error);
  CHECK_THROWS_AS(set_num_threads(0), Error);
  const int before = num_threads();
  set_num_threads(kMaxThreads);
  CHECK(num_threads() == kMaxThreads);
  set_num_threads(before);
}

TEST_CASE("threads: ScopedThreadLimit narrows the calling thread's loops, never widens them, and restores them",
          "[threads]") {
  const int before = omp_get_max_threads();
  auto threads_used = [] {
    std::mutex m;
    std::set<int> ids;
    parallel_for(1000, 1, [&](int64_t, int64_t) {
      std::lock_guard<std::mutex> lock(m);
      ids.insert(omp_get_thread_num());
    });
    return int(ids.size());
  };
  {
    ScopedThreadLimit one(1);
    CHECK(omp_get_max_threads() == 1);
    CHECK(threads_used() == 1);
    {
      ScopedThreadLimit more(before + 5);
      CHECK(omp_get_max_threads() == 1);
    }
    CHECK(omp_get_max_threads() == 1);
  }
  CHECK(omp_get_max_threads() == before);
  CHECK(threads_used() == before);
  {
    ScopedThreadLimit none(0);  // at least one thread
    CHECK(omp_get_max_threads() == 1);
  }
  CHECK(omp_get_max_threads() == before);
}

TEST_CASE("threads: parallel_jobs runs every job once, in order on one thread, and rethrows a job's error",
          "[threads]") {
  std::vector<std::atomic<int>> runs(1000);
  parallel_jobs(1000, [&](int64_t job) { ++runs[size_t(job)]; });
  int64_t once = 0;
  for (const auto& r : runs) once += r.load() == 1;
  CHECK(once == 1000);
  {
    ScopedThreadLimit one(1);
    std::vector<int64_t> order;
    parallel_jobs(50, [&](int64_t job) { order.push_back(job); });
    REQUIRE(order.size() == 50);
    for (int64_t k = 0; k < 50; ++k) CHECK(order[size_t(k)] == k);
  }
  std::atomic<int> ran{0};
  CHECK_THROWS_WITH(parallel_jobs(64,
                                  [&](int64_t job) {
                                    ++ran;
                                    if (job == 5) throw std::runtime_error("job 5 failed");
                                  }),
                    "job 5 failed");
  CHECK(ran.load() >= 1);
  parallel_jobs(0, [&](int64_t) { FAIL("no job to run"); });
}
