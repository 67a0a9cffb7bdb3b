// SIGINT and SIGTERM (runtime/signals.h) sent to the real `dcsr` binary:
// training stops at a step boundary with model_latest saved and a stop line,
// and a resume continues the same curve; a second signal stops at once with
// no temp file left; eval stops at once leaving no output at all; sr on
// folders keeps the pairs written and nothing of the one in progress.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "cli_runner.h"
#include "dcsr/inference/eval.h"
#include "runtime/signals.h"

using namespace dcsr;
using test::RunResult;
namespace fs = std::filesystem;

namespace {

const char* kTiny =
    "--set n_feats=4 --set batch_size=2 --set patch_size=16 --set num_patch=2 --set log_every=1 --quiet";

// Starts `dcsr ARGS` in `cwd` (stdout and stderr to `cwd`/out.txt), one thread.
pid_t spawn_dcsr(const std::string& args, const std::string& cwd) {
  const std::string command = "exec " + test::quote(std::string(DCSR_BIN_DIR) + "/dcsr") + " " + args;
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::chdir(cwd.c_str()) != 0) ::_exit(127);
    int fd = ::open("out.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1), ::dup2(fd, 2);
    ::setenv("DCSR_NUM_THREADS", "1", 1);
    ::unsetenv("DCSR_MODEL");
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

int wait_status(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1000 + WTERMSIG(status);
}

// Polls (without timing anything) until `ready()` or the process ended; false if it ended first.
template <typename Ready>
bool wait_until(pid_t pid, Ready ready) {
  for (int i = 0; i < 200000; ++i) {  // a bound so that a broken build cannot hang the suite
    if (ready()) return true;
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return false;
    ::usleep(2000);
  }
  return false;
}

std::vector<nlohmann::json> log_lines(const std::string& path) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded()) lines.push_back(j);
  }
  return lines;
}

int64_t last_train_step(const std::string& log) {
  int64_t step = 0;
  for (const nlohmann::json& j : log_lines(log))
    if (j.value("type", "") == "train") step = j["step"].get<int64_t>();
  return step;
}

// step -> loss of the "train" lines (log_every 1).
std::map<int64_t, double> losses(const std::string& log) {
  std::map<int64_t, double> out;
  for (const nlohmann::json& j : log_lines(log))
    if (j.value("type", "") == "train") out[j["step"].get<int64_t>()] = j["loss"].get<double>();
  return out;
}

bool has_temp_files(const std::string& dir) {
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.path().filename().string().find(".tmp.") != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("signals: SIGINT stops training at a step boundary and a resume continues the same curve",
          "[signals][cli][train]") {
  test::TempDir dir("signals");
  test::write_dataset(dir / "set", 2, 64, 64);
  const std::string base = "train --data set " + std::string(kTiny);
  pid_t pid = spawn_dcsr(base + " --out run --steps 100000", dir.str());
  REQUIRE(wait_until(pid, [&] { return last_train_step(dir / "run/train_log.jsonl") >= 2; }));
  ::kill(pid, SIGINT);
  const int status = wait_status(pid);
  std::ifstream printed(dir / "out.txt");
  INFO(std::string(std::istreambuf_iterator<char>(printed), {}));
  REQUIRE(status == 130);
  const std::vector<nlohmann::json> lines = log_lines(dir / "run/train_log.jsonl");
  REQUIRE(!lines.empty());
  const nlohmann::json& stop = lines.back();
  CHECK(stop["type"] == "stop");
  CHECK(stop["reason"] == "SIGINT");
  const int64_t k = stop["step"].get<int64_t>();
  CHECK(k == last_train_step(dir / "run/train_log.jsonl"));
  Checkpoint saved = read_checkpoint(dir / "run/model_latest.ckpt");
  CHECK(saved.extra["loop"]["step"] == k);
  CHECK_FALSE(has_temp_files(dir / "run"));

  // Resumed to k + 3 steps: the same losses and weights as one uninterrupted run.
  const std::string steps = " --steps " + std::to_string(k + 3);
  test::RunResult resumed = test::run_dcsr("train --resume run/model_latest.ckpt --quiet" + steps, dir.str());
  INFO(resumed.output);
  REQUIRE(resumed.status == 0);
  REQUIRE(test::run_dcsr(base + " --out ref" + steps, dir.str()).status == 0);
  const std::map<int64_t, double> a = losses(dir / "run/train_log.jsonl"), b = losses(dir / "ref/train_log.jsonl");
  REQUIRE(b.size() == size_t(k + 3));
  CHECK(a == b);  // bit for bit, step by step
  Checkpoint x = read_checkpoint(dir / "run/model_latest.ckpt"), y = read_checkpoint(dir / "ref/model_latest.ckpt");
  REQUIRE(x.tensors.size() == y.tensors.size());
  for (size_t i = 0; i < x.tensors.size(); ++i) {
    INFO(x.tensors[i].first);
    REQUIRE(x.tensors[i].second.nbytes() == y.tensors[i].second.nbytes());
    CHECK(std::memcmp(x.tensors[i].second.raw_data(), y.tensors[i].second.raw_data(), x.tensors[i].second.nbytes()) ==
          0);
  }
}

TEST_CASE("signals: SIGTERM stops training with 143; a second signal stops at once", "[signals][cli][train]") {
  test::TempDir dir("signals");
  test::write_dataset(dir / "set", 2, 64, 64);
  const std::string base = "train --data set " + std::string(kTiny) + " --steps 100000";
  pid_t pid = spawn_dcsr(base + " --out term", dir.str());
  REQUIRE(wait_until(pid, [&] { return last_train_step(dir / "term/train_log.jsonl") >= 1; }));
  ::kill(pid, SIGTERM);
  REQUIRE(wait_status(pid) == 143);
  CHECK(log_lines(dir / "term/train_log.jsonl").back()["reason"] == "SIGTERM");
  CHECK(fs::exists(dir / "term/model_latest.ckpt"));

  pid = spawn_dcsr(base + " --out twice --set checkpoint_every=1", dir.str());
  REQUIRE(wait_until(pid, [&] { return last_train_step(dir / "twice/train_log.jsonl") >= 1; }));
  ::kill(pid, SIGINT);
  ::kill(pid, SIGINT);
  CHECK(wait_status(pid) == 130);
  CHECK_FALSE(has_temp_files(dir / "twice"));
}

TEST_CASE("signals: SIGINT during eval leaves no output at all", "[signals][cli]") {
  test::TempDir dir("signals");
  test::write_dataset(dir / "set", 24, 48, 48);
  test::write_model(dir / "m.ckpt", 4);
  pid_t pid = spawn_dcsr("eval --data set --model m.ckpt --json e.json --save-dir saved --quiet", dir.str());
  auto first_image_staged = [&] {
    for (const auto& entry : fs::directory_iterator(dir.str()))
      if (entry.path().filename().string().rfind(".saved.tmp.", 0) == 0 && fs::exists(entry.path() / "p0.png"))
        return true;
    return false;
  };
  REQUIRE(wait_until(pid, first_image_staged));
  ::kill(pid, SIGINT);
  REQUIRE(wait_status(pid) == 130);
  CHECK_FALSE(fs::exists(dir / "e.json"));
  CHECK_FALSE(fs::exists(dir / "saved"));
  CHECK_FALSE(has_temp_files(dir.str()));
}

// `dcsr sr` on folders is a batch of single runs: a signal ends it at once;
// the pairs written before it keep their complete outputs, the pair in
// progress leaves no file (the older file of its name is put back), and one
// line says how many pairs were written and which was in progress.
TEST_CASE("signals: SIGTERM during dcsr sr on folders keeps the pairs written and nothing of the one in progress",
          "[signals][cli][sr_batch]") {
  test::TempDir dir("signals");
  constexpr int kPairs = 10;  // p0 ... p9: sorted by name as by number
  test::write_dataset(dir / "set", kPairs, 64, 64);
  test::write_model(dir / "m.ckpt", 4);
  fs::create_directories(dir / "out");
  // Every output has an older file of its name: a finished pair replaces it,
  // the pair in progress must leave it as it was.
  auto older = [](int i) { return "older output " + std::to_string(i); };
  auto output = [&](int i) { return dir / ("out/p" + std::to_string(i) + ".png"); };
  for (int i = 0; i < kPairs; ++i) test::write_bytes(output(i), older(i));
  const std::string args = "sr --lr-dir set/LR/x2 --ref-dir set/Ref/x2 --registration none --model m.ckpt";
  pid_t pid = spawn_dcsr(args + " --out-dir out", dir.str());
  // Pair k (k >= 1) in progress: its older file is kept as .pk.png.tmp.PID
  // from its start to its commit, after pair k - 1's commit.
  auto later_pair_in_progress = [&] {
    for (int i = 1; i < kPairs; ++i)
      if (fs::exists(dir / ("out/.p" + std::to_string(i) + ".png.tmp." + std::to_string(pid)))) return true;
    return false;
  };
  REQUIRE(wait_until(pid, later_pair_in_progress));
  ::kill(pid, SIGTERM);
  const int status = wait_status(pid);
  const std::string printed = test::read_bytes_of(dir / "out.txt");
  INFO(printed);
  REQUIRE(status == 143);
  const std::string head = "dcsr sr: stopped by SIGTERM: ";
  const size_t at = printed.find(head);
  REQUIRE(at != std::string::npos);
  const std::string line = printed.substr(at, printed.find('\n', at) - at);
  const int written = std::stoi(line.substr(head.size()));
  REQUIRE(written >= 1);
  REQUIRE(written < kPairs);
  const std::string counted = head + std::to_string(written) + " of " + std::to_string(kPairs) + " pairs written to out";
  const std::string in_progress = "; pair " + std::to_string(written + 1) + "/" + std::to_string(kPairs) + " (p" +
                                  std::to_string(written) + ".png) was in progress and left no file";
  CHECK((line == counted + in_progress || line == counted));  // (a signal between two pairs: none in progress)
  // The count is the pairs' "wrote" lines, and their outputs are complete:
  // the bytes an uninterrupted run writes. The others are untouched.
  size_t wrote_lines = 0;
  for (size_t p = printed.find(" wrote out/"); p != std::string::npos; p = printed.find(" wrote out/", p + 1))
    ++wrote_lines;
  CHECK(wrote_lines == size_t(written));
  const test::RunResult whole = test::run_dcsr(args + " --out-dir whole --quiet", dir.str());
  INFO(whole.output);
  REQUIRE(whole.status == 0);
  for (int i = 0; i < kPairs; ++i) {
    INFO("pair " << i);
    const std::string bytes = test::read_bytes_of(output(i));
    if (i < written) CHECK(bytes == test::read_bytes_of(dir / ("whole/p" + std::to_string(i) + ".png")));
    else CHECK(bytes == older(i));
  }
  CHECK_FALSE(has_temp_files(dir / "out"));
}

TEST_CASE("signals: the stop flag and the names of signals", "[signals]") {
  runtime::clear_stop_signal();
  CHECK(runtime::stop_signal() == 0);
  CHECK(runtime::signal_name(SIGINT) == "SIGINT");
  CHECK(runtime::signal_name(SIGTERM) == "SIGTERM");
  CHECK(runtime::signal_name(SIGHUP) == "signal " + std::to_string(SIGHUP));
}

TEST_CASE("signals: a signal during HoldStops ends the run when the hold ends, not before", "[signals]") {
  test::TempDir dir("signals_hold");
  const std::string marker = dir / "after_raise";
  const pid_t child = ::fork();
  if (child == 0) {
    runtime::install_stop_handlers(runtime::StopMode::kImmediate);
    const int cleanup = runtime::add_exit_cleanup(runtime::CleanupKind::kUnlink, dir / "temp");
    std::ofstream(dir / "temp") << "x";
    {
      runtime::HoldStops hold;
      ::raise(SIGINT);  // held: the work below still runs
      std::ofstream(marker) << "ran";
    }
    runtime::remove_exit_cleanup(cleanup);
    ::_exit(0);  // not reached: the held signal ends the process with 130
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 130);
  CHECK(fs::exists(marker));
  CHECK_FALSE(fs::exists(dir / "temp"));  // the cleanups ran as for any signal
}
