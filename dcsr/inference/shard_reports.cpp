#include "dcsr/inference/shard_reports.h"

#include <algorithm>
#include <numeric>
#include <sstream>
#include <thread>

#include "nn/distributed.h"
#include "tensor/error.h"

namespace dcsr {

namespace {

using Clock = std::chrono::steady_clock;

// Message tags (nn/distributed.h send / poll_receive).
enum Tag : int {
  kProgress = 7101,  // other -> root: "<units>"
  kItem = 7102,      // other -> root: "<index> <failed 0|1> <units>\n<lines>"
  kFinished = 7103,  // other -> root: "", its last message
  kAlive = 7104,     // root -> a finished rank: "" (the root is still working)
  kAllIn = 7105,     // root -> every rank: the failed items' indices, its last message
};

constexpr double kProgressInterval_s = 0.25;
constexpr double kHeartbeatInterval_s = 2.0;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

std::string join(const std::vector<int64_t>& values) {
  std::string out;
  for (int64_t v : values) out += (out.empty() ? "" : " ") + std::to_string(v);
  return out;
}

std::vector<int64_t> split_numbers(const std::string& text) {
  std::vector<int64_t> out;
  std::istringstream in(text);
  for (int64_t v; in >> v;) out.push_back(v);
  return out;
}

}  // namespace

std::vector<int> assign_by_cost(const std::vector<int64_t>& costs, int ranks) {
  DCSR_CHECK(ranks >= 1, "assign_by_cost: ", ranks, " ranks");
  std::vector<size_t> order(costs.size());
  std::iota(order.begin(), order.end(), size_t(0));
  // Largest first; equal costs in item order, so that the split is stable.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return costs[a] > costs[b]; });
  std::vector<int64_t> load(size_t(ranks), 0);
  std::vector<int> owner(costs.size(), 0);
  for (size_t item : order) {
    const size_t least = size_t(std::min_element(load.begin(), load.end()) - load.begin());  // first of equals
    owner[item] = int(least);
    load[least] += std::max<int64_t>(costs[item], 0);
  }
  return owner;
}

ShardReports::ShardReports(RootUpdate on_root_update) : on_root_update_(std::move(on_root_update)) {
  const distributed::World& world = distributed::world();
  const size_t n = size_t(world.size);
  units_.assign(n, 0);
  finished_.assign(n, false);
  finished_[0] = true;  // the root's own items are done when it calls finish()
  last_heard_.assign(n, Clock::now());
  last_sent_ = Clock::now();
  // Signs of life from inside the work, between the tiles' own reports.
  if (world.size > 1) heartbeat_.emplace([this] { progress(units_here_); }, kProgressInterval_s);
}

void ShardReports::root_poll(bool waiting) {
  const distributed::World& world = distributed::world();
  std::string lines;
  int from = 0, tag = 0;
  std::string text;
  bool heard = false;
  while (distributed::poll_receive(from, tag, text)) {
    const size_t r = size_t(from);
    last_heard_[r] = Clock::now();
    heard = true;
    if (tag == kProgress) {
      units_[r] = std::stoll(text);
    } else if (tag == kFinished) {
      finished_[r] = true;
    } else if (tag == kItem) {
      const size_t newline = text.find('\n');
      const std::vector<int64_t> head = split_numbers(text.substr(0, newline));
      DCSR_CHECK(head.size() == 3, "sharded batch: rank ", from, " sent a malformed report");
      if (head[1] != 0) failed_.push_back(head[0]);
      units_[r] = head[2];
      if (newline != std::string::npos) lines += text.substr(newline + 1);
    } else {
      fail("sharded batch: rank ", from, " sent an unexpected message (tag ", tag, ")");
    }
  }
  if (heard || !lines.empty())
    on_root_update_(std::accumulate(units_.begin() + 1, units_.end(), int64_t(0)), lines);
  const Clock::time_point now = Clock::now();
  for (int r = 1; r < world.size; ++r)
    if (!finished_[size_t(r)] && seconds_between(last_heard_[size_t(r)], now) > distributed::collective_timeout_s())
      distributed::abort_job_after_timeout("a report from rank " + std::to_string(r) +
                                           (waiting ? "" : " (checked while this rank works)"));
  // The finished ranks wait for the end: tell them the root is alive.
  if (seconds_between(last_sent_, now) >= kHeartbeatInterval_s) {
    for (int r = 1; r < world.size; ++r)
      if (finished_[size_t(r)]) distributed::send(r, kAlive, "");
    last_sent_ = now;
  }
}

void ShardReports::progress(int64_t units_done_here) {
  const distributed::World& world = distributed::world();
  units_here_ = units_done_here;
  if (world.size == 1) return;
  if (world.is_root()) return root_poll(false);
  const Clock::time_point now = Clock::now();
  if (seconds_between(last_sent_, now) < kProgressInterval_s) return;
  distributed::send(0, kProgress, std::to_string(units_done_here));
  last_sent_ = now;
}

void ShardReports::item_done(int64_t index, bool failed, int64_t units_done_here, const std::string& lines) {
  const distributed::World& world = distributed::world();
  units_here_ = units_done_here;
  if (world.is_root()) {
    if (failed) failed_.push_back(index);
    if (world.size > 1) root_poll(false);
    return;
  }
  distributed::send(0, kItem,
                    std::to_string(index) + " " + (failed ? "1 " : "0 ") + std::to_string(units_done_here) + "\n" +
                        lines);
  last_sent_ = Clock::now();
}

std::vector<int64_t> ShardReports::finish() {
  heartbeat_.reset();  // the waits below report and poll on their own
  const distributed::World& world = distributed::world();
  if (world.size == 1) return failed_;
  if (world.is_root()) {
    while (!std::all_of(finished_.begin(), finished_.end(), [](bool f) { return f; })) {
      root_poll(true);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    std::sort(failed_.begin(), failed_.end());
    const std::string all_failed = join(failed_);
    for (int r = 1; r < world.size; ++r) distributed::send(r, kAllIn, all_failed);
    return failed_;
  }
  distributed::send(0, kFinished, "");
  // Waits for the root's last message; its heartbeats keep the deadline away.
  Clock::time_point heard = Clock::now();
  int from = 0, tag = 0;
  std::string text;
  for (;;) {
    if (distributed::poll_receive(from, tag, text)) {
      DCSR_CHECK(from == 0 && (tag == kAlive || tag == kAllIn), "sharded batch: unexpected message from rank ",
                 from, " (tag ", tag, ")");
      heard = Clock::now();
      if (tag == kAllIn) return split_numbers(text);
      continue;
    }
    if (seconds_between(heard, Clock::now()) > distributed::collective_timeout_s())
      distributed::abort_job_after_timeout("the end of the job (the root fell silent)");
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

void ShardReports::end() {
  if (distributed::world().size == 1) return;
  distributed::complete_sends();
  distributed::barrier();
}

}  // namespace dcsr
