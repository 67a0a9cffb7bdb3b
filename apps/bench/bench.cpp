#include "apps/bench/bench.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "kernels/cpu_paths.h"

namespace dcsr::bench {

namespace {
std::vector<std::pair<std::string, BenchFn>>& registry() {
  static std::vector<std::pair<std::string, BenchFn>> groups;
  return groups;
}
}  // namespace

Registration::Registration(const char* group, BenchFn fn) { registry().emplace_back(group, std::move(fn)); }

const std::vector<std::pair<std::string, BenchFn>>& registered_groups() { return registry(); }

bool selected(const Context& ctx, const std::string& name) {
  return ctx.filter.empty() || name.find(ctx.filter) != std::string::npos;
}

bool opted_in(const Context& ctx, const std::string& group) {
  return !ctx.filter.empty() &&
         (group.find(ctx.filter) != std::string::npos || ctx.filter.find(group) != std::string::npos);
}

Timing time_ms(const std::function<void()>& fn, int warmup, int repeats) {
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> ms;
  for (int i = 0; i < repeats; ++i) {
    auto start = std::chrono::steady_clock::now();
    fn();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(ms.begin(), ms.end());
  // The median: for an even count the mean of the middle two (the upper one alone was the slower).
  const size_t n = ms.size();
  const double median = n % 2 == 1 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
  return {median, ms[0], repeats};
}

void emit(const Context& ctx, nlohmann::json line) {
  line["threads"] = ctx.threads;
  // Every line names the CPU and the ISA level the kernels were asked to use
  // (figures are compared only within one run, on one machine).
  if (!line.contains("cpu")) line["cpu"] = kernels::cpu_paths::cpu_model();
  if (!line.contains("isa")) line["isa"] = kernels::cpu_paths::isa_name(kernels::cpu_paths::cpu_isa());
  std::cout << line.dump() << std::endl;
}

double max_rel_diff(const Tensor& a, const Tensor& b) {
  std::vector<float> x = a.to_vector<float>(), y = b.to_vector<float>();
  // Different sizes, or a NaN or infinity where the reference has a number,
  // are infinitely wrong.
  if (x.size() != y.size()) return INFINITY;
  double worst = 0.0;
  for (size_t i = 0; i < x.size(); ++i)
    worst = worse_error(worst, double(std::abs(x[i] - y[i])) / (1e-3 + std::abs(double(y[i]))));
  return worst;
}

double peak_rss_mb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1024.0;
  return -1.0;
}

void reset_peak_rss() {
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
}

std::string torch_python() {
  static const std::string found = [] {
    std::vector<std::string> candidates;
    if (const char* env = std::getenv("DCSR_PYTHON")) candidates.push_back(env);
    // The python3 on PATH first (a PyPI torch with MKL/oneDNN is the strongest
    // peer), then Debian's python3-torch.
    candidates.insert(candidates.end(), {"python3", "/usr/bin/python3"});
    for (const std::string& python : candidates) {
      std::string probe = python + " -c 'import torch' >/dev/null 2>&1";
      if (std::system(probe.c_str()) == 0) return python;
    }
    return std::string();
  }();
  return found;
}

std::vector<nlohmann::json> run_peer(const Context& ctx, nlohmann::json spec, bool tuned_malloc) {
  std::vector<nlohmann::json> lines;
  if (!ctx.with_torch || torch_python().empty()) return lines;
  spec["threads"] = ctx.threads;
  spec["quick"] = ctx.quick;
  std::string quoted = spec.dump();
  // Single-quote the JSON for the shell (it contains no single quotes).
  std::ostringstream command;
  command << "OMP_NUM_THREADS=" << ctx.threads << " MKL_NUM_THREADS=" << ctx.threads << " ";
  if (tuned_malloc) command << "MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736 ";
  command << torch_python() << " " << DCSR_SOURCE_DIR << "/tools/bench/torch_peer.py '" << quoted << "'";
  FILE* pipe = popen(command.str().c_str(), "r");
  if (!pipe) return lines;
  char buffer[4096];
  std::string text;
  while (fgets(buffer, sizeof(buffer), pipe)) text += buffer;
  pclose(pipe);
  std::istringstream stream(text);
  std::string line;
  while (std::getline(stream, line)) {
    if (line.empty() || line[0] != '{') continue;
    try {
      lines.push_back(nlohmann::json::parse(line));
    } catch (const std::exception&) {
    }
  }
  return lines;
}

double peer_ms(const Context& ctx, const nlohmann::json& spec, bool tuned_malloc) {
  for (const nlohmann::json& line : run_peer(ctx, spec, tuned_malloc))
    if (line.contains("ms")) return line["ms"].get<double>();
  return -1.0;
}

double add_torch_peer(const Context& ctx, nlohmann::json& line, const nlohmann::json& spec, bool tuned_malloc,
                      double ours_ms) {
  const double torch_ms = peer_ms(ctx, spec, tuned_malloc);
  if (torch_ms > 0) {
    line["torch_ms"] = torch_ms;
    line["time_ratio_vs_torch"] = ours_ms / torch_ms;
  }
  return torch_ms;
}

}  // namespace dcsr::bench
