// Items (image pairs) shared over the ranks of an mpirun job in which each
// rank goes at its own pace: `mpirun -np N dcsr sr --lr-dir ...` (and, for
// the signs of life alone, sharded evaluation: eval_shard.cpp). The ranks
// report to the root as they go, so that the root alone
// prints one progress display and every item's lines, and so that a pair that
// takes minutes on one rank does not look like a dead rank to the others:
//
//   - rank r takes the items assign_by_cost gives it (the same split on every
//     rank, computed from the items' sizes);
//   - each rank reports its progress (work units done, at most 4 times a
//     second) and each finished item (failed or not, and the lines to print)
//     to the root; the root prints them as they arrive;
//   - at the end the root waits for every rank's last report, and then tells
//     every rank which items failed, so that all exit with the same status.
//
// No wait is unbounded: the root aborts the job (one line, MPI_Abort) when a
// working rank sends nothing for DCSR_COLLECTIVE_TIMEOUT seconds; a rank
// that has finished and waits for the others hears from the root at least
// every 2 s and aborts when the root falls silent for that long. So the
// deadline bounds the time between two signs of life. A rank gives one
// after every tile (progress()), and also from inside the work: from the
// report's construction to finish(), the library's kernels and parallel
// loops beat (runtime/heartbeat.h) and each beat is a progress() with the
// units so far. So the deadline bounds one kernel or one parallel loop, not
// a whole tile or registration; it bounds one training step likewise.
//
// With one rank everything is local: progress() and the callback do nothing,
// finish() returns the failed items this rank recorded.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "runtime/heartbeat.h"

namespace dcsr {

// The rank that takes each item: the largest items first, each to the rank
// with the least work so far (ties: the lower rank), so the ranks' totals
// differ by at most one item's cost. The same on every rank for the same
// costs. costs >= 0 (0 for an item whose size is unknown).
std::vector<int> assign_by_cost(const std::vector<int64_t>& costs, int ranks);

class ShardReports {
 public:
  // On the root, called while it waits or polls, for what the other ranks
  // sent: the work units they have done in all, and the lines of the items
  // they finished since the last call (each line ends with '\n'; may be empty).
  using RootUpdate = std::function<void(int64_t units_done_elsewhere, const std::string& lines)>;

  explicit ShardReports(RootUpdate on_root_update);

  // This rank has done `units_done_here` work units in all so far. Other
  // ranks: sent to the root (at most every 0.25 s). The root: reads what has
  // arrived (and checks that every working rank is alive).
  void progress(int64_t units_done_here);
  // This rank has finished item `index`; `lines` are what it would print about
  // it (the root prints its own lines itself and passes "").
  void item_done(int64_t index, bool failed, int64_t units_done_here, const std::string& lines);
  // Every rank, once its items are done: the root waits for every other
  // rank's last report, the others wait until the root has them all. Returns
  // the failed items' indices in increasing order, the same on every rank.
  std::vector<int64_t> finish();
  // After the root has printed its summary: every rank's messages delivered,
  // then a barrier, so that no rank exits (and mpirun ends the job) before
  // the root is done. Every rank calls it after finish().
  void end();

 private:
  void root_poll(bool waiting);

  RootUpdate on_root_update_;
  int64_t units_here_ = 0;  // the latest units_done_here: what a beat reports
  std::optional<runtime::HeartbeatScope> heartbeat_;  // open from the construction to finish()
  std::vector<int64_t> failed_;
  // Root: per rank, its latest units, whether it has finished, when it was last heard from.
  std::vector<int64_t> units_;
  std::vector<bool> finished_;
  std::vector<std::chrono::steady_clock::time_point> last_heard_;
  std::chrono::steady_clock::time_point last_sent_;  // others: last progress; root: last heartbeat
};

}  // namespace dcsr
