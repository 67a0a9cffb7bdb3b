// Signs of life from inside long work. A rank of a sharded run
// (dcsr/inference/shard_reports.h) reports to the root, and the root aborts
// the job when a rank is silent past DCSR_COLLECTIVE_TIMEOUT; between tiles
// alone, the deadline would have to exceed a whole tile's forward, seconds to
// tens of seconds on a slow CPU. With a HeartbeatScope open, the library's
// frequent entry points (every kernel's KernelScope, every parallel_for and
// parallel_jobs) call heartbeat(), which calls the scope's function at most
// once per interval: the deadline then bounds one kernel.
//
// Only the thread that opened the scope beats, and only outside OpenMP
// parallel regions (so MPI is called where it was before: from the main
// thread, with no other thread running), never from inside the beat itself.
#pragma once
#include <cstdint>
#include <functional>

namespace dcsr::runtime {

class HeartbeatScope {
 public:
  // `beat` is called on this thread at most every `interval_s` seconds while
  // the scope is open (and none opened later on this thread is).
  HeartbeatScope(std::function<void()> beat, double interval_s);
  ~HeartbeatScope();  // the thread's previous scope, if any, is back
  HeartbeatScope(const HeartbeatScope&) = delete;
  HeartbeatScope& operator=(const HeartbeatScope&) = delete;

 private:
  friend void heartbeat();
  std::function<void()> beat_;
  int64_t interval_ns_;
  int64_t next_ns_;
  HeartbeatScope* previous_;
  bool beating_ = false;
};

// Beats when the calling thread has a scope whose interval has passed: a
// thread-local load and a branch otherwise. What the beat throws propagates.
void heartbeat();

}  // namespace dcsr::runtime
