#include "apps/dcsr/cli.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "runtime/threads.h"

namespace dcsr::cli {
namespace fs = std::filesystem;

namespace {

// The folder of this executable (from /proc/self/exe), or "" when unknown.
fs::path executable_dir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe.parent_path();
}

}  // namespace

std::string find_repo_file(const std::string& relative) {
  std::error_code ec;
  if (fs::exists(relative, ec)) return relative;
  fs::path dir = executable_dir();
  if (!dir.empty()) {
    fs::path beside = dir.parent_path().parent_path() / relative;
    if (fs::exists(beside, ec)) return beside.string();
  }
  return "";
}

std::string resolve_model_path(const std::string& given) {
  if (!given.empty()) return given;
  if (const char* env = std::getenv("DCSR_MODEL"); env && *env) return env;
  if (std::string found = find_repo_file("models/default.ckpt"); !found.empty()) return found;
  fail("no model given and no default model found (models/default.ckpt). Get one by training "
       "(dcsr train --data DIR, then use experiments/basic/model_latest.ckpt) or by converting the released "
       "weights (tools/convert_weights.py dcsr model_basic.pt models/default.ckpt), then pass --model FILE "
       "or set DCSR_MODEL");
}

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
