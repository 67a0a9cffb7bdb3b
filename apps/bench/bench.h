// dcsr_bench: benchmarks that print one JSON object per line.
//
// Every line names the CPU ("cpu") and the ISA level in force ("isa"; emit
// adds them). Timed lines have "name" and "ms" (the median of several runs,
// after a warm-up where the work is short enough to repeat) and, where they apply, "gflops", "gbps", "peak_rss_mb", and ratios against
// a baseline measured in the same run ("vs_<baseline>": our throughput / the
// baseline's, so > 1 is faster; or "time_ratio_vs_<peer>": our time / the
// peer's, so < 1 is faster). Results are validated before they are timed.
//
// A bench file registers groups with DCSR_BENCH(group) { ... } and is picked
// up by the CMake glob over apps/bench/*.cpp.
#pragma once
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tensor/tensor.h"

namespace dcsr::bench {

struct Context {
  std::string filter;      // run only groups/benches whose name contains this
  bool quick = false;      // fewer repeats, smaller sizes where a bench offers them
  bool with_torch = true;  // run PyTorch peers when a python with torch is found
  int threads = 1;
};

using BenchFn = std::function<void(const Context&)>;
struct Registration {
  Registration(const char* group, BenchFn fn);
};

#define DCSR_BENCH(group)                                                                         \
  static void dcsr_bench_##group(const ::dcsr::bench::Context& ctx);                             \
  static const ::dcsr::bench::Registration dcsr_bench_registration_##group(#group, dcsr_bench_##group); \
  static void dcsr_bench_##group([[maybe_unused]] const ::dcsr::bench::Context& ctx)

// True when `name` passes the context's filter.
bool selected(const Context& ctx, const std::string& name);
// For a group that runs only when asked by name (long or needing extra data):
// the filter is part of its name ("all"), or names one of its lines
// ("allreduce_sum_f32").
bool opted_in(const Context& ctx, const std::string& group);

struct Timing {
  double median_ms = 0.0;
  double min_ms = 0.0;
  int runs = 0;
};
// Runs fn `warmup` times untimed, then `repeats` times, and returns the median.
Timing time_ms(const std::function<void()>& fn, int warmup = 2, int repeats = 7);
inline int repeats_for(const Context& ctx, int normal) { return ctx.quick ? std::max(3, normal / 2) : normal; }

// Prints one JSON line (adds "threads").
void emit(const Context& ctx, nlohmann::json line);

// Largest |a - b| / (1e-3 + |b|) over float32 tensors of the same size: the
// check of a result against its reference before it is timed.
double max_rel_diff(const Tensor& a, const Tensor& b);

// The worse of a running worst error and one more: a NaN is the worst error
// (infinite), not none (std::max would drop it).
inline double worse_error(double worst, double error) {
  return error <= worst ? worst : std::isnan(error) ? INFINITY : error;
}

// Peak resident set size of this process (VmHWM) in MB, and its reset.
double peak_rss_mb();
void reset_peak_rss();

// PyTorch peers. `run_peer` runs tools/bench/torch_peer.py with a JSON spec
// ({"op": ..., "threads": N, ...}) under the same thread count and returns the
// JSON lines it printed; empty when no python with torch is available (then
// the caller prints a line saying the peer was skipped). With tuned_malloc,
// glibc is told never to give big blocks back to the OS
// (MALLOC_MMAP_THRESHOLD_/MALLOC_TRIM_THRESHOLD_), as our caching allocator
// never does: PyTorch benchmarked "both ways".
// The python used for peers: $DCSR_PYTHON, else python3 on PATH, else
// /usr/bin/python3, the first that imports torch; "" when none.
std::string torch_python();
std::vector<nlohmann::json> run_peer(const Context& ctx, nlohmann::json spec, bool tuned_malloc);
// Convenience: the median ms of the peer for `spec`, or a negative value when
// there is none.
double peer_ms(const Context& ctx, const nlohmann::json& spec, bool tuned_malloc);
// peer_ms, and when the peer answered, "torch_ms" and "time_ratio_vs_torch"
// (ours_ms / the peer's) added to `line`. Returns the peer's ms or a negative
// value.
double add_torch_peer(const Context& ctx, nlohmann::json& line, const nlohmann::json& spec, bool tuned_malloc,
                      double ours_ms);

}  // namespace dcsr::bench
