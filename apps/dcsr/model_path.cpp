// Where `dcsr` finds its own files (the default model, the demo pair) when it
// is not run from the checkout's root: declared in apps/dcsr/cli.h.
//
// The places, in order: the current folder; the checkout of a build
// (<repo>/build/bin/dcsr -> <repo>/FILE, also <repo>/bin/dcsr -> <repo>/FILE);
// an install prefix (`make install PREFIX=P`: P/bin/dcsr -> P/share/dcsr/FILE).
//
// The models: models/default.ckpt is the basic model (4K mode, `dcsr eval`);
// models/real.ckpt, when present, is the SRA-adapted one that 8K mode uses.
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "apps/dcsr/cli.h"

namespace dcsr::cli {
namespace fs = std::filesystem;

namespace {

// The folder of this executable (from /proc/self/exe, links resolved), or ""
// when unknown.
fs::path executable_dir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe.parent_path();
}

// Every place `relative` is looked for, in order (see the top of the file).
std::vector<fs::path> candidates(const std::string& relative) {
  std::vector<fs::path> places{fs::path(relative)};
  const fs::path dir = executable_dir();
  if (!dir.empty()) {
    places.push_back(dir.parent_path() / relative);                            // <exe dir>/../FILE
    places.push_back(dir.parent_path().parent_path() / relative);              // <exe dir>/../../FILE
    places.push_back(dir.parent_path() / "share" / "dcsr" / relative);         // <prefix>/share/dcsr/FILE
  }
  return places;
}

}  // namespace

std::string find_repo_file(const std::string& relative) {
  std::error_code ec;
  for (const fs::path& place : candidates(relative))
    if (fs::is_regular_file(place, ec)) return place.string();
  return "";
}

std::string resolve_model_path(const std::string& given, Mode mode) {
  if (!given.empty()) return given;
  if (const char* env = std::getenv("DCSR_MODEL"); env && *env) return env;
  // 8K mode is the real-photo mode (spec §11: test_8k_SRA.sh): its default is
  // the SRA-adapted model when one is shipped, else the basic one. The places
  // keep their order: a models/default.ckpt in the current folder comes
  // before the checkout's models/real.ckpt.
  std::error_code ec;
  const std::vector<fs::path> reals = candidates("models/real.ckpt"), basics = candidates("models/default.ckpt");
  for (size_t i = 0; i < basics.size(); ++i) {
    if (mode == Mode::K8 && fs::is_regular_file(reals[i], ec)) return reals[i].string();
    if (fs::is_regular_file(basics[i], ec)) return basics[i].string();
  }
  std::string looked;  // every place, in the order searched (8K mode: real.ckpt, then default.ckpt, at each)
  for (size_t i = 0; i < basics.size(); ++i) {
    if (mode == Mode::K8) looked += (looked.empty() ? "" : ", ") + fs::absolute(reals[i]).lexically_normal().string();
    looked += (looked.empty() ? "" : ", ") + fs::absolute(basics[i]).lexically_normal().string();
  }
  fail("no model given and no default model found (looked for ",
       mode == Mode::K8 ? "models/real.ckpt, then models/default.ckpt" : "models/default.ckpt", ": ", looked,
       "). Get one by training (dcsr train --data DIR, then use experiments/basic/model_latest.ckpt) or by "
       "converting the released weights (tools/convert_weights.py dcsr model_basic.pt models/default.ckpt), then "
       "pass --model FILE, set DCSR_MODEL, or install it (make install PREFIX=P puts it in P/share/dcsr/models)");
}

}  // namespace dcsr::cli
