#include "runtime/heartbeat.h"

#include <omp.h>

#include <chrono>

#include "runtime/scope_exit.h"

namespace dcsr::runtime {

namespace {

thread_local HeartbeatScope* t_scope = nullptr;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

HeartbeatScope::HeartbeatScope(std::function<void()> beat, double interval_s)
    : beat_(std::move(beat)), interval_ns_(int64_t(interval_s * 1e9)), next_ns_(now_ns() + interval_ns_),
      previous_(t_scope) {
  t_scope = this;
}

HeartbeatScope::~HeartbeatScope() { t_scope = previous_; }

void heartbeat() {
  HeartbeatScope* const scope = t_scope;
  if (!scope || scope->beating_ || omp_in_parallel()) return;
  const int64_t now = now_ns();
  if (now < scope->next_ns_) return;
  scope->beating_ = true;
  const ScopeExit done([scope] { scope->beating_ = false; });
  scope->next_ns_ = now + scope->interval_ns_;
  scope->beat_();
}

}  // namespace dcsr::runtime
