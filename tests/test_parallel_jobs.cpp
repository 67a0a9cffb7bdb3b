// The CPU kernels' parallel loop over jobs (kernels/cpu/parallel_jobs.h,
// reached through kernels/cpu_paths.h): every job runs exactly once on a slot
// in range; a thread whose own range is done takes the untaken jobs of the
// others; with `fixed`, thread t runs exactly the contiguous range
// [jobs*t/n, jobs*(t+1)/n).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "kernels/cpu_paths.h"
#include "test_util.h"

using namespace dcsr;
namespace paths = dcsr::kernels::cpu_paths;

TEST_CASE("parallel jobs: every job once, on a slot in range, for any count", "[threads]") {
  for (const bool fixed : {false, true})
    for (const int workers : {1, 2, 3, 5})
      for (const int64_t jobs : {int64_t(0), int64_t(1), int64_t(2), int64_t(7), int64_t(64), int64_t(1001)}) {
        INFO("fixed " << fixed << ", workers " << workers << ", jobs " << jobs);
        std::vector<std::atomic<int>> runs(size_t(jobs + 1));
        std::vector<int> slot_of(size_t(jobs + 1), -1);
        std::atomic<bool> slot_out_of_range{false};
        paths::run_jobs(jobs, workers, [&](int64_t job, int slot) {
          runs[size_t(job)].fetch_add(1);
          slot_of[size_t(job)] = slot;
          if (slot < 0 || slot >= workers) slot_out_of_range = true;
        }, fixed);
        CHECK_FALSE(slot_out_of_range);
        int64_t wrong = 0;
        for (int64_t j = 0; j < jobs; ++j) wrong += runs[size_t(j)].load() != 1;
        CHECK(wrong == 0);
        if (fixed) {  // exactly its own range (the OpenMP team has `workers` threads here: no nesting)
          int64_t elsewhere = 0;
          for (int t = 0; t < workers; ++t)
            for (int64_t j = jobs * t / workers; j < jobs * (t + 1) / workers; ++j) elsewhere += slot_of[size_t(j)] != t;
          CHECK(elsewhere == 0);
        }
      }
}

// Slot 1 holds its first job until slot 0 has run a job of slot 1's range:
// which only happens if a thread done with its own range takes the others'.
// (A generous wait, not a timing: without the hand-over it would wait out the
// 30 s and the check below fails.)
TEST_CASE("parallel jobs: a thread done with its range takes the rest of a slow one's", "[threads]") {
  const int64_t jobs = 40;
  std::mutex mutex;
  std::condition_variable handed_over;
  bool slot0_took_from_range1 = false;
  std::vector<int> slot_of(size_t(jobs), -1);
  paths::run_jobs(jobs, 2, [&](int64_t job, int slot) {
    slot_of[size_t(job)] = slot;
    std::unique_lock<std::mutex> lock(mutex);
    if (slot == 0 && job >= jobs / 2) {
      slot0_took_from_range1 = true;
      handed_over.notify_all();
    }
    if (slot == 1) handed_over.wait_for(lock, std::chrono::seconds(30), [&] { return slot0_took_from_range1; });
  }, false);
  CHECK(slot0_took_from_range1);
  for (int64_t j = 0; j < jobs / 2; ++j) CHECK(slot_of[size_t(j)] != -1);
  // Range 0's jobs all ran on slot 0 or were taken by slot 1 after it finished its own; every job ran.
  int64_t ran = 0;
  for (int64_t j = 0; j < jobs; ++j) ran += slot_of[size_t(j)] != -1;
  CHECK(ran == jobs);
}
