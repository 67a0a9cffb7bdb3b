// Running the built `dcsr` binary from the tests (tests/test_cli.cpp,
// tests/test_demo.cpp) and the small models and datasets they feed it.
#pragma once
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dcsr/model/config.h"
#include "dcsr/model/network.h"
#include "nn/checkpoint.h"
#include "test_files.h"
#include "test_util.h"

namespace dcsr::test {

struct RunResult {
  int status = -1;
  std::string output;  // stdout and stderr together
};

// s in single quotes for /bin/sh.
inline std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Runs a shell command line; its stdout and stderr together, and its exit status.
inline RunResult run_shell(const std::string& cmd) {
  RunResult r;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) r.output.append(buffer, n);
  int status = ::pclose(pipe);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// Runs `dcsr ARGS` (ARGS already quoted where needed) in `cwd`, with
// DCSR_MODEL unset so that no default model leaks in, on one thread.
inline RunResult run_dcsr(const std::string& args, const std::string& cwd = ".") {
  return run_shell("cd " + quote(cwd) + " && env -u DCSR_MODEL DCSR_NUM_THREADS=1 " +
                   quote(std::string(DCSR_BIN_DIR) + "/dcsr") + " " + args + " 2>&1");
}

// Whether the repository has a default model: `dcsr` then finds one next to
// its build folder, so "no model at all" cannot be provoked.
inline bool repository_has_default_model() {
  std::error_code ec;
  return std::filesystem::exists(std::string(DCSR_SOURCE_DIR) + "/models/default.ckpt", ec);
}

// A random DCSR model of width n_feats (default init from `seed`).
inline void write_model(const std::string& path, int64_t n_feats, uint64_t seed = 1) {
  ModelConfig config;
  config.n_feats = n_feats;
  Generator gen(seed);
  DcsrNet net(config, gen);
  Checkpoint ck;
  ck.config = config.to_json();
  ck.tensors = module_state(net);
  save_checkpoint(path, ck);
}

// A dataset of n pairs with LR h x w in the CameraFusion layout.
// Replaces pair `name` (e.g. "p1.png") of a write_dataset folder with one whose
// LR/x2 and Ref/x2 are h x w (HR twice that): a dataset of mixed sizes.
inline void resize_pair(const std::string& root, const std::string& name, int64_t h, int64_t w, uint64_t seed) {
  write_png(root + "/HR/" + name, test_image(2 * h, 2 * w, seed));
  write_png(root + "/LR/x2/" + name, test_image(h, w, seed + 1));
  write_png(root + "/Ref/x2/" + name, test_image(h, w, seed + 2));
}

inline void write_dataset(const std::string& root, int64_t n, int64_t h, int64_t w) {
  namespace fs = std::filesystem;
  for (const char* sub : {"HR", "LR/x2", "Ref/x2", "LR/x1", "Ref/x1"}) fs::create_directories(fs::path(root) / sub);
  for (int64_t i = 0; i < n; ++i) {
    std::string name = "p" + std::to_string(i) + ".png";
    Tensor hr = test_image(2 * h, 2 * w, uint64_t(1 + i));
    write_png(root + "/HR/" + name, hr);
    write_png(root + "/LR/x1/" + name, hr);
    write_png(root + "/Ref/x1/" + name, test_image(2 * h, 2 * w, uint64_t(50 + i)));
    write_png(root + "/LR/x2/" + name, test_image(h, w, uint64_t(100 + i)));
    write_png(root + "/Ref/x2/" + name, test_image(h, w, uint64_t(150 + i)));
  }
}

// The "val" and "monitor" lines of a training log (train_log.jsonl), in order.
inline std::vector<nlohmann::json> validation_lines(const std::string& log_path) {
  std::vector<nlohmann::json> lines;
  std::ifstream log(log_path);
  for (std::string line; std::getline(log, line);) {
    nlohmann::json j = nlohmann::json::parse(line);
    if (j["type"] == "val" || j["type"] == "monitor") lines.push_back(j);
  }
  return lines;
}

}  // namespace dcsr::test

// Checks the exit status and that the output contains `text`.
#define REQUIRE_FAILS_WITH(result, code, text)          \
  do {                                                  \
    INFO("output: " << (result).output);                \
    CHECK((result).status == (code));                   \
    CHECK_THAT((result).output, Catch::Contains(text)); \
  } while (0)
