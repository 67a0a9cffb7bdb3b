#include "apps/dcsr/cli.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "dcsr/inference/eval.h"
#include "runtime/threads.h"

namespace dcsr::cli {
namespace fs = std::filesystem;

Device device_option(const Args& args, const std::string& command, bool require_gpu) {
  const std::string name = args.get("device", "cpu");
  if (name != "cpu" && name != "cuda")
    throw UsageError("dcsr " + command + ": option --device expects cpu or cuda, got '" + name + "'");
  return require_gpu ? select_device(name) : kCPU;
}

void apply_threads(const Args& args) {
  if (!args.has("threads")) return;
  set_num_threads(int(args.get_int_in("threads", 0, 1, kMaxThreads)));
}

}  // namespace dcsr::cli
