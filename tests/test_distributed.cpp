// Data-parallel training (nn/distributed.h) through the real
// launcher: `mpirun -np 2 dcsr train` against `dcsr train` on one rank, with
// the same global batch and seed. Needs a build with MPI and mpirun on the
// PATH; otherwise each case prints "SKIPPED: no MPI" (ctest lists it skipped).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "cli_runner.h"
#include "nn/checkpoint.h"
#include "nn/distributed.h"

using namespace dcsr;
namespace fs = std::filesystem;

namespace {

using test::run_dcsr;
using test::RunResult;

bool mpi_usable() {
  if (!distributed::mpi_built()) return false;
  return std::system("command -v mpirun > /dev/null 2>&1") == 0;
}

#define REQUIRE_MPI_OR_SKIP()                 \
  do {                                        \
    if (!mpi_usable()) {                      \
      WARN("SKIPPED: no MPI");                \
      return;                                 \
    }                                         \
  } while (0)

// `mpirun -np N dcsr ARGS` in `cwd`. Open MPI refuses to run as root without
// its two documented switches (CI runs as root), and 2 ranks on fewer cores
// need --oversubscribe.
// `mpirun_options` go to mpirun (e.g. "-x NAME=VALUE").
RunResult run_mpi(int ranks, const std::string& args, const std::string& cwd, const std::string& mpirun_options = "") {
  const std::string launcher = "env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun "
                               "--oversubscribe -np " + std::to_string(ranks) + " -x DCSR_NUM_THREADS=1 " +
                               mpirun_options + " " + test::quote(std::string(DCSR_BIN_DIR) + "/dcsr");
  return test::run_shell("cd " + test::quote(cwd) + " && env -u DCSR_MODEL " + launcher + " " + args + " 2>&1");
}

// Runs args_one in one process, then args_two on 2 ranks, in dir: both must
// succeed (each one's output is shown when it does not).
void require_one_and_two_ranks_succeed(const std::string& args_one, const std::string& args_two,
                                       const test::TempDir& dir) {
  RunResult one = run_dcsr(args_one, dir.str());
  INFO(one.output);
  REQUIRE(one.status == 0);
  RunResult two = run_mpi(2, args_two, dir.str());
  INFO(two.output);
  REQUIRE(two.status == 0);
}

// step -> loss of the "train" lines of a log.
std::map<int64_t, double> losses(const fs::path& log_path) {
  std::map<int64_t, double> out;
  std::ifstream log(log_path);
  std::string line;
  while (std::getline(log, line)) {
    nlohmann::json j = nlohmann::json::parse(line);
    if (j["type"] == "train") out[j["step"].get<int64_t>()] = j["loss"].get<double>();
  }
  return out;
}

// The largest absolute difference between the model tensors of two checkpoints.
double max_parameter_difference(const fs::path& a, const fs::path& b) {
  Checkpoint ca = read_checkpoint(a), cb = read_checkpoint(b);
  double worst = 0;
  for (const auto& [name, t] : ca.tensors) {
    if (name.rfind("adam.", 0) == 0) continue;
    const Tensor* u = cb.find(name);
    REQUIRE(u != nullptr);
    const std::vector<double> x = t.to_vector<double>(), y = u->to_vector<double>();
    REQUIRE(x.size() == y.size());
    for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::abs(x[i] - y[i]));
  }
  return worst;
}

void require_same_curve(const std::map<int64_t, double>& expected, const std::map<int64_t, double>& got,
                        int64_t from_step) {
  int compared = 0;
  for (const auto& [step, loss] : expected) {
    if (step < from_step) continue;
    INFO("step " << step);
    REQUIRE(got.count(step) == 1);
    CHECK(std::abs(got.at(step) - loss) <= 1e-6 * std::abs(loss));
    ++compared;
  }
  CHECK(compared > 0);
}

// Batch 4 over 2 ranks: 2 samples each; log every step.
const char* kTiny =
    "--set n_feats=4 --set batch_size=4 --set patch_size=16 --set num_patch=4 --set log_every=1 --quiet";

}  // namespace

// 8 steps: float32 sums in another order (2 shares + an allreduce instead of
// one batch) differ in the last bits, and the model amplifies that: Adam
// turns a gradient that is zero up to rounding into a step of +-lr, and a
// patch-matching argmax with a near-tie flips. Measured on this tiny model:
// parameters within 8e-8 after 4 steps, 2e-7 after 8, 3e-5 after 12 (losses
// within 1e-7 relative until then). The bounds below hold with a wide margin
// at 8 steps; without the shared contextual-loss centre (nn/distributed.h)
// the losses differ by 4e-4 at the first step.
TEST_CASE("distributed: 2 ranks train as 1 rank does, and a 2-rank run resumes on 1 rank", "[distributed][slow]") {
  REQUIRE_MPI_OR_SKIP();
  test::TempDir dir("mpi");
  test::write_dataset(dir / "set", 2, 64, 64);  // 2 images x 4 patches / batch 4 = 2 steps per epoch
  const std::string base = "train --data set " + std::string(kTiny);
  require_one_and_two_ranks_succeed(base + " --out one --steps 8", base + " --out two --steps 8", dir);
  const auto curve = losses(dir / "one/train_log.jsonl");
  CHECK(curve.size() == 8);
  require_same_curve(curve, losses(dir / "two/train_log.jsonl"), 1);
  CHECK(max_parameter_difference(dir / "one/model_latest.ckpt", dir / "two/model_latest.ckpt") <= 1e-5);

  // 2 ranks to step 5 (mid-epoch), then one rank continues the same curve.
  REQUIRE(run_mpi(2, base + " --out mixed --steps 5", dir.str()).status == 0);
  RunResult resumed = run_dcsr("train --resume mixed/model_latest.ckpt --steps 8 --quiet", dir.str());
  INFO(resumed.output);
  REQUIRE(resumed.status == 0);
  require_same_curve(curve, losses(dir / "mixed/train_log.jsonl"), 6);
  CHECK(max_parameter_difference(dir / "one/model_latest.ckpt", dir / "mixed/model_latest.ckpt") <= 1e-5);
}

// A signal that reaches one rank of a data-parallel run: the ranks stop at
// the same step boundary, rank 0 saves model_latest at that step, and the
// job ends with 143 on every rank, none aborting the others. (The signalled
// rank used to stop alone and abort the job, rank 0 with it while it saved:
// the checkpoint was the last epoch's, the log steps past it, no stop line.)
TEST_CASE("distributed: SIGTERM to one rank stops every rank at one step, with the checkpoint saved",
          "[distributed][slow]") {
  REQUIRE_MPI_OR_SKIP();
  test::TempDir dir("mpi_stop");
  test::write_dataset(dir / "set", 2, 64, 64);
  const std::string base = "train --data set " + std::string(kTiny);
  const std::string launcher = "env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe "
                               "-np 2 -x DCSR_NUM_THREADS=1 " + test::quote(std::string(DCSR_BIN_DIR) + "/dcsr");
  // mpirun in the background; its status in a file when it ends.
  REQUIRE(test::run_shell("cd " + test::quote(dir.str()) + " && ( " + launcher + " " + base +
                          " --out stopjob --steps 100000 > mpi_out.txt 2>&1; echo $? > mpi_status.txt ) "
                          "> /dev/null 2>&1 &")
              .status == 0);
  auto train_lines = [&] {
    std::ifstream log(dir / "stopjob/train_log.jsonl");
    int n = 0;
    for (std::string line; std::getline(log, line);) n += line.find("\"train\"") != std::string::npos;
    return n;
  };
  for (int k = 0; k < 1200 && train_lines() < 3; ++k) test::run_shell("sleep 0.1");
  REQUIRE(train_lines() >= 3);
  // Rank 1's process (Open MPI puts the rank in each one's environment): a
  // stop on rank 0 alone was always saved; rank 1 stopping alone was not.
  const RunResult signalled = test::run_shell(
      "for pid in $(pgrep -f '^" + std::string(DCSR_BIN_DIR) + "/dcsr train .*stopjob'); do "
      "if tr '\\0' '\\n' < /proc/$pid/environ | grep -qx 'OMPI_COMM_WORLD_RANK=1'; then "
      "kill -TERM $pid && echo $pid && exit 0; fi; done; exit 1");
  INFO(signalled.output);
  REQUIRE(signalled.status == 0);
  for (int k = 0; k < 1200 && !fs::exists(dir / "mpi_status.txt"); ++k) test::run_shell("sleep 0.1");
  REQUIRE(fs::exists(dir / "mpi_status.txt"));
  std::ifstream printed(dir / "mpi_out.txt");
  INFO(std::string(std::istreambuf_iterator<char>(printed), {}));
  std::ifstream status_file(dir / "mpi_status.txt");
  int status = -1;
  status_file >> status;
  CHECK(status == 143);
  std::vector<nlohmann::json> lines;
  {
    std::ifstream log(dir / "stopjob/train_log.jsonl");
    for (std::string line; std::getline(log, line);) lines.push_back(nlohmann::json::parse(line));
  }
  REQUIRE(!lines.empty());
  CHECK(lines.back()["type"] == "stop");
  const int64_t stopped_at = lines.back()["step"].get<int64_t>();
  CHECK(read_checkpoint(dir / "stopjob/model_latest.ckpt").extra["loop"]["step"] == stopped_at);
  // And it resumes, on one rank, to two more steps.
  RunResult resumed = run_dcsr("train --resume stopjob/model_latest.ckpt --quiet --steps " +
                                   std::to_string(stopped_at + 2),
                               dir.str());
  INFO(resumed.output);
  CHECK(resumed.status == 0);
}

// A short last batch: 3 samples per epoch over 4 ranks leaves one rank with
// none; it runs a stand-in with weight 0 and the curve is still the 1-rank one.
TEST_CASE("distributed: more ranks than samples in a batch", "[distributed][slow]") {
  REQUIRE_MPI_OR_SKIP();
  test::TempDir dir("mpi_short");
  test::write_dataset(dir / "set", 1, 64, 64);
  const std::string base = "train --data set --set n_feats=4 --set batch_size=3 --set patch_size=16 "
                           "--set num_patch=3 --set log_every=1 --quiet --steps 3";
  REQUIRE(run_dcsr(base + " --out one", dir.str()).status == 0);
  RunResult four = run_mpi(4, base + " --out four", dir.str());
  INFO(four.output);
  REQUIRE(four.status == 0);
  require_same_curve(losses(dir / "one/train_log.jsonl"), losses(dir / "four/train_log.jsonl"), 1);
}

// DCSR_COLLECTIVES_ALWAYS=1 (what tools/gpu_check.sh uses to put NCCL through
// one GPU): one rank under mpirun runs the gradient allreduce anyway, here
// through MPI on the CPU, and trains exactly as a plain process does.
TEST_CASE("distributed: one rank with DCSR_COLLECTIVES_ALWAYS=1 trains as one process", "[distributed][slow]") {
  REQUIRE_MPI_OR_SKIP();
  test::TempDir dir("mpi_always");
  test::write_dataset(dir / "set", 1, 64, 64);
  const std::string base = "train --data set " + std::string(kTiny) + " --steps 3";
  REQUIRE(run_dcsr(base + " --out one", dir.str()).status == 0);
  RunResult forced = run_mpi(1, base + " --out forced", dir.str(), "-x DCSR_COLLECTIVES_ALWAYS=1");
  INFO(forced.output);
  REQUIRE(forced.status == 0);
  const auto curve = losses(dir / "one/train_log.jsonl");
  CHECK(curve.size() == 3);
  CHECK(losses(dir / "forced/train_log.jsonl") == curve);  // a sum over one rank changes no bit
  // One gradient allreduce per step went through MPI (printed at exit).
  CHECK_THAT(forced.output, Catch::Contains("DCSR_COLLECTIVES_ALWAYS=1: 3 allreduces went through MPI or NCCL"));
}

TEST_CASE("distributed: a rank that dies ends the whole job with an error, never a hang", "[distributed][slow]") {
  REQUIRE_MPI_OR_SKIP();
  test::TempDir dir("mpi_kill");
  test::write_dataset(dir / "set", 2, 64, 64);
  // The job runs in the background; once rank 0 has logged step 2, rank 1
  // (the process whose environment says OMPI_COMM_WORLD_RANK=1) is killed
  // with SIGKILL. `timeout 60` turns a hang into status 124, which fails.
  const std::string script =
      "mpirun_args='train --data set " + std::string(kTiny) + " --out killed --steps 100000'\n" +
      "env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 DCSR_COLLECTIVE_TIMEOUT=20 mpirun "
      "--oversubscribe -np 2 -x DCSR_NUM_THREADS=1 -x DCSR_COLLECTIVE_TIMEOUT " +
      test::quote(std::string(DCSR_BIN_DIR) + "/dcsr") + " $mpirun_args > job.log 2>&1 &\n" +
      "job=$!\n"
      "i=0; until grep -q '\"step\":2,' killed/train_log.jsonl 2>/dev/null; do\n"
      "  i=$((i+1)); [ $i -gt 1200 ] && { echo 'no step 2'; kill $job; exit 90; }; sleep 0.1; done\n"
      // Only this job's ranks: other tests may run MPI jobs at the same time.
      "for p in $(pgrep -f -- '--out killed --steps 100000'); do\n"
      "  tr '\\0' '\\n' < /proc/$p/environ 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1 && kill -9 $p\n"
      "done\n"
      "wait $job; status=$?; cat job.log; exit $status\n";
  {
    std::ofstream(dir / "kill.sh") << script;
  }
  RunResult r = test::run_shell("cd " + test::quote(dir.str()) + " && timeout 60 sh kill.sh 2>&1");
  const int status = r.status;
  INFO(r.output);
  CHECK(status != 0);
  CHECK(status != 90);   // the job never reached step 2
  CHECK(status != 124);  // the job hung
}

// `mpirun -np 2 dcsr eval`: rank r evaluates images r, r + 2, ...; the root
// gathers them. The JSON equals one process's, but for the per-image times.
TEST_CASE("distributed: sharded eval gives the single-process JSON", "[distributed][slow]") {
  REQUIRE_MPI_OR_SKIP();
  test::TempDir dir("mpi_eval");
  test::write_dataset(dir / "set", 3, 24, 28);
  // A name with a tab, a line break and a '%' (a tab broke the ranks' line format).
  for (const char* folder : {"HR", "LR/x2", "Ref/x2"})
    fs::rename(dir / (std::string("set/") + folder + "/p1.png"),
               dir / (std::string("set/") + folder + "/p\t1\n%41.png"));
  test::write_model(dir / "m.ckpt", 4);
  require_one_and_two_ranks_succeed("eval --data set --model m.ckpt --json one.json --quiet", "eval --data set --model m.ckpt --json two.json --quiet", dir);
  auto without_times = [](nlohmann::json j) {
    for (auto& image : j["images"]) image.erase("seconds");
    return j;
  };
  const nlohmann::json a = nlohmann::json::parse(test::read_bytes_of(dir / "one.json"));
  const nlohmann::json b = nlohmann::json::parse(test::read_bytes_of(dir / "two.json"));
  CHECK(a["images"].size() == 3);
  CHECK(without_times(a) == without_times(b));
  bool named = false;
  for (const auto& image : b["images"]) named = named || image["name"] == "p\t1\n%41.png";
  CHECK(named);
}

// Sharded eval's ranks go at their own pace: one rank's share much longer
// than the other's, by more than DCSR_COLLECTIVE_TIMEOUT, is no dead rank
// while it keeps working (the job was aborted at the gather).
TEST_CASE("distributed: sharded eval outlasts the deadline when one rank's share is far longer", "[distributed][slow]") {
  REQUIRE_MPI_OR_SKIP();
  test::TempDir dir("mpi_eval_uneven");
  test::write_dataset(dir / "set", 3, 16, 16);
  // Image 1 (rank 1's only one) is 30 times wider and higher: its share
  // takes many tiles, and the rank's kernels beat in between
  // (runtime/heartbeat.h). The deadline must exceed the longest gap between
  // two signs of life under whatever else runs. Measured at the root, one
  // thread per rank: with a sign after every tile only, the longest gap was
  // 1.6 s on a Zen 4 EPYC (a share of 9.6 s) and 7.9 s on an AVX2-only EPYC
  // (44 s; over 15 s with another test beside it); with the beats, 0.46 s on
  // the Zen 4. One thread per rank keeps the ranks from crowding each
  // other's cores, and ctest runs the case alone (RUN_SERIAL,
  // CMakeLists.txt). On a fast machine the share may end within the
  // deadline, and the case then proves less: it says so.
  constexpr double kDeadline_s = 5;
  test::resize_pair(dir / "set", "p1.png", 480, 480, 7);
  test::write_model(dir / "m.ckpt", 4);
  RunResult r = run_mpi(2, "eval --data set --model m.ckpt --json two.json --quiet --threads 1", dir.str(),
                        "-x DCSR_COLLECTIVE_TIMEOUT=" + std::to_string(int(kDeadline_s)));
  INFO(r.output);
  CHECK(r.status == 0);
  const nlohmann::json two = nlohmann::json::parse(test::read_bytes_of(dir / "two.json"));
  REQUIRE(two["images"].size() == 3);
  const double share_s = two["images"][1]["seconds"].get<double>();
  if (share_s < kDeadline_s)
    WARN("rank 1's share took " << share_s << " s, within the deadline of " << kDeadline_s
                                << " s: this run did not outlast it");
}

// A 2-rank training run validates and measures its monitored sets sharded
// over the ranks: one "val" and one "monitor" line per validation point, from
// the root, with the scores one rank gives (up to the 2-rank run's rounding).
TEST_CASE("distributed: validation and monitored sets are sharded and logged once", "[distributed][slow]") {
  REQUIRE_MPI_OR_SKIP();
  test::TempDir dir("mpi_monitor");
  test::write_dataset(dir / "set", 2, 64, 64);  // 2 steps per epoch
  test::write_dataset(dir / "val", 3, 24, 28);
  const std::string base = "train --data set " + std::string(kTiny) + " --val-data val --monitor again=val --steps 2";
  require_one_and_two_ranks_succeed(base + " --out one", base + " --out two", dir);
  const std::vector<nlohmann::json> a = test::validation_lines(dir / "one/train_log.jsonl"),
                                    b = test::validation_lines(dir / "two/train_log.jsonl");
  REQUIRE(a.size() == 2);
  REQUIRE(b.size() == 2);
  for (size_t k = 0; k < 2; ++k) {
    CHECK(b[k]["type"] == a[k]["type"]);
    CHECK(b[k]["images"] == 3);
    CHECK(b[k]["psnr_bicubic"] == a[k]["psnr_bicubic"]);
    CHECK(std::abs(b[k]["psnr"].get<double>() - a[k]["psnr"].get<double>()) < 1e-3);
  }
  CHECK(b[1]["set"] == "again");
  CHECK(b[1]["psnr"] == b[0]["psnr"]);  // the same folder, the same model
}

// `mpirun -np 2 dcsr sr` on folders: the pairs are shared over the ranks
// (dcsr/inference/shard_reports.h), each rank writes its own outputs, and the
// root prints every pair's lines and the one summary. Against one process:
// the same files byte for byte, the same skipped pair, the same exit status.
TEST_CASE("distributed: sharded dcsr sr on folders writes what one process writes", "[distributed][slow]") {
  REQUIRE_MPI_OR_SKIP();
  test::TempDir dir("mpi_sr");
  test::write_model(dir / "m.ckpt", 4);
  fs::create_directories(dir / "wide");
  fs::create_directories(dir / "tele");
  for (int k = 0; k < 5; ++k) {
    const std::string name = "p" + std::to_string(k) + ".png";
    write_png(dir / ("wide/" + name), test::test_image(20 + 2 * k, 24, uint64_t(1 + k)));
    write_png(dir / ("tele/" + name), test::test_image(20 + 2 * k, 24, uint64_t(11 + k)));
  }
  // Pairs 2 and 3 with their telephotos cut in half. The pairs have one tile
  // each, so they alternate over 2 ranks (assign_by_cost): pair 2 fails on
  // rank 1, pair 3 on the root.
  const std::string png1 = test::read_bytes_of(dir / "tele/p1.png"), png2 = test::read_bytes_of(dir / "tele/p2.png");
  test::write_bytes(dir / "tele/p1.png", png1.substr(0, png1.size() / 2));
  test::write_bytes(dir / "tele/p2.png", png2.substr(0, png2.size() / 2));
  const std::string args = "sr --lr-dir wide --ref-dir tele --registration none --model m.ckpt --out-dir ";
  RunResult one = run_dcsr(args + "one", dir.str());
  INFO(one.output);
  RunResult two = run_mpi(2, args + "two", dir.str());
  INFO(two.output);
  CHECK(one.status == 4);
  CHECK(two.status == 4);

  auto files_of = [](const fs::path& folder) {
    std::map<std::string, std::string> files;
    for (const auto& entry : fs::directory_iterator(folder))
      files[entry.path().filename().string()] = test::read_bytes_of(entry.path());
    return files;
  };
  const auto expected = files_of(dir / "one"), got = files_of(dir / "two");
  CHECK(expected.size() == 3);
  CHECK(expected.count("p1.png") + expected.count("p2.png") == 0);
  CHECK(got == expected);  // names and bytes; no temporary file left over

  // The skipped lines (printed by the root, whichever rank skipped the pair) and the one summary.
  auto lines_with = [](const std::string& output, const std::string& text, const std::string& start = "") {
    std::vector<std::string> found;
    std::istringstream in(output);
    for (std::string line; std::getline(in, line);)
      if (line.rfind(start, 0) == 0 && line.find(text) != std::string::npos) found.push_back(line);
    std::sort(found.begin(), found.end());
    return found;
  };
  const auto skipped = lines_with(one.output, " skipped (", "dcsr sr: pair ");
  REQUIRE(skipped.size() == 2);
  CHECK_THAT(skipped[0], Catch::Contains("pair 2/5 skipped") && Catch::Contains("p1.png"));
  CHECK_THAT(skipped[1], Catch::Contains("pair 3/5 skipped") && Catch::Contains("p2.png"));
  CHECK(lines_with(two.output, " skipped (", "dcsr sr: pair ") == skipped);
  CHECK(lines_with(two.output, " wrote two/", "pair ").size() == 3);
  CHECK(lines_with(two.output, "2 of 5 pairs failed and were skipped (exit status 4)").size() == 1);
  CHECK(lines_with(one.output, "2 of 5 pairs failed and were skipped (exit status 4)").size() == 1);

  // One pair under mpirun is refused (every rank would write the same file); nothing is written.
  RunResult single = run_mpi(2, "sr --lr wide/p0.png --ref tele/p0.png --out single.png --model m.ckpt", dir.str());
  INFO(single.output);
  CHECK(single.status == 2);
  CHECK_THAT(single.output, Catch::Contains("one pair (--lr/--ref/--out) runs in one process"));
  CHECK_FALSE(fs::exists(dir / "single.png"));
  // So is a command whose ranks would not share the work (resize, prepare, plot-log: both ranks wrote the
  // same file, and prepare's second rank failed to move its staging folder).
  RunResult resize = run_mpi(2, "resize --in wide/p0.png --out resized.png --size 10x10", dir.str());
  INFO(resize.output);
  CHECK(resize.status == 2);
  CHECK(lines_with(resize.output, "under mpirun", "dcsr resize: runs in one process").size() == 1);
  CHECK_FALSE(fs::exists(dir / "resized.png"));

  // All pairs good: status 0 from both, and the root's summary counts all five.
  test::write_bytes(dir / "tele/p1.png", png1);
  test::write_bytes(dir / "tele/p2.png", png2);
  RunResult all = run_mpi(2, args + "all --quiet", dir.str());
  INFO(all.output);
  CHECK(all.status == 0);
  CHECK(files_of(dir / "all").size() == 5);
}

// A rank of a sharded sr that stops (SIGSTOP: alive but silent) ends the job
// within the deadline, whatever it was doing: working (the root hears nothing
// from it), or already done (then the root's closing barrier waits for it).
TEST_CASE("distributed: a stopped rank ends a sharded dcsr sr with an error, never a hang", "[distributed][slow]") {
  REQUIRE_MPI_OR_SKIP();
  test::TempDir dir("mpi_sr_stop");
  test::write_model(dir / "m.ckpt", 4);
  fs::create_directories(dir / "wide");
  fs::create_directories(dir / "tele");
  for (int k = 0; k < 12; ++k) {  // one tile each, about a second of work (the matching)
    const std::string name = std::string(k < 10 ? "p0" : "p") + std::to_string(k) + ".png";
    write_png(dir / ("wide/" + name), test::test_image(24, 28, uint64_t(1 + k)));
    write_png(dir / ("tele/" + name), test::test_image(24, 28, uint64_t(11 + k)));
  }
  // Rank 1 (OMPI_COMM_WORLD_RANK=1 in its environment) is stopped once the
  // first output exists; `timeout 60` turns a hang into status 124.
  const std::string script =
      "env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 DCSR_COLLECTIVE_TIMEOUT=5 mpirun "
      "--oversubscribe -np 2 -x DCSR_NUM_THREADS=1 -x DCSR_COLLECTIVE_TIMEOUT " +
      test::quote(std::string(DCSR_BIN_DIR) + "/dcsr") +
      " sr --lr-dir wide --ref-dir tele --registration none --model m.ckpt --out-dir stopped > job.log 2>&1 &\n"
      "job=$!\n"
      // (A job that has already ended, e.g. aborted on a slow first tile, ends the wait too.)
      "i=0; until ls stopped 2>/dev/null | grep -q '[.]png$' || ! kill -0 $job 2>/dev/null; do\n"
      "  i=$((i+1)); [ $i -gt 800 ] && { echo 'no output'; kill $job; exit 90; }; sleep 0.05; done\n"
      "for p in $(pgrep -f -- '--out-dir stopped'); do\n"
      "  tr '\\0' '\\n' < /proc/$p/environ 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1 && kill -STOP $p\n"
      "done\n"
      "wait $job; status=$?; cat job.log\n"
      // Only this job's processes, should any be left.
      "for p in $(pgrep -f -- '--out-dir stopped'); do kill -9 $p; done\n"
      "exit $status\n";
  {
    std::ofstream(dir / "stop.sh") << script;
  }
  RunResult r = test::run_shell("cd " + test::quote(dir.str()) + " && timeout 60 sh stop.sh 2>&1");
  const int status = r.status;
  INFO(r.output);
  CHECK(status != 0);    // 0: the job finished before rank 1 was stopped
  CHECK(status != 90);   // no output ever appeared
  CHECK(status != 124);  // the job hung
  CHECK_THAT(r.output, Catch::Contains("DCSR_COLLECTIVE_TIMEOUT"));
}
