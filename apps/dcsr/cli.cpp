#include "apps/dcsr/cli.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "runtime/threads.h"

namespace dcsr::cli {
namespace fs = std::filesystem;

void apply_threads(const Args& args) {
  if (!args.has("threads")) return;
  int64_t n = args.get_int("threads", 0);
  if (n < 1) throw UsageError("option --threads expects a positive integer, got " + args.get("threads"));
  set_num_threads(int(n));
}

void OutputFiles::declare(const std::string& path, const std::string& option) {
  std::error_code ec;
  DCSR_CHECK(!path.empty(), "option --", option, ": empty file name");
  fs::path parent = fs::path(path).parent_path();
  DCSR_CHECK(parent.empty() || fs::is_directory(parent, ec), "cannot write --", option, " '", path, "': folder '",
             parent.string(), "' does not exist");
  DCSR_CHECK(!fs::is_directory(path, ec), "cannot write --", option, " '", path, "': it is a folder");
  DCSR_CHECK(::access(parent.empty() ? "." : parent.c_str(), W_OK) == 0, "cannot write --", option, " '", path,
             "': folder '", parent.empty() ? std::string(".") : parent.string(), "' is not writable");
}

OutputFiles::~OutputFiles() {
  if (committed_) return;
  std::error_code ec;
  for (const std::string& path : written_) fs::remove(path, ec);
}

}  // namespace dcsr::cli
