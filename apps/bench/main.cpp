// dcsr_bench [--filter TEXT] [--quick] [--no-torch]
// Runs every registered benchmark group and prints one JSON object per line.
// dcsr_bench --serve VARIANT [--device cpu|cuda]
// Serves one model workload run by run (model_workload.h; used by
// tools/bench_peer.py to alternate our runs with PyTorch's).
// dcsr_bench --profile VARIANT [--device cpu|cuda] [--runs N]
// Times one model workload kernel by kernel (model_workload.h).
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>

#include "apps/bench/bench.h"
#include "apps/bench/model_workload.h"
#include "runtime/device.h"
#include "tensor/error.h"
#include "runtime/threads.h"

namespace dcsr::bench {
const std::vector<std::pair<std::string, BenchFn>>& registered_groups();
}

int main(int argc, char** argv) {
  using namespace dcsr::bench;
  Context ctx;
  std::string serve, profile, device = "cpu";
  int runs = 3;
  bool has_runs = false, has_device = false, has_filter = false;
  const char* usage =
      "usage: dcsr_bench [--filter TEXT] [--quick] [--no-torch]\n"
      "       dcsr_bench --serve VARIANT [--device cpu|cuda]\n"
      "       dcsr_bench --profile VARIANT [--device cpu|cuda] [--runs N]\n";
  const auto usage_error = [&](const std::string& message) {
    std::cerr << "dcsr_bench: " << message << "\n" << usage;
    return 2;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool takes_value = arg == "--filter" || arg == "--serve" || arg == "--profile" || arg == "--runs" ||
                             arg == "--device";
    if (takes_value && i + 1 >= argc) return usage_error("option '" + arg + "' needs a value");
    if (arg == "--filter") ctx.filter = argv[++i], has_filter = true;
    else if (arg == "--quick") ctx.quick = true;
    else if (arg == "--no-torch") ctx.with_torch = false;
    else if (arg == "--serve") serve = argv[++i];
    else if (arg == "--profile") profile = argv[++i];
    else if (arg == "--device") device = argv[++i], has_device = true;
    else if (arg == "--runs") {
      // Digits only, at most 100000 (atoi took "2abc" as 2 and wrapped 2^32 + 1 to 1).
      const std::string text = argv[++i];
      const std::optional<uint64_t> v = dcsr::parse_decimal_digits(text, 1, 100000);
      if (!v) return usage_error("--runs expects a count from 1 to 100000, got '" + text + "'");
      runs = int(*v), has_runs = true;
    } else if (arg == "-h" || arg == "--help") {
      std::cout << usage;
      return 0;
    } else {
      return usage_error("unknown option '" + arg + "'");
    }
  }
  // An option that the chosen mode does not read is a mistake, not something to ignore.
  if (!serve.empty() && !profile.empty()) return usage_error("--serve and --profile are two modes; give one");
  if (serve.empty() && profile.empty() && (has_runs || has_device))
    return usage_error("--runs and --device go with --serve or --profile");
  if (!serve.empty() && has_runs) return usage_error("--runs goes with --profile");
  if ((!serve.empty() || !profile.empty()) && (has_filter || ctx.quick || !ctx.with_torch))
    return usage_error("--filter, --quick and --no-torch go with the benchmark groups, not --serve or --profile");
  if (!serve.empty() || !profile.empty()) {
    if (device != "cpu" && device != "cuda") {
      std::cerr << "dcsr_bench: --device expects cpu or cuda, got '" << device << "'\n";
      return 2;
    }
    const dcsr::Device d = dcsr::device_from_name(device);
    return serve.empty() ? profile_model_workload(profile, d, runs) : serve_model_workload(serve, d);
  }
  ctx.threads = dcsr::num_threads();
  std::string python = ctx.with_torch ? torch_python() : "";
  std::string torch_version = "none";
  if (!python.empty()) {
    std::vector<nlohmann::json> info = run_peer(ctx, {{"op", "version"}}, false);
    if (!info.empty() && info[0].contains("torch")) torch_version = info[0]["torch"].get<std::string>();
  }
  emit(ctx, {{"name", "machine"},
             {"cpu_threads", ctx.threads},
             {"cuda", dcsr::runtime::cuda_device_description()},
             {"torch_peer", python.empty() ? "none" : python},
             {"torch_version", torch_version}});
  try {
    for (const auto& [group, fn] : registered_groups()) fn(ctx);
  } catch (const dcsr::Error& e) {
    std::cerr << "dcsr_bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
