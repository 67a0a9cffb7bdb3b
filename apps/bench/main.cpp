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
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--filter" && i + 1 < argc) ctx.filter = argv[++i];
    else if (arg == "--quick") ctx.quick = true;
    else if (arg == "--no-torch") ctx.with_torch = false;
    else if (arg == "--serve" && i + 1 < argc) serve = argv[++i];
    else if (arg == "--profile" && i + 1 < argc) profile = argv[++i];
    else if (arg == "--runs" && i + 1 < argc) runs = std::atoi(argv[++i]);
    else if (arg == "--device" && i + 1 < argc) device = argv[++i];
    else {
      std::cerr << "dcsr_bench: unknown option '" << arg
                << "'\nusage: dcsr_bench [--filter TEXT] [--quick] [--no-torch]\n"
                   "       dcsr_bench --serve VARIANT [--device cpu|cuda]\n"
                   "       dcsr_bench --profile VARIANT [--device cpu|cuda] [--runs N]\n";
      return 2;
    }
  }
  if (!serve.empty() || !profile.empty()) {
    if (device != "cpu" && device != "cuda") {
      std::cerr << "dcsr_bench: --device expects cpu or cuda, got '" << device << "'\n";
      return 2;
    }
    if (runs < 1) {
      std::cerr << "dcsr_bench: --runs expects a positive count\n";
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
