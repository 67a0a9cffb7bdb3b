#include "apps/dcsr/cli.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "runtime/threads.h"

namespace dcsr::cli {
namespace fs = std::filesystem;

void apply_threads(const Args& args) {
  if (!args.has("threads")) return;
  set_num_threads(int(args.get_int_in("threads", 0, 1, kMaxThreads)));
}

}  // namespace dcsr::cli
