// dcsr_bench [--filter TEXT] [--quick] [--no-torch]
// Runs every registered benchmark group and prints one JSON object per line.
#include <cstring>
#include <iostream>

#include "apps/bench/bench.h"
#include "kernels/device_memory.h"
#include "tensor/error.h"
#include "tensor/runtime.h"

namespace dcsr::bench {
const std::vector<std::pair<std::string, BenchFn>>& registered_groups();
}

int main(int argc, char** argv) {
  using namespace dcsr::bench;
  Context ctx;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--filter" && i + 1 < argc) ctx.filter = argv[++i];
    else if (arg == "--quick") ctx.quick = true;
    else if (arg == "--no-torch") ctx.with_torch = false;
    else {
      std::cerr << "dcsr_bench: unknown option '" << arg << "'\nusage: dcsr_bench [--filter TEXT] [--quick] [--no-torch]\n";
      return 2;
    }
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
             {"cuda", dcsr::kernels::cuda_device_description()},
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
