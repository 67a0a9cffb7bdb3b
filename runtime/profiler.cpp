// Per-kernel time accounting (see kernel_profile.h).
#include "runtime/profiler.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <sstream>
#include <utility>

#include "runtime/device.h"
#include "runtime/heartbeat.h"

namespace dcsr::runtime {
namespace {

bool profiling_requested_by_environment() {
  const char* value = std::getenv("DCSR_PROFILE");
  return value && *value && std::strcmp(value, "0") != 0;
}

bool shapes_requested_by_environment() {
  const char* value = std::getenv("DCSR_PROFILE");
  return value && std::strcmp(value, "shapes") == 0;
}

std::atomic<bool>& profiling_flag() {
  static std::atomic<bool> flag{profiling_requested_by_environment()};
  return flag;
}

std::atomic<bool>& shapes_flag() {
  static std::atomic<bool> flag{shapes_requested_by_environment()};
  return flag;
}

// The path noted by the kernel running under this thread's outermost scope.
thread_local std::string noted_path;

struct Totals {
  int64_t calls = 0;
  int64_t ns = 0;
};

struct Recorder {
  std::mutex mutex;
  // (kernel name with its detail, device) -> totals
  std::map<std::pair<std::string, Device>, Totals> rows;
};

Recorder& recorder() {
  static Recorder* r = new Recorder();  // never destroyed: scopes may close during static destruction
  return *r;
}

thread_local int nesting_depth = 0;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void set_kernel_profiling(bool on) { profiling_flag().store(on, std::memory_order_relaxed); }
bool kernel_profiling() { return profiling_flag().load(std::memory_order_relaxed); }
void set_kernel_profile_shapes(bool on) { shapes_flag().store(on, std::memory_order_relaxed); }
bool kernel_profile_shapes() { return kernel_profiling() && shapes_flag().load(std::memory_order_relaxed); }

void note_kernel_path(std::string_view path) {
  if (!kernel_profile_shapes() || nesting_depth == 0) return;
  try {
    noted_path.assign(path);
  } catch (...) {
    // out of memory while noting: the row goes without its path
  }
}

KernelScope::KernelScope(const char* kernel, Device device, std::string shape_detail)
    : KernelScope(kernel, device, nullptr) {
  if (kernel_ && kernel_profile_shapes()) shape_detail_ = std::move(shape_detail);  // the outermost scope only
}

KernelScope::KernelScope(const char* kernel, Device device, const char* detail) {
  heartbeat();  // a sign of life, where a scope asks for one (runtime/heartbeat.h); before any timing
  if (!kernel_profiling()) return;
  if (nesting_depth > 0) {  // charged to the outermost scope
    ++nesting_depth;
    entered_ = true;
    return;
  }
  if (device == Device::CUDA) cuda_synchronize();  // earlier launches are not ours (may throw: nothing entered yet)
  ++nesting_depth;
  entered_ = true;
  noted_path.clear();
  kernel_ = kernel;
  detail_ = detail;
  device_ = device;
  start_ns_ = now_ns();
}

KernelScope::~KernelScope() { finish(); }

void KernelScope::finish() noexcept {
  if (!entered_) return;
  --nesting_depth;
  if (!kernel_) return;
  try {
    if (device_ == Device::CUDA) cuda_synchronize();  // our launches are done
  } catch (...) {
    return;  // the kernel's own error is already on its way; record nothing
  }
  const int64_t elapsed = now_ns() - start_ns_;
  std::string name = kernel_;
  if (detail_) name += std::string(":") + detail_;
  if (!shape_detail_.empty()) {
    name += ":" + shape_detail_;
    if (!noted_path.empty()) name += " (" + noted_path + ")";
  }
  Recorder& r = recorder();
  std::lock_guard<std::mutex> lock(r.mutex);
  try {
    Totals& t = r.rows[{std::move(name), device_}];
    t.calls += 1;
    t.ns += elapsed;
  } catch (...) {
    // out of memory while recording: the profile misses one call
  }
}

std::vector<KernelProfileRow> kernel_profile() {
  Recorder& r = recorder();
  std::vector<KernelProfileRow> out;
  {
    std::lock_guard<std::mutex> lock(r.mutex);
    for (const auto& [key, totals] : r.rows) out.push_back({key.first, key.second, totals.calls, totals.ns / 1e6});
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const KernelProfileRow& a, const KernelProfileRow& b) { return a.ms > b.ms; });
  return out;
}

void reset_kernel_profile() {
  Recorder& r = recorder();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.rows.clear();
}

std::string kernel_profile_table(const std::vector<KernelProfileRow>& rows, double total_ms) {
  double kernels_ms = 0.0;
  size_t name_width = 6;
  for (const KernelProfileRow& row : rows) {
    kernels_ms += row.ms;
    name_width = std::max(name_width, row.kernel.size());
  }
  const double base = total_ms > 0.0 ? total_ms : kernels_ms;
  std::ostringstream out;
  char line[512];
  std::snprintf(line, sizeof line, "%-*s %-6s %9s %12s %7s\n", int(name_width), "kernel", "device", "calls", "ms",
                "share");
  out << line;
  for (const KernelProfileRow& row : rows) {
    std::snprintf(line, sizeof line, "%-*s %-6s %9lld %12.3f %6.1f%%\n", int(name_width), row.kernel.c_str(),
                  device_name(row.device), static_cast<long long>(row.calls), row.ms,
                  base > 0.0 ? 100.0 * row.ms / base : 0.0);
    out << line;
  }
  if (total_ms > 0.0) {
    std::snprintf(line, sizeof line, "%-*s %-6s %9s %12.3f %6.1f%%\n", int(name_width), "(outside kernels)", "",
                  "", total_ms - kernels_ms, 100.0 * (total_ms - kernels_ms) / total_ms);
    out << line;
  } else {
    std::snprintf(line, sizeof line, "%-*s %-6s %9s %12.3f %6.1f%%\n", int(name_width), "(kernels in all)", "",
                  "", kernels_ms, kernels_ms > 0.0 ? 100.0 : 0.0);
    out << line;
  }
  return out.str();
}

}  // namespace dcsr::runtime
