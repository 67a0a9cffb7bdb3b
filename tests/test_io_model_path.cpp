// The default model is found from any working folder (apps/dcsr/model_path.cpp):
// copies of the built `dcsr` binary in a build layout (<root>/build/bin/dcsr),
// a bin/ + models/ layout and an install prefix (<prefix>/bin/dcsr with
// <prefix>/share/dcsr/models/), each run from an unrelated folder, as
// tests/test_cli.cpp runs the binary (`dcsr eval`, which resolves the model
// as sr and demo do).
#include <filesystem>

#include <nlohmann/json.hpp>

#include "cli_runner.h"

using namespace dcsr;
namespace fs = std::filesystem;

namespace {

// A copy of the built binary at `exe` (folders created).
void copy_binary(const fs::path& exe) {
  fs::create_directories(exe.parent_path());
  fs::copy_file(fs::path(DCSR_BIN_DIR) / "dcsr", exe, fs::copy_options::overwrite_existing);
}

// Runs `exe eval` without --model (and without DCSR_MODEL) in `cwd` on a
// one-pair dataset (eval resolves the model as sr and demo do).
test::RunResult eval_without_model(const fs::path& exe, const std::string& cwd) {
  if (!fs::exists(cwd + "/set")) test::write_dataset(cwd + "/set", 1, 24, 28);
  const std::string cmd = "cd " + test::quote(cwd) + " && env -u DCSR_MODEL DCSR_NUM_THREADS=1 " +
                          test::quote(exe.string()) + " eval --data set --json out.json --quiet 2>&1";
  test::RunResult r;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) r.output.append(buffer, n);
  const int status = ::pclose(pipe);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// The layout: where the binary goes and where its model goes, under `root`.
void check_layout(const std::string& exe_relative, const std::string& model_relative) {
  test::TempDir root("io_model"), work("io_model_work");
  const fs::path exe = fs::path(root.str()) / exe_relative, model = fs::path(root.str()) / model_relative;
  copy_binary(exe);
  fs::create_directories(model.parent_path());
  // A broken model at that place: the error names it, so that is the file dcsr chose.
  test::write_bytes(model.string(), "not a checkpoint");
  test::RunResult broken = eval_without_model(exe, work.str());
  INFO(broken.output);
  CHECK(broken.status == 1);
  CHECK_THAT(broken.output, Catch::Contains(model_relative));
  // A real (tiny) model there: eval runs from the unrelated folder with it.
  test::write_model(model.string(), 4);
  test::RunResult ok = eval_without_model(exe, work.str());
  INFO(ok.output);
  REQUIRE(ok.status == 0);
  const nlohmann::json j = nlohmann::json::parse(test::read_bytes_of(work / "out.json"));
  CHECK_THAT(j["model"].get<std::string>(), Catch::Contains(model_relative));
}

}  // namespace

TEST_CASE("cli: the default model is found next to a build's binary from any folder", "[cli][model_path]") {
  check_layout("build/bin/dcsr", "models/default.ckpt");  // <exe dir>/../../models, the checkout's build/bin
  check_layout("bin/dcsr", "models/default.ckpt");        // <exe dir>/../models
}

TEST_CASE("cli: the default model is found under the install prefix from any folder", "[cli][model_path]") {
  check_layout("prefix/bin/dcsr", "prefix/share/dcsr/models/default.ckpt");
}

TEST_CASE("cli: the current folder's models/default.ckpt comes first", "[cli][model_path]") {
  test::TempDir root("io_model"), work("io_model_work");
  const fs::path exe = fs::path(root.str()) / "prefix/bin/dcsr";
  copy_binary(exe);
  fs::create_directories(fs::path(root.str()) / "prefix/share/dcsr/models");
  test::write_model(root / "prefix/share/dcsr/models/default.ckpt", 4);
  fs::create_directories(work / "models");
  test::write_bytes(work / "models/default.ckpt", "not a checkpoint either");
  test::RunResult r = eval_without_model(exe, work.str());
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK_THAT(r.output, Catch::Contains("models/default.ckpt"));
  CHECK_THAT(r.output, !Catch::Contains("share/dcsr"));
}

TEST_CASE("errors: no default model anywhere names the places looked in", "[cli][model_path]") {
  test::TempDir root("io_model"), work("io_model_work");
  const fs::path exe = fs::path(root.str()) / "prefix/bin/dcsr";
  copy_binary(exe);
  test::RunResult r = eval_without_model(exe, work.str());
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK_THAT(r.output, Catch::Contains("no default model found") && Catch::Contains("prefix/share/dcsr/models") &&
                           Catch::Contains("make install"));
  CHECK(!fs::exists(work / "out.json"));
}

// 8K mode is the real-photo mode: without --model, `dcsr sr` and `dcsr demo`
// take models/real.ckpt (the SRA-adapted model) when it exists, 4K mode and
// `dcsr eval` take models/default.ckpt, and --model overrides both. Each model
// file here is broken in its own way, so the error names the file dcsr chose.
TEST_CASE("cli: 8k mode defaults to models/real.ckpt, 4k mode to models/default.ckpt", "[cli][model_path]") {
  test::TempDir work("io_model_mode");
  test::write_dataset(work.str() + "/set", 1, 24, 28);
  fs::create_directories(work / "models");
  test::write_bytes(work / "models/default.ckpt", "basic, broken");
  test::write_bytes(work / "models/real.ckpt", "real, broken");
  test::write_model(work.str() + "/chosen.ckpt", 4);
  const std::string pair = "--lr set/LR/x2/p0.png --ref set/Ref/x2/p0.png --registration none";
  auto sr = [&](const std::string& extra) { return test::run_dcsr("sr " + pair + " --out o.png " + extra, work.str()); };

  const test::RunResult k8 = sr("--mode 8k");
  REQUIRE_FAILS_WITH(k8, 1, "models/real.ckpt");
  const test::RunResult k4 = sr("--mode 4k");
  REQUIRE_FAILS_WITH(k4, 1, "models/default.ckpt");
  const test::RunResult demo = test::run_dcsr("demo --lr set/LR/x2/p0.png --ref set/Ref/x2/p0.png --out d", work.str());
  REQUIRE_FAILS_WITH(demo, 1, "models/real.ckpt");
  const test::RunResult eval = test::run_dcsr("eval --data set --json e.json --quiet", work.str());
  REQUIRE_FAILS_WITH(eval, 1, "models/default.ckpt");

  const test::RunResult chosen = sr("--mode 8k --model chosen.ckpt");
  INFO(chosen.output);
  CHECK(chosen.status == 0);
  CHECK(fs::exists(work / "o.png"));

  // Without real.ckpt here, 8k mode takes this folder's basic model, not a
  // real.ckpt of a place further down the list (the checkout's, if any).
  fs::remove(work / "models/real.ckpt");
  const test::RunResult fallback = sr("--mode 8k");
  REQUIRE_FAILS_WITH(fallback, 1, "models/default.ckpt");
  CHECK_THAT(fallback.output, !Catch::Contains("real.ckpt"));
}
