// runtime/heartbeat.h: a HeartbeatScope's function is called from the
// library's entry points (heartbeat(), parallel_for, parallel_jobs, every
// KernelScope) on the thread that opened it, at most once per interval; never
// on another thread, inside an OpenMP parallel region, or from inside itself.
// Intervals of 0 (every call beats) and of a day (none does) keep the cases
// free of durations.
#include <omp.h>

#include <thread>

#include "runtime/heartbeat.h"
#include "runtime/profiler.h"
#include "runtime/threads.h"
#include "tensor/error.h"
#include "test_util.h"

using namespace dcsr;
using runtime::heartbeat;
using runtime::HeartbeatScope;

namespace {
constexpr double kEveryCall = 0.0;
constexpr double kADay = 86400.0;
}  // namespace

TEST_CASE("heartbeat: a scope's beat comes from heartbeat, parallel loops and kernel entries, once per call",
          "[heartbeat][threads]") {
  heartbeat();  // no scope: nothing to call
  int beats = 0;
  {
    const HeartbeatScope scope([&] { ++beats; }, kEveryCall);
    heartbeat();
    CHECK(beats == 1);
    parallel_for(1000, 1, [](int64_t, int64_t) {});
    CHECK(beats == 2);
    parallel_jobs(4, [](int64_t) {});
    CHECK(beats == 3);
    { const runtime::KernelScope kernel("test:heartbeat", kCPU); }
    CHECK(beats == 4);
  }
  heartbeat();  // the scope is closed
  CHECK(beats == 4);
}

TEST_CASE("heartbeat: not before its interval has passed", "[heartbeat][threads]") {
  int beats = 0;
  const HeartbeatScope scope([&] { ++beats; }, kADay);
  for (int i = 0; i < 100; ++i) heartbeat();
  parallel_for(1000, 1, [](int64_t, int64_t) {});
  CHECK(beats == 0);
}

TEST_CASE("heartbeat: the latest scope of the thread beats, and the earlier one is back after it",
          "[heartbeat][threads]") {
  int outer = 0, inner = 0;
  const HeartbeatScope outer_scope([&] { ++outer; }, kEveryCall);
  {
    const HeartbeatScope inner_scope([&] { ++inner; }, kEveryCall);
    heartbeat();
    CHECK(inner == 1);
    CHECK(outer == 0);
  }
  heartbeat();
  CHECK(inner == 1);
  CHECK(outer == 1);
}

TEST_CASE("heartbeat: never on another thread, inside a parallel region, or from inside the beat",
          "[heartbeat][threads]") {
  int beats = 0, nested_calls = 0;
  const HeartbeatScope scope(
      [&] {
        ++beats;
        heartbeat();  // a beat that reaches an entry point (a kernel, a loop) does not beat again
        ++nested_calls;
      },
      kEveryCall);
  std::thread other([] {
    heartbeat();
    parallel_for(1000, 1, [](int64_t, int64_t) {});
  });
  other.join();
  CHECK(beats == 0);
  // Thread 0 of a region is this thread. (A region that got one thread is
  // not active, omp_in_parallel() is false there, and it runs as serial
  // code would: no call is made then.)
#pragma omp parallel num_threads(2)
  {
    if (omp_in_parallel()) heartbeat();
  }
  CHECK(beats == 0);
  heartbeat();
  CHECK(beats == 1);
  CHECK(nested_calls == 1);
}

TEST_CASE("heartbeat: what a beat throws reaches the entry point's caller, and the scope beats again after",
          "[heartbeat][threads]") {
  int beats = 0;
  const HeartbeatScope scope(
      [&] {
        if (++beats == 1) throw Error("beat failed");
      },
      kEveryCall);
  CHECK_THROWS_WITH(parallel_for(1000, 1, [](int64_t, int64_t) {}), Catch::Contains("beat failed"));
  heartbeat();
  CHECK(beats == 2);
}
