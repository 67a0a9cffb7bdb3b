// The `dcsr` command: every error path gives a clear message naming the file
// or option, a non-zero exit status and no output file; the happy paths of
// prepare, sr, eval, train and sra on tiny generated data; training
// determinism, exact resume and the NaN stop. Runs the built binary
// (DCSR_BIN_DIR/dcsr, a dependency of the test target).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "cli_runner.h"
#include "dcsr/inference/metrics.h"
#include "dcsr/training/trainer.h"
#include "runtime/device.h"

using namespace dcsr;
namespace fs = std::filesystem;

namespace {

using test::quote;
using test::run_dcsr;
using test::RunResult;
using test::write_dataset;
using test::write_model;

bool same_tensors(const std::string& a, const std::string& b) {
  Checkpoint ca = read_checkpoint(a), cb = read_checkpoint(b);
  if (ca.tensors.size() != cb.tensors.size()) return false;
  for (size_t i = 0; i < ca.tensors.size(); ++i) {
    const Tensor& x = ca.tensors[i].second;
    const Tensor& y = cb.tensors[i].second;
    if (ca.tensors[i].first != cb.tensors[i].first || x.shape() != y.shape() || x.dtype() != y.dtype()) return false;
    if (std::memcmp(x.raw_data(), y.raw_data(), x.nbytes()) != 0) return false;
  }
  return true;
}

// `dcsr` run in `dir` with DCSR_NUM_THREADS=1 and the environment `env`.
RunResult run_dcsr_with(const test::TempDir& dir, const std::string& env, const std::string& args) {
  return test::run_shell("cd " + quote(dir.str()) + " && env -u DCSR_MODEL DCSR_NUM_THREADS=1 " + env + " " +
                         quote(std::string(DCSR_BIN_DIR) + "/dcsr") + " " + args + " 2>&1");
}

// run_dcsr_with that must succeed: a failure shows the command's output.
RunResult run_dcsr_ok(const test::TempDir& dir, const std::string& env, const std::string& args) {
  RunResult r = run_dcsr_with(dir, env, args);
  INFO(r.output);
  REQUIRE(r.status == 0);
  return r;
}

const char* kTiny = "--set n_feats=4 --set batch_size=2 --set patch_size=16 --set num_patch=2 --quiet";

// A tiny model (m.ckpt, n_feats 4) and an h x w pair in the canonical layout
// (lr.png, ref.png; test images of seeds `seed` and `seed` + 1) in `dir`.
// Returns the `dcsr sr` command for them, to be run in `dir`: add --out and
// any options.
std::string write_sr_pair(const test::TempDir& dir, int64_t h, int64_t w, uint64_t seed) {
  const std::string model = dir / "m.ckpt";
  write_model(model, 4);
  write_png(dir / "lr.png", test::test_image(h, w, seed));
  write_png(dir / "ref.png", test::test_image(h, w, seed + 1));
  return "sr --registration none --lr lr.png --ref ref.png --model " + quote(model);
}

}  // namespace

TEST_CASE("errors: unknown commands and options", "[cli]") {
  RunResult none = run_dcsr("");
  REQUIRE_FAILS_WITH(none, 2, "Commands:");
  RunResult help = run_dcsr("help");
  CHECK(help.status == 0);
  CHECK_THAT(help.output, Catch::Contains("prepare") && Catch::Contains("sra") && Catch::Contains("eval"));
  RunResult help_sr = run_dcsr("help sr");
  CHECK(help_sr.status == 0);
  CHECK_THAT(help_sr.output, Catch::Contains("--warped-ref") && Catch::Contains("--confidence"));
  CHECK(run_dcsr("sr --help").status == 0);
  REQUIRE_FAILS_WITH(run_dcsr("frobnicate"), 2, "unknown command 'frobnicate'");
  REQUIRE_FAILS_WITH(run_dcsr("help frobnicate"), 2, "unknown command 'frobnicate'");
  REQUIRE_FAILS_WITH(run_dcsr("sr --bogus 1"), 2, "unknown option '--bogus'");
  REQUIRE_FAILS_WITH(run_dcsr("sr --lr"), 2, "'--lr' needs a value");
  REQUIRE_FAILS_WITH(run_dcsr("sr stray"), 2, "unexpected argument 'stray'");
  REQUIRE_FAILS_WITH(run_dcsr("sr --ref a.png --out b.png"), 2, "missing option --lr");
  REQUIRE_FAILS_WITH(run_dcsr("sr --lr a --ref b --out c.png --mode 5k"), 2, "unknown mode '5k'");
  REQUIRE_FAILS_WITH(run_dcsr("eval --data x --threads zero"), 2, "--threads expects an integer");
  REQUIRE_FAILS_WITH(run_dcsr("prepare --out x"), 2, "missing option --photos");
}

TEST_CASE("errors: dcsr sr rejects bad images and models and leaves no output", "[cli]") {
  test::TempDir dir("cli");
  const std::string lr = dir / "lr.png", ref = dir / "ref.png", out = dir / "out.png", model = dir / "m.ckpt";
  write_png(lr, test::test_image(20, 24, 1));
  write_png(ref, test::test_image(20, 24, 2));
  write_png(dir / "ref_big.png", test::test_image(22, 24, 2));
  write_model(model, 4);
  auto sr = [&](const std::string& lr_path, const std::string& ref_path, const std::string& extra) {
    // Pairs in the canonical layout, too small to register: --registration none.
    return run_dcsr("sr --registration none --lr " + quote(lr_path) + " --ref " + quote(ref_path) + " --out " +
                    quote(out) + " " + extra);
  };
  REQUIRE_FAILS_WITH(sr(dir / "missing.png", ref, "--model " + quote(model)), 1, "missing.png' does not exist");
  test::write_bytes(dir / "garbage.png", "GIF89a but not really an image");
  REQUIRE_FAILS_WITH(sr(dir / "garbage.png", ref, "--model " + quote(model)), 1, "garbage.png");
  std::string png = test::read_bytes_of(lr);
  test::write_bytes(dir / "cut.png", png.substr(0, png.size() / 2));
  REQUIRE_FAILS_WITH(sr(lr, dir / "cut.png", "--model " + quote(model)), 1, "cut.png");
  REQUIRE_FAILS_WITH(sr(lr, dir / "ref_big.png", "--model " + quote(model)), 1, "pixel size");
  REQUIRE_FAILS_WITH(sr(lr, ref, "--model " + quote(dir / "nomodel.ckpt")), 1, "nomodel.ckpt' does not exist");
  std::string ckpt = test::read_bytes_of(model);
  test::write_bytes(dir / "trunc.ckpt", ckpt.substr(0, ckpt.size() / 2));
  REQUIRE_FAILS_WITH(sr(lr, ref, "--model " + quote(dir / "trunc.ckpt")), 1, "trunc.ckpt");
  test::write_bytes(dir / "text.ckpt", "hello");
  REQUIRE_FAILS_WITH(sr(lr, ref, "--model " + quote(dir / "text.ckpt")), 1, "text.ckpt");
  // The model loads while the pair is read; with both bad, the model's error is the one reported.
  REQUIRE_FAILS_WITH(sr(dir / "missing.png", ref, "--model " + quote(dir / "text.ckpt")), 1, "text.ckpt");
  {  // another architecture
    Checkpoint vgg;
    vgg.config = {{"model", "vgg19"}, {"layers", "features"}};
    vgg.tensors = {{"features.0.weight", zeros({64, 3, 3, 3})}};
    save_checkpoint(dir / "vgg.ckpt", vgg);
  }
  REQUIRE_FAILS_WITH(sr(lr, ref, "--model " + quote(dir / "vgg.ckpt")), 1, "not a DCSR model");
  {  // a DCSR config whose tensors do not fit (n_feats 4 weights, n_feats 8 config)
    Checkpoint c = read_checkpoint(model);
    c.config["n_feats"] = 8;
    save_checkpoint(dir / "wrong.ckpt", c);
  }
  REQUIRE_FAILS_WITH(sr(lr, ref, "--model " + quote(dir / "wrong.ckpt")), 1, "does not fit");
  // No model at all: the message says how to get one (unless the repository
  // has a default model, which dcsr finds next to its build folder).
  if (!test::repository_has_default_model())
    REQUIRE_FAILS_WITH(run_dcsr("sr --registration none --lr lr.png --ref ref.png --out out.png", dir.str()), 1,
                       "no model given");
  REQUIRE_FAILS_WITH(run_dcsr("sr --registration none --lr " + quote(lr) + " --ref " + quote(ref) + " --out " +
                              quote(dir / "nofolder/out.png") + " --model " + quote(model)),
                     1, "nofolder");
  REQUIRE_FAILS_WITH(sr(lr, ref, "--model " + quote(model) + " --confidence " + quote(dir / "nofolder/c.png")), 1,
                     "--confidence");
  if (!runtime::cuda_available()) {
    REQUIRE_FAILS_WITH(sr(lr, ref, "--model " + quote(model) + " --device cuda"), 1, "no usable GPU");
  }
  CHECK_FALSE(fs::exists(out));
  CHECK_FALSE(fs::exists(dir / "nofolder"));
}

TEST_CASE("forward: dcsr sr writes SR, confidence and warped Ref for any size", "[cli]") {
  test::TempDir dir("cli");
  const std::string model = dir / "m.ckpt";
  write_model(model, 4);
  write_png(dir / "lr.png", test::test_image(27, 33, 1));  // odd sizes
  write_png(dir / "ref.png", test::test_image(27, 33, 2));
  RunResult r = run_dcsr("sr --registration none --lr lr.png --ref ref.png --out out.png --confidence c.png "
                         "--warped-ref w.png --model " +
                             quote(model),
                         dir.str());
  INFO(r.output);
  REQUIRE(r.status == 0);
  ImageInfo out = read_image_info(dir / "out.png"), c = read_image_info(dir / "c.png"), w = read_image_info(dir / "w.png");
  CHECK((out.height == 54 && out.width == 66 && out.channels == 3));
  CHECK((c.height == 27 && c.width == 33 && c.channels == 1));
  CHECK((w.height == 54 && w.width == 66));
  // The maps follow their extensions, as OUT does; an unknown one is refused
  // before any work (the confidence map used to be PNG bytes under any name).
  RunResult jpegs = run_dcsr("sr --registration none --lr lr.png --ref ref.png --out out_j.png --confidence c.jpg "
                             "--warped-ref w.jpeg --quiet --model " + quote(model),
                             dir.str());
  INFO(jpegs.output);
  REQUIRE(jpegs.status == 0);
  CHECK(test::read_bytes_of(dir / "c.jpg").substr(0, 2) == "\xFF\xD8");
  CHECK(test::read_bytes_of(dir / "w.jpeg").substr(0, 2) == "\xFF\xD8");
  CHECK((read_image_info(dir / "c.jpg").height == 27 && read_image_info(dir / "c.jpg").width == 33));
  REQUIRE_FAILS_WITH(run_dcsr("sr --registration none --lr lr.png --ref ref.png --out out_t.png --confidence c.tif "
                              "--quiet --model " + quote(model), dir.str()),
                     1, "c.tif");
  CHECK_FALSE(fs::exists(dir / "out_t.png"));
  // The default model path: models/default.ckpt in the working folder.
  fs::create_directories(dir / "models");
  fs::copy_file(model, dir / "models/default.ckpt");
  RunResult d =
      run_dcsr("sr --registration none --lr lr.png --ref ref.png --out out2.png --mode 8k --quiet", dir.str());
  INFO(d.output);
  CHECK(d.status == 0);
  CHECK(read_image_info(dir / "out2.png").width == 66);
}

TEST_CASE("forward: dcsr sr reports its time, and with DCSR_PROFILE=1 the time per kernel", "[cli][profile]") {
  test::TempDir dir("cli_profile");
  const std::string args = write_sr_pair(dir, 24, 30, 1) + " --out out.png";
  RunResult plain = run_dcsr(args, dir.str());
  INFO(plain.output);
  REQUIRE(plain.status == 0);
  CHECK_THAT(plain.output, Catch::Contains("tiled inference") && Catch::Contains("s in all"));
  CHECK_THAT(plain.output, Catch::Contains(" in 4k mode): "));  // which model and mode made it
  CHECK_THAT(plain.output, !Catch::Contains("time per kernel"));
  CHECK_THAT(plain.output, !Catch::Contains("process start to main"));
  // DCSR_TIME_PROCESS=1: the process's start-up and exit around the command's own time.
  RunResult process = run_dcsr_ok(dir, "DCSR_TIME_PROCESS=1", args);
  CHECK_THAT(process.output, Catch::Contains("dcsr: process start to main: ") &&
                                 Catch::Contains("dcsr: main's return to the last exit handler: "));
  CHECK(process.output.find("process start to main") < process.output.find("s in all"));
  CHECK(process.output.find("s in all") < process.output.find("main's return"));
  ::setenv("DCSR_PROFILE", "1", 1);  // inherited by the child process
  RunResult profiled = run_dcsr(args, dir.str());
  ::unsetenv("DCSR_PROFILE");
  INFO(profiled.output);
  REQUIRE(profiled.status == 0);
  CHECK_THAT(profiled.output, Catch::Contains("dcsr sr: time per kernel (DCSR_PROFILE=1;"));
  CHECK_THAT(profiled.output, Catch::Contains("conv2d_forward") && Catch::Contains("max_cosine") &&
                                  Catch::Contains("(outside kernels)"));
  // The allocator's calls to the system are rows of their own, and its counts close the report.
  CHECK_THAT(profiled.output, Catch::Contains("allocator:system_alloc") &&
                                  Catch::Contains("allocator (cpu): ") && Catch::Contains(" from the cache, peak "));
  CHECK_THAT(profiled.output, !Catch::Contains("conv2d_forward:"));
  // DCSR_PROFILE=shapes: the convolutions by shape and path (the network's first, the LR's 3 -> n_feats 3x3).
  ::setenv("DCSR_PROFILE", "shapes", 1);
  RunResult shapes = run_dcsr(args, dir.str());
  ::unsetenv("DCSR_PROFILE");
  INFO(shapes.output);
  REQUIRE(shapes.status == 0);
  CHECK_THAT(shapes.output, Catch::Contains("dcsr sr: time per kernel (DCSR_PROFILE=shapes;"));
  CHECK_THAT(shapes.output, Catch::Contains("conv2d_forward:3->4 3x3 s1 p1 at 1x") && Catch::Contains("max_cosine"));
  CHECK_THAT(shapes.output, !Catch::Contains("conv2d_forward   "));  // no row without its shape
}

TEST_CASE("DCSR_FAST_EXIT: a bad value is refused; CPU runs return from main either way", "[cli]") {
  test::TempDir dir("cli_fast_exit");
  const std::string args = write_sr_pair(dir, 24, 30, 1);
  REQUIRE_FAILS_WITH(run_dcsr_with(dir, "DCSR_FAST_EXIT=yes", args + " --out x.png"), 2, "DCSR_FAST_EXIT");
  CHECK_FALSE(fs::exists(dir / "x.png"));
  for (const char* value : {"0", "1"}) {
    RunResult cpu = run_dcsr_ok(dir, std::string("DCSR_TIME_PROCESS=1 DCSR_FAST_EXIT=") + value,
                                args + " --out cpu" + value + ".png");
    CHECK_THAT(cpu.output, Catch::Contains("main's return to the last exit handler"));
  }
}

// (Tagged [cli], not [cuda]: the host emulator's test binary has no dcsr to run.)
TEST_CASE("dcsr on a GPU ends without the CUDA runtime's teardown unless DCSR_FAST_EXIT=0", "[cli]") {
  DCSR_SKIP_WITHOUT_GPU();
  test::TempDir dir("cli_fast_exit_gpu");
  const std::string args = write_sr_pair(dir, 24, 30, 1);
  RunResult fast = run_dcsr_ok(dir, "DCSR_TIME_PROCESS=1", args + " --device cuda --out fast.png");
  CHECK_THAT(fast.output, Catch::Contains("the CUDA runtime's teardown skipped"));
  RunResult full = run_dcsr_ok(dir, "DCSR_TIME_PROCESS=1 DCSR_FAST_EXIT=0", args + " --device cuda --out full.png");
  CHECK_THAT(full.output, Catch::Contains("main's return to the last exit handler"));
  CHECK(test::read_bytes_of(dir / "fast.png") == test::read_bytes_of(dir / "full.png"));
}

TEST_CASE("forward: dcsr eval --tile-batch measures the same images", "[cli]") {
  test::TempDir dir("cli");
  write_dataset(dir / "set", 1, 40, 300);  // a 1 x 3 grid of 4K-mode tiles
  const std::string model = dir / "m.ckpt";
  write_model(model, 4);
  const std::string base = "eval --data set --quiet --model " + quote(model);
  REQUIRE(run_dcsr(base + " --json one.json", dir.str()).status == 0);
  REQUIRE(run_dcsr(base + " --json three.json --tile-batch 3", dir.str()).status == 0);
  const nlohmann::json one = nlohmann::json::parse(test::read_bytes_of(dir / "one.json"));
  const nlohmann::json three = nlohmann::json::parse(test::read_bytes_of(dir / "three.json"));
  CHECK(one["mean"]["sr"] == three["mean"]["sr"]);  // PSNR and SSIM, whole and FoV, to the last bit
  REQUIRE_FAILS_WITH(run_dcsr(base + " --tile-batch 300", dir.str()), 2, "--tile-batch");
}

TEST_CASE("forward: dcsr eval measures bicubic and the model, errors name the data", "[cli]") {
  test::TempDir dir("cli");
  write_dataset(dir / "set", 2, 24, 28);
  const std::string model = dir / "m.ckpt";
  write_model(model, 4);
  RunResult b = run_dcsr("eval --data set --bicubic-only --json b.json --quiet", dir.str());
  INFO(b.output);
  REQUIRE(b.status == 0);
  CHECK_THAT(b.output, Catch::Contains("bicubic") && Catch::Contains("PSNR-FoV"));
  nlohmann::json j = nlohmann::json::parse(test::read_bytes_of(dir / "b.json"));
  CHECK(j["images"].size() == 2);
  CHECK(j["mean"]["bicubic"]["psnr"].is_number());
  CHECK_FALSE(j["mean"].contains("sr"));
  RunResult m = run_dcsr("eval --data set --model " + quote(model) + " --json m.json --quiet", dir.str());
  INFO(m.output);
  REQUIRE(m.status == 0);
  nlohmann::json jm = nlohmann::json::parse(test::read_bytes_of(dir / "m.json"));
  CHECK(jm["mean"]["sr"]["ssim"].is_number());
  CHECK(jm["mean"]["bicubic"]["psnr"] == j["mean"]["bicubic"]["psnr"]);  // same baseline in the same protocol
  // Each mean is the average of its per-image scores, all four scores of both methods.
  REQUIRE(jm["images"].size() == 2);
  for (const char* method : {"bicubic", "sr"})
    for (const char* score : {"psnr", "ssim", "psnr_fov", "ssim_fov"}) {
      INFO(method << " " << score);
      const double first = jm["images"][0][method][score].get<double>();
      const double second = jm["images"][1][method][score].get<double>();
      CHECK(first != second);  // two different images: a mean that missed one would show
      CHECK(jm["mean"][method][score].get<double>() == Approx((first + second) / 2).epsilon(1e-12));
    }

  REQUIRE_FAILS_WITH(run_dcsr("eval --data nothere --bicubic-only", dir.str()), 1, "nothere");
  REQUIRE_FAILS_WITH(run_dcsr("eval --data set --bicubic-only --json no/x.json", dir.str()), 1, "no/x.json");
  write_png(dir / "set/HR/p1.png", test::test_image(49, 56, 3));  // odd, not twice the LR
  REQUIRE_FAILS_WITH(run_dcsr("eval --data set --bicubic-only --json odd.json", dir.str()), 1, "twice the LR size");
  CHECK_FALSE(fs::exists(dir / "odd.json"));
  fs::remove(dir / "set/Ref/x2/p0.png");
  REQUIRE_FAILS_WITH(run_dcsr("eval --data set --bicubic-only --json cnt.json", dir.str()), 1, "Ref/x2 has 1");
  CHECK_FALSE(fs::exists(dir / "cnt.json"));
}

// An output identical to its HR has an infinite PSNR: counted as
// kPsnrCeiling, so that the mean stays the mean of every image (it was
// infinite, written as null, hiding the other images).
TEST_CASE("forward: dcsr eval counts an exact image's PSNR as 100 dB, and the mean stays finite", "[cli]") {
  test::TempDir dir("cli");
  write_dataset(dir / "set", 2, 24, 28);
  // Pair p0 flat grey: its bicubic upsampling is its HR exactly.
  const double grey = 128.0 / 255.0;
  write_png(dir / "set/LR/x2/p0.png", full({1, 3, 24, 28}, grey));
  write_png(dir / "set/HR/p0.png", full({1, 3, 48, 56}, grey));
  RunResult r = run_dcsr("eval --data set --bicubic-only --json b.json --quiet", dir.str());
  INFO(r.output);
  REQUIRE(r.status == 0);
  const nlohmann::json j = nlohmann::json::parse(test::read_bytes_of(dir / "b.json"));
  REQUIRE(j["images"].size() == 2);
  const nlohmann::json& exact = j["images"][0]["bicubic"];
  const nlohmann::json& other = j["images"][1]["bicubic"];
  CHECK(exact["psnr"] == kPsnrCeiling);
  CHECK(exact["psnr_fov"] == kPsnrCeiling);
  REQUIRE(other["psnr"].is_number());
  CHECK(other["psnr"].get<double>() < 60.0);
  for (const char* score : {"psnr", "psnr_fov"}) {
    INFO(score);
    REQUIRE(j["mean"]["bicubic"][score].is_number());
    CHECK(j["mean"]["bicubic"][score].get<double>() ==
          Approx((kPsnrCeiling + other[score].get<double>()) / 2).epsilon(1e-12));
  }
  CHECK_THAT(r.output, Catch::Contains(" 100.000 ") && !Catch::Contains("inf"));  // the table
  CHECK_THAT(j["protocol"].get<std::string>(), Catch::Contains("at most 100 dB per image"));
}

TEST_CASE("forward: dcsr prepare builds a dataset, errors name the folder", "[cli]") {
  test::TempDir dir("cli");
  fs::create_directories(dir / "photos");
  write_png(dir / "photos/a.png", test::test_image(70, 72, 1));
  RunResult r = run_dcsr("prepare --photos photos --out ds --seed 5", dir.str());
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(read_image_info(dir / "ds/Ref/x2/a.png").width == 36);
  REQUIRE_FAILS_WITH(run_dcsr("prepare --photos photos --out ds", dir.str()), 1, "not empty");
  // --force writes into a non-empty folder, the same pairs again, but not beside another dataset's pairs
  // (they went uncounted by prepare.json, and eval took them).
  REQUIRE(run_dcsr("prepare --photos photos --out ds --force --seed 5", dir.str()).status == 0);
  write_png(dir / "ds/HR/old.png", test::test_image(70, 72, 2));
  REQUIRE_FAILS_WITH(run_dcsr("prepare --photos photos --out ds --force", dir.str()), 1, "another dataset's pair");
  fs::remove(dir / "ds/HR/old.png");
  for (const char* leftover : {"ds/LR/x2/old.bmp", "ds/Ref/x2/a.PNG"}) {  // any image the readers list
    test::write_bytes(dir / leftover, "x");
    REQUIRE_FAILS_WITH(run_dcsr("prepare --photos photos --out ds --force", dir.str()), 1, "another dataset's pair");
    fs::remove(dir / leftover);
  }
  // A photo whose name is not UTF-8: prepare.json records it (replaced characters), the run succeeds.
  fs::create_directories(dir / "latin1");
  write_png(dir / "latin1/caf\xe9.png", test::test_image(70, 72, 1));
  REQUIRE(run_dcsr("prepare --photos latin1 --out latin1_ds --seed 5", dir.str()).status == 0);
  CHECK(fs::exists(dir / "latin1_ds/HR/caf\xe9.png"));
  fs::create_directories(dir / "notes");
  test::write_bytes(dir / "notes/readme.txt", "mine");
  REQUIRE(run_dcsr("prepare --photos photos --out notes --force --seed 5", dir.str()).status == 0);
  CHECK(fs::exists(dir / "notes/readme.txt"));
  CHECK(fs::exists(dir / "notes/HR/a.png"));
  REQUIRE_FAILS_WITH(run_dcsr("prepare --photos nophotos --out ds2", dir.str()), 1, "nophotos");
  REQUIRE_FAILS_WITH(run_dcsr("prepare --photos photos --out ds3 --seed -1", dir.str()), 2, "--seed");
}

TEST_CASE("forward: the config files are the built-in defaults", "[cli]") {
  const std::string root = std::string(DCSR_SOURCE_DIR) + "/configs/";
  TrainConfig basic = load_train_config(root + "train_basic.json", TrainConfig());
  CHECK(basic.to_json() == TrainConfig::basic_defaults().to_json());
  for (const char* name : {"train_basic.json", "sra.json"}) {  // each file names every key
    nlohmann::json file = nlohmann::json::parse(test::read_bytes_of(root + name));
    file.erase("_comment");
    INFO(name);
    CHECK(file.size() == basic.to_json().size());
  }
  TrainConfig sra = load_train_config(root + "sra.json", TrainConfig());
  TrainConfig sra_defaults = TrainConfig::sra_defaults();
  sra_defaults.init = sra.init;  // the file names the usual basic model
  CHECK(sra.to_json() == sra_defaults.to_json());
  CHECK(sra.mode == "8k");
  CHECK(sra.loss == "1*L1+0.1*CX_ref");
  TrainConfig c;
  apply_override(c, "lr=0.5");
  apply_override(c, "milestones=[1,2]");
  apply_override(c, "out_dir=some/where");
  apply_override(c, "init=123");  // a string key keeps the text
  CHECK(c.lr == 0.5);
  CHECK(c.milestones == std::vector<int64_t>{1, 2});
  CHECK(c.out_dir == "some/where");
  CHECK(c.init == "123");
  CHECK_THROWS_WITH(apply_override(c, "lrr=1"), Catch::Contains("unknown config key 'lrr'"));
  CHECK_THROWS_WITH(apply_override(c, "batch_size=two"), Catch::Contains("'batch_size': expected an integer"));
  CHECK_THROWS_WITH(apply_override(c, "novalue"), Catch::Contains("key=value"));
}

TEST_CASE("forward: training is deterministic and resumes exactly", "[cli][train]") {
  test::TempDir dir("cli");
  write_dataset(dir / "set", 2, 64, 64);  // 2 images x 2 patches / batch 2 = 2 steps per epoch
  const std::string base = "train --data set " + std::string(kTiny);
  RunResult a = run_dcsr(base + " --out a --steps 5", dir.str());
  INFO(a.output);
  REQUIRE(a.status == 0);
  REQUIRE(run_dcsr(base + " --out same --steps 5", dir.str()).status == 0);
  CHECK(same_tensors(dir / "a/model_latest.ckpt", dir / "same/model_latest.ckpt"));
  REQUIRE(run_dcsr(base + " --out other --steps 5 --seed 2", dir.str()).status == 0);
  CHECK_FALSE(same_tensors(dir / "a/model_latest.ckpt", dir / "other/model_latest.ckpt"));
  // Stop mid-epoch (step 3 of 2-step epochs), resume to step 5.
  REQUIRE(run_dcsr(base + " --out b --steps 3", dir.str()).status == 0);
  RunResult resumed = run_dcsr("train --resume b/model_latest.ckpt --steps 5 --quiet", dir.str());
  INFO(resumed.output);
  REQUIRE(resumed.status == 0);
  CHECK(same_tensors(dir / "a/model_latest.ckpt", dir / "b/model_latest.ckpt"));
  Checkpoint ck = read_checkpoint(dir / "b/model_latest.ckpt");
  CHECK(ck.extra["loop"]["step"] == 5);
  CHECK(ck.extra["loop"]["epoch"] == 2);
  CHECK(ck.extra["loop"]["iter_in_epoch"] == 1);
  // The log: one line per logged step, a resume marker.
  std::ifstream log(dir / "b/train_log.jsonl");
  std::string line;
  int train_lines = 0, resume_lines = 0;
  while (std::getline(log, line)) {
    nlohmann::json j = nlohmann::json::parse(line);
    if (j["type"] == "train") {
      ++train_lines;
      CHECK(j.contains("it_s"));
      CHECK(j.contains("L1"));
      CHECK(j.contains("lr"));
    }
    resume_lines += j["type"] == "resume";
  }
  CHECK(resume_lines == 1);
  CHECK(train_lines == 0);  // log_every 10 > 5 steps
  // The trained checkpoint is a model for `dcsr sr`.
  write_png(dir / "lr.png", test::test_image(20, 20, 1));
  RunResult sr = run_dcsr(
      "sr --registration none --lr lr.png --ref lr.png --out o.png --quiet --model a/model_latest.ckpt", dir.str());
  INFO(sr.output);
  CHECK(sr.status == 0);
  // export keeps exactly the model's tensors; the exported model gives the same image.
  RunResult ex = run_dcsr("export --model a/model_latest.ckpt --out small.ckpt", dir.str());
  INFO(ex.output);
  REQUIRE(ex.status == 0);
  Checkpoint full = read_checkpoint(dir / "a/model_latest.ckpt"), small = read_checkpoint(dir / "small.ckpt");
  int64_t model_tensors = 0;
  for (const auto& [name, t] : full.tensors) {
    if (name.rfind("adam.", 0) == 0) continue;
    ++model_tensors;
    const Tensor* kept = small.find(name);
    REQUIRE(kept != nullptr);
    REQUIRE(kept->nbytes() == t.nbytes());
    CHECK(std::memcmp(kept->raw_data(), t.raw_data(), t.nbytes()) == 0);
  }
  CHECK(int64_t(small.tensors.size()) == model_tensors);
  CHECK(small.config == full.config);
  CHECK(small.extra["train_config"]["data"] == "set");  // folders reduced to their last component
  {  // a folder given with a trailing separator keeps its name (it became "")
    Checkpoint slashed = read_checkpoint(dir / "a/model_latest.ckpt");
    slashed.extra["train_config"]["data"] = "some/where/set/";
    save_checkpoint(dir / "slashed.ckpt", slashed);
    REQUIRE(run_dcsr("export --model slashed.ckpt --out slashed_small.ckpt", dir.str()).status == 0);
    CHECK(read_checkpoint(dir / "slashed_small.ckpt").extra["train_config"]["data"] == "set");
  }
  CHECK(small.extra["trained_steps"] == 5);
  REQUIRE(run_dcsr("sr --registration none --lr lr.png --ref lr.png --out o2.png --quiet --model small.ckpt",
                          dir.str()).status == 0);
  test::require_close(read_image(dir / "o2.png"), read_image(dir / "o.png"), 1e-9);  // 8-bit PNGs: equal or >= 1/255 apart
  REQUIRE_FAILS_WITH(run_dcsr("train --resume small.ckpt --quiet", dir.str()), 1, "small.ckpt");
  REQUIRE_FAILS_WITH(run_dcsr("export --model none.ckpt --out x.ckpt", dir.str()), 1, "none.ckpt");
  CHECK_FALSE(fs::exists(dir / "x.ckpt"));
  // A finished run is not overwritten.
  REQUIRE_FAILS_WITH(run_dcsr(base + " --out a --steps 5", dir.str()), 1, "already holds a training run");
}

namespace {
// The log's lines of one type, in order.
std::vector<nlohmann::json> log_lines(const fs::path& log_path, const std::string& type) {
  std::vector<nlohmann::json> lines;
  std::ifstream log(log_path);
  for (std::string line; std::getline(log, line);) {
    nlohmann::json j = nlohmann::json::parse(line);
    if (j["type"] == type) lines.push_back(j);
  }
  return lines;
}
}  // namespace

namespace {
// Overwrites the first value of a checkpoint's first float32 tensor with a
// NaN, in place (save_checkpoint refuses to write one).
void make_first_float_nan(const std::string& path) {
  std::string bytes = test::read_bytes_of(path);
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data() + 8, 8);
  const nlohmann::json header = nlohmann::json::parse(bytes.substr(16, header_len));
  const uint64_t data_start = (16 + header_len + 63) / 64 * 64;
  for (const nlohmann::json& t : header["tensors"]) {
    if (t["dtype"] != "float32" || t["nbytes"].get<uint64_t>() == 0) continue;
    const float nan = std::nanf("");
    std::memcpy(&bytes[data_start + t["offset"].get<uint64_t>()], &nan, 4);
    test::write_bytes(path, bytes);
    return;
  }
  FAIL("no float32 tensor in " << path);
}
}  // namespace

TEST_CASE("forward: a resumed run keeps model_best, the log's averaging window and its last validation",
          "[cli][train]") {
  test::TempDir dir("cli_resume_best");
  write_dataset(dir / "set", 2, 64, 64);  // 2 steps per epoch; a validation after each epoch
  const std::string base = "train --data set --val-data set " + std::string(kTiny) + " --set log_every=3";
  REQUIRE(run_dcsr(base + " --out a --steps 9", dir.str()).status == 0);
  REQUIRE(run_dcsr(base + " --out b --steps 5", dir.str()).status == 0);
  // model_latest was written before the validation of its step, and again
  // after it: it knows the best PSNR so far and that its step is validated.
  const Checkpoint stopped = read_checkpoint(dir / "b/model_latest.ckpt");
  double best = -1;
  for (const nlohmann::json& v : log_lines(dir / "b/train_log.jsonl", "val"))
    best = std::max(best, v["psnr"].get<double>());
  CHECK(stopped.extra["loop"]["best_val_psnr"].get<double>() == best);
  CHECK(stopped.extra["loop"]["validated_step"] == 5);
  RunResult resumed = run_dcsr("train --resume b/model_latest.ckpt --steps 9 --quiet", dir.str());
  INFO(resumed.output);
  REQUIRE(resumed.status == 0);
  CHECK(same_tensors(dir / "a/model_latest.ckpt", dir / "b/model_latest.ckpt"));
  CHECK(same_tensors(dir / "a/model_best.ckpt", dir / "b/model_best.ckpt"));
  // The train lines average the same steps (step 6's window began before the stop).
  const auto train_a = log_lines(dir / "a/train_log.jsonl", "train");
  const auto train_b = log_lines(dir / "b/train_log.jsonl", "train");
  REQUIRE(train_a.size() == 3);
  REQUIRE(train_b.size() == train_a.size());
  for (size_t k = 0; k < train_a.size(); ++k) {
    CHECK(train_b[k]["step"] == train_a[k]["step"]);
    CHECK(train_b[k]["loss"].get<double>() == train_a[k]["loss"].get<double>());
  }
  // Resuming the finished run runs no step and validates nothing again.
  const size_t validations = log_lines(dir / "a/train_log.jsonl", "val").size();
  RunResult again = run_dcsr("train --resume a/model_latest.ckpt --quiet", dir.str());
  INFO(again.output);
  REQUIRE(again.status == 0);
  CHECK_THAT(again.output, Catch::Contains("no step run now"));
  CHECK(log_lines(dir / "a/train_log.jsonl", "val").size() == validations);
  // A model_latest that does not know the last best (one written by an
  // earlier version, or one whose second write a kill prevented): the best
  // PSNR is model_best's, which a worse model never replaces. (Here
  // model_best claims a PSNR that no validation reaches.)
  REQUIRE(run_dcsr(base + " --out c --steps 5", dir.str()).status == 0);
  Checkpoint stale = read_checkpoint(dir / "c/model_latest.ckpt");
  stale.extra["loop"]["best_val_psnr"] = -1.0;
  stale.extra["loop"].erase("validated_step");
  stale.extra["loop"].erase("log_window");
  save_checkpoint(dir / "c/model_latest.ckpt", stale);
  Checkpoint unbeaten = read_checkpoint(dir / "c/model_best.ckpt");
  unbeaten.extra["loop"]["best_val_psnr"] = 1000.0;
  save_checkpoint(dir / "c/model_best.ckpt", unbeaten);
  // Only model_best's header is read, not its tensors (the model and Adam's
  // moments, which the resume does not use): one value made NaN here, which
  // reading them would refuse, goes unread.
  make_first_float_nan(dir / "c/model_best.ckpt");
  REQUIRE_THROWS_WITH(read_checkpoint(dir / "c/model_best.ckpt"), Catch::Contains("non-finite"));
  const std::string best_bytes = test::read_bytes_of(dir / "c/model_best.ckpt");
  RunResult from_stale = run_dcsr("train --resume c/model_latest.ckpt --steps 9 --quiet", dir.str());
  INFO(from_stale.output);
  REQUIRE(from_stale.status == 0);
  CHECK_THAT(from_stale.output, Catch::Contains("best validation PSNR 1000 dB"));
  CHECK(test::read_bytes_of(dir / "c/model_best.ckpt") == best_bytes);
  CHECK(same_tensors(dir / "a/model_latest.ckpt", dir / "c/model_latest.ckpt"));
}

TEST_CASE("errors: a training run never writes into another run's folder, nor leaves an empty one", "[cli][train]") {
  test::TempDir dir("cli_run_folders");
  write_dataset(dir / "set", 2, 64, 64);
  const std::string base = "train --data set " + std::string(kTiny);
  REQUIRE(run_dcsr(base + " --out a --steps 2", dir.str()).status == 0);
  REQUIRE(run_dcsr(base + " --out b --steps 3", dir.str()).status == 0);
  const std::string b_latest = test::read_bytes_of(dir / "b/model_latest.ckpt");
  // Continuing a's run into b's folder would replace b's checkpoint and mix the logs.
  REQUIRE_FAILS_WITH(run_dcsr("train --resume a/model_latest.ckpt --out b --steps 4 --quiet", dir.str()), 1,
                     "holds another training run");
  CHECK(test::read_bytes_of(dir / "b/model_latest.ckpt") == b_latest);
  // Into a new folder, or from its own model_best.ckpt, it may continue.
  REQUIRE(run_dcsr("train --resume a/model_latest.ckpt --out a2 --steps 4 --quiet", dir.str()).status == 0);
  CHECK(fs::exists(dir / "a2/model_latest.ckpt"));
  // A log (a run killed before its first checkpoint) is a run's folder too.
  fs::create_directories(dir / "killed");
  test::write_bytes(dir / "killed/train_log.jsonl", "{\"type\": \"start\"}\n");
  REQUIRE_FAILS_WITH(run_dcsr(base + " --out killed --steps 1", dir.str()), 1, "killed/train_log.jsonl");
  CHECK(test::read_bytes_of(dir / "killed/train_log.jsonl") == "{\"type\": \"start\"}\n");
  // A basic run is continued by dcsr train, not dcsr sra (which continued it as basic training).
  REQUIRE_FAILS_WITH(run_dcsr("sra --resume a/model_latest.ckpt --out a3 --steps 4 --quiet", dir.str()), 1,
                     "is a basic training run");
  // A damaged loop state is named, not indexed past the sample order (it segfaulted).
  for (const char* key : {"iter_in_epoch", "step"}) {
    Checkpoint damaged = read_checkpoint(dir / "a/model_latest.ckpt");
    damaged.extra["loop"][key] = -(int64_t(1) << 40);
    fs::create_directories(dir / "damaged");
    save_checkpoint(dir / "damaged/model_latest.ckpt", damaged);
    REQUIRE_FAILS_WITH(run_dcsr("train --resume damaged/model_latest.ckpt --out damaged --steps 3 --quiet", dir.str()), 1,
                       std::string("loop state \"") + key + "\" must be an integer");
    CHECK_FALSE(fs::exists(dir / "damaged/train_log.jsonl"));
  }
  // The generator's state is a decimal string of 64 bits: 2^64 does not wrap to 0.
  for (const char* state : {"18446744073709551616", " 7", "7x"}) {
    Checkpoint damaged = read_checkpoint(dir / "a/model_latest.ckpt");
    damaged.extra["loop"]["rng_state"] = state;
    save_checkpoint(dir / "damaged/model_latest.ckpt", damaged);
    REQUIRE_FAILS_WITH(run_dcsr("train --resume damaged/model_latest.ckpt --out damaged --steps 3 --quiet", dir.str()), 1,
                       "rng_state must be a decimal string of a 64-bit unsigned integer");
  }
  // A log that is a link, even to nothing, is not written through.
  fs::create_directories(dir / "linked");
  fs::create_symlink("../elsewhere.txt", dir / "linked/train_log.jsonl");
  REQUIRE_FAILS_WITH(run_dcsr(base + " --out linked --steps 1", dir.str()), 1, "linked/train_log.jsonl");
  CHECK_FALSE(fs::exists(dir / "elsewhere.txt"));
  // --init with --resume, and init with vgg_init: one would be ignored.
  write_model(dir / "m4.ckpt", 4);
  REQUIRE_FAILS_WITH(run_dcsr("train --resume a/model_latest.ckpt --init m4.ckpt --quiet", dir.str()), 2, "--init");
  REQUIRE_FAILS_WITH(run_dcsr(base + " --out iv --init m4.ckpt --set vgg_init=m4.ckpt", dir.str()), 1, "vgg_init");
  // A run that fails before writing anything leaves no folder of its own.
  write_model(dir / "m8.ckpt", 8);
  REQUIRE_FAILS_WITH(run_dcsr(base + " --out wide --init m8.ckpt", dir.str()), 1, "n_feats 8");
  CHECK_FALSE(fs::exists(dir / "wide"));
  CHECK_FALSE(fs::exists(dir / "iv"));
}

TEST_CASE("forward: warmup_steps raises the learning rate linearly, and a resume keeps its place", "[cli][train]") {
  test::TempDir dir("cli_warmup");
  write_dataset(dir / "set", 2, 64, 64);  // 2 steps per epoch
  const std::string base = "train --data set " + std::string(kTiny) +
                           " --set lr=0.001 --set warmup_steps=4 --set log_every=1 --set milestones=[2] --set gamma=0.5";
  REQUIRE(run_dcsr(base + " --out a --steps 3", dir.str()).status == 0);
  RunResult resumed = run_dcsr("train --resume a/model_latest.ckpt --steps 6 --quiet", dir.str());
  INFO(resumed.output);
  REQUIRE(resumed.status == 0);
  std::vector<double> lrs;
  std::ifstream log(dir / "a/train_log.jsonl");
  for (std::string line; std::getline(log, line);) {
    const nlohmann::json j = nlohmann::json::parse(line);
    if (j["type"] == "train") lrs.push_back(j["lr"].get<double>());
  }
  // Steps 1-4 warm up to the epoch's lr (0.001 in epochs 0 and 1), steps 5-6
  // are epoch 2, after the milestone: 0.0005. The resume at step 3 goes on
  // where the first run stopped.
  const std::vector<double> expected{0.00025, 0.0005, 0.00075, 0.001, 0.0005, 0.0005};
  REQUIRE(lrs.size() == expected.size());
  for (size_t k = 0; k < lrs.size(); ++k) CHECK(lrs[k] == Approx(expected[k]).epsilon(1e-12));
  REQUIRE_FAILS_WITH(run_dcsr(base + " --out b --steps 1 --set warmup_steps=-1", dir.str()), 1, "warmup_steps");
}

TEST_CASE("forward: a diverging loss stops training and keeps the last good checkpoint", "[cli][train]") {
  test::TempDir dir("cli");
  write_dataset(dir / "set", 2, 64, 64);
  RunResult r = run_dcsr("train --data set " + std::string(kTiny) +
                             " --out run --steps 20 --set lr=1e30 --set checkpoint_every=1 --set log_every=1",
                         dir.str());
  INFO(r.output);
  CHECK(r.status == 3);
  CHECK_THAT(r.output, Catch::Contains("training stopped") && Catch::Contains("nothing was saved after"));
  REQUIRE(fs::exists(dir / "run/model_latest.ckpt"));
  Checkpoint ck = read_checkpoint(dir / "run/model_latest.ckpt");
  for (auto& [name, t] : ck.tensors) {
    std::vector<double> v = t.to_vector<double>();
    for (double x : v) REQUIRE(std::isfinite(x));
  }
  CHECK(ck.extra["loop"]["step"].get<int64_t>() < 20);
}

TEST_CASE("errors: dcsr train and sra check their configuration", "[cli][train]") {
  test::TempDir dir("cli");
  write_dataset(dir / "set", 1, 64, 64);
  REQUIRE_FAILS_WITH(run_dcsr("train --out x --quiet", dir.str()), 1, "'data'");
  REQUIRE_FAILS_WITH(run_dcsr("train --data set --set wat=1", dir.str()), 2, "unknown config key 'wat'");
  // The kind of run is the command's: sra under train's name, or basic under sra's, is refused.
  REQUIRE_FAILS_WITH(run_dcsr("train --data set --set sra=true --out k1 --quiet", dir.str()), 1, "an SRA run");
  write_model(dir / "m8.ckpt", 8);
  REQUIRE_FAILS_WITH(run_dcsr("sra --data set --init m8.ckpt --set sra=false --out k2 --quiet", dir.str()), 1,
                     "a basic training run");
  REQUIRE_FAILS_WITH(run_dcsr("train --data set --set patch_size=big", dir.str()), 2, "'patch_size'");
  REQUIRE_FAILS_WITH(run_dcsr("train --data set --config nope.json", dir.str()), 1, "nope.json");
  test::write_bytes(dir / "bad.json", "{\"lr\": ");
  REQUIRE_FAILS_WITH(run_dcsr("train --data set --config bad.json", dir.str()), 1, "not valid JSON");
  REQUIRE_FAILS_WITH(run_dcsr("train --data set --set loss=1*L7 --quiet", dir.str()), 1, "L7");
  REQUIRE_FAILS_WITH(run_dcsr("train --data set --set patch_size=128 --out big --quiet", dir.str()), 1,
                     "too small for patch size 128");
  REQUIRE_FAILS_WITH(run_dcsr("train --data nodata --out nd --quiet", dir.str()), 1, "nodata");
  REQUIRE_FAILS_WITH(run_dcsr("sra --data set --quiet", dir.str()), 2, "--init");
  // Values that would train nothing, diverge or raise the rate, refused before any folder is made.
  const std::pair<const char*, const char*> refused[] = {
      {"--set loss=0*L1", "must be above 0 and at most 1e6"},   // reported success, trained nothing
      {"--set loss=1e400*L1", "must be above 0 and at most 1e6"},  // 'stod' and nothing else
      {"--set loss=1*L1+1*L1", "appears twice"},
      {"--set gamma=2", "gamma must be above 0 and at most 1"},
      {"--set mode=2k", "mode: unknown mode '2k'"}};
  for (const auto& [setting, words] : refused) {
    INFO(setting);
    REQUIRE_FAILS_WITH(run_dcsr(std::string("train --data set --out refused --quiet ") + setting, dir.str()), 1,
                       words);
    CHECK_FALSE(fs::exists(dir / "refused"));
  }
  REQUIRE_FAILS_WITH(run_dcsr("train --data set --set batch_size=18446744073709551615", dir.str()), 2,
                     "18446744073709551615 is too large");  // it was shown as -1
  test::write_bytes(dir / "twice.json", "{\"lr\": \"x\", \"lr\": 0.001}");
  REQUIRE_FAILS_WITH(run_dcsr("train --data set --config twice.json --quiet", dir.str()), 1,
                     "the key 'lr' appears twice");
  // SRA has no HR target (it failed at its first step, leaving a folder).
  write_model(dir / "m4.ckpt", 4);
  REQUIRE_FAILS_WITH(run_dcsr("sra --data set --init m4.ckpt --set n_feats=4 --set loss=1*L1+10*MSE --out s --quiet",
                              dir.str()),
                     1, "needs an HR target");
  CHECK_FALSE(fs::exists(dir / "s"));
  // A refused init leaves none of the folders the run made, however deep.
  REQUIRE_FAILS_WITH(run_dcsr("train --data set --init m4.ckpt --set n_feats=8 --set batch_size=2 --set patch_size=16 "
                              "--set num_patch=2 --out deep/a/b --quiet",
                              dir.str()),
                     1, "has n_feats 4");
  CHECK_FALSE(fs::exists(dir / "deep"));
  REQUIRE_FAILS_WITH(run_dcsr("train --resume none.ckpt", dir.str()), 1, "none.ckpt");
  write_model(dir / "m.ckpt", 4);
  REQUIRE_FAILS_WITH(run_dcsr("train --resume m.ckpt", dir.str()), 1, "not a training checkpoint");
  if (!runtime::cuda_available()) {
    REQUIRE_FAILS_WITH(run_dcsr("train --data set --device cuda --quiet", dir.str()), 1, "no usable GPU");
  }
}

TEST_CASE("forward: dcsr sra fine-tunes a model in 8k mode and validates", "[cli][train]") {
  test::TempDir dir("cli");
  write_dataset(dir / "set", 1, 32, 32);  // LR/x1 is 64 x 64
  write_dataset(dir / "val", 1, 16, 18);
  write_model(dir / "m.ckpt", 4);
  RunResult r = run_dcsr("sra --data set --init m.ckpt --val-data val --out s --steps 2 " + std::string(kTiny),
                         dir.str());
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.output, Catch::Contains("best validation PSNR"));
  CHECK(fs::exists(dir / "s/model_best.ckpt"));
  Checkpoint ck = read_checkpoint(dir / "s/model_latest.ckpt");
  CHECK(ck.extra["train_config"]["mode"] == "8k");
  CHECK(ck.extra["train_config"]["sra"] == true);
}

TEST_CASE("forward: dcsr train measures monitored sets beside the validation set", "[cli][train]") {
  test::TempDir dir("cli_monitor");
  write_dataset(dir / "set", 2, 64, 64);  // 2 steps per epoch
  write_dataset(dir / "val", 2, 40, 44);
  write_dataset(dir / "real", 3, 36, 40);
  write_dataset(dir / "other", 3, 36, 40);
  // The same images with references of other scenes (seeds 400+).
  for (int i = 0; i < 3; ++i)
    write_png(dir / ("other/Ref/x2/p" + std::to_string(i) + ".png"), test::test_image(36, 40, 400 + i));
  const std::string base = "train --data set " + std::string(kTiny);
  RunResult r = run_dcsr(base + " --val-data val --monitor real=real --monitor 'swapped=./real,ref_from=./other' "
                                "--monitor same=val --out a --epochs 2",
                         dir.str());
  INFO(r.output);
  REQUIRE(r.status == 0);
  // Each validation point (after epochs 1 and 2): val, then the monitored sets by name.
  const std::vector<nlohmann::json> lines = test::validation_lines(dir / "a/train_log.jsonl");
  REQUIRE(lines.size() == 8);
  for (size_t k = 0; k < lines.size(); ++k) {
    const nlohmann::json& j = lines[k];
    const size_t slot = k % 4;
    CHECK(j["step"] == (k < 4 ? 2 : 4));
    CHECK(j["type"] == (slot == 0 ? "val" : "monitor"));
    if (slot > 0) CHECK(j["set"] == std::vector<std::string>{"real", "same", "swapped"}[slot - 1]);
    for (const char* key : {"psnr", "ssim", "psnr_fov", "ssim_fov", "psnr_bicubic", "psnr_fov_bicubic"}) {
      INFO(key);
      CHECK(std::isfinite(j[key].get<double>()));
    }
  }
  // A monitor of the validation folder scores exactly what validation does.
  CHECK(lines[2]["psnr"] == lines[0]["psnr"]);
  CHECK(lines[2]["images"] == 2);
  CHECK(lines[1]["images"] == 3);
  // The last monitor line is what `dcsr eval` gives the final model, with the right references and with
  // the other folder's: the swapped set changes the model's scores, never bicubic's.
  for (const auto& [line, extra] : {std::pair<size_t, std::string>{5, ""}, {7, " --ref-from other"}}) {
    RunResult e = run_dcsr("eval --data real --model a/model_latest.ckpt --json e.json" + extra + " --quiet", dir.str());
    INFO(e.output);
    REQUIRE(e.status == 0);
    std::ifstream in(dir / "e.json");
    const nlohmann::json ej = nlohmann::json::parse(in);
    CHECK(lines[line]["psnr"].get<double>() == Approx(ej["mean"]["sr"]["psnr"].get<double>()).epsilon(1e-12));
    CHECK(lines[line]["psnr_fov_bicubic"].get<double>() ==
          Approx(ej["mean"]["bicubic"]["psnr_fov"].get<double>()).epsilon(1e-12));
  }
  CHECK(lines[7]["psnr"] != lines[5]["psnr"]);
  CHECK(lines[7]["psnr_bicubic"] == lines[5]["psnr_bicubic"]);
  // An exported model keeps the monitored sets with their folders reduced to the last component.
  REQUIRE(run_dcsr("export --model a/model_latest.ckpt --out small.ckpt", dir.str()).status == 0);
  CHECK(read_checkpoint(dir / "small.ckpt").extra["train_config"]["monitor"] ==
        nlohmann::json({{"real", "real"}, {"same", "val"}, {"swapped", {{"data", "real"}, {"ref_from", "other"}}}}));
  // The monitors never choose model_best: with a val set alone the best is the same checkpoint.
  RunResult plain = run_dcsr(base + " --val-data val --out b --epochs 2", dir.str());
  REQUIRE(plain.status == 0);
  CHECK(same_tensors(dir / "a/model_best.ckpt", dir / "b/model_best.ckpt"));
  // Bad monitors are refused before training, naming the set and the folder or the option.
  REQUIRE_FAILS_WITH(run_dcsr(base + " --monitor real=nowhere --out c", dir.str()), 1, "monitor set 'real'");
  REQUIRE_FAILS_WITH(run_dcsr(base + " --monitor real=nowhere --out c", dir.str()), 1, "nowhere");
  REQUIRE_FAILS_WITH(run_dcsr(base + " --monitor 'real=real,ref_from=val' --out c", dir.str()), 1,
                     "fewer than the 3 evaluated");
  REQUIRE_FAILS_WITH(run_dcsr(base + " --monitor real --out c", dir.str()), 2, "NAME=DIR");
  REQUIRE_FAILS_WITH(run_dcsr(base + " --monitor a=real --monitor a=val --out c", dir.str()), 2, "given twice");
  REQUIRE_FAILS_WITH(run_dcsr(base + " --monitor 'a b=real' --out c", dir.str()), 1, "monitor set name 'a b'");
  REQUIRE_FAILS_WITH(run_dcsr(base + " --set 'monitor={\"r\": {\"dir\": \"real\"}}' --out c", dir.str()), 2,
                     "unknown key 'dir'");
  CHECK_FALSE(fs::exists(dir / "c"));
}

TEST_CASE("forward: dcsr sr writes the format of the output's extension", "[cli]") {
  test::TempDir dir("cli");
  const std::string base = write_sr_pair(dir, 20, 24, 1) + " --quiet";
  REQUIRE(run_dcsr(base + " --out o.jpg --quality 80", dir.str()).status == 0);
  const std::string jpg = test::read_bytes_of(dir / "o.jpg");
  REQUIRE(jpg.size() > 4);
  CHECK(uint8_t(jpg[0]) == 0xFF);  // JPEG's start-of-image marker
  CHECK(uint8_t(jpg[1]) == 0xD8);
  REQUIRE(run_dcsr(base + " --out o16.png --bit-depth 16", dir.str()).status == 0);
  const std::string png = test::read_bytes_of(dir / "o16.png");
  REQUIRE(png.size() > 25);
  CHECK(png.substr(1, 3) == "PNG");
  CHECK(int(uint8_t(png[24])) == 16);  // IHDR's bit depth
  CHECK(read_image_info(dir / "o16.png").width == 48);
  REQUIRE_FAILS_WITH(run_dcsr(base + " --out o.tif", dir.str()), 1, ".tif");
  CHECK_FALSE(fs::exists(dir / "o.tif"));
  REQUIRE_FAILS_WITH(run_dcsr(base + " --out o.png --bit-depth 12", dir.str()), 2, "--bit-depth");
  REQUIRE_FAILS_WITH(run_dcsr(base + " --out o.jpg --quality 0", dir.str()), 2, "--quality");
}

TEST_CASE("forward: dcsr sr --tile-batch gives the same bytes for any batch", "[cli]") {
  test::TempDir dir("cli");
  // 40 x 300: a 1 x 3 grid of 4K-mode tiles with windows of one size.
  const std::string base = write_sr_pair(dir, 40, 300, 3) + " --quiet";
  REQUIRE(run_dcsr(base + " --out one.png", dir.str()).status == 0);
  REQUIRE(run_dcsr(base + " --out three.png --tile-batch 3", dir.str()).status == 0);
  CHECK(test::read_bytes_of(dir / "one.png") == test::read_bytes_of(dir / "three.png"));
  REQUIRE_FAILS_WITH(run_dcsr(base + " --out o.png --tile-batch 0", dir.str()), 2, "--tile-batch");
  CHECK_FALSE(fs::exists(dir / "o.png"));
}


TEST_CASE("forward: dcsr sr writes its outputs band by band, and behind the inference, the same bytes as in one "
          "piece",
          "[cli]") {
  test::TempDir dir("cli");
  // 300 x 100 in 4K mode: 3 tile rows of one tile; with 1 MiB bands each tile
  // row is a band (an SR tile row is 252 x 200 x 3 float32, 0.6 MB; with the
  // warped Ref beside it 1.2 MB). Behind the inference (DCSR_WRITE_BEHIND=1,
  // the default on CUDA) each band is written on a thread of its own while
  // the next is computed: with 3 bands, and with one.
  const std::string base = write_sr_pair(dir, 300, 100, 5) + " --quiet";
  REQUIRE(run_dcsr(base + " --out one.png --confidence one_c.png --warped-ref one_w.png", dir.str()).status == 0);
  for (const std::string env : {"DCSR_OUTPUT_BAND_MIB=1", "DCSR_WRITE_BEHIND=1 DCSR_OUTPUT_BAND_MIB=1",
                                 "DCSR_WRITE_BEHIND=1 DCSR_OUTPUT_BAND_MIB=256"}) {
    CAPTURE(env);
    RunResult banded = run_dcsr_with(dir, env, base + " --out b.png --confidence b_c.png --warped-ref b_w.png");
    INFO(banded.output);
    REQUIRE(banded.status == 0);
    for (const std::string name : {".png", "_c.png", "_w.png"})
      CHECK(test::read_bytes_of(dir / ("b" + name)) == test::read_bytes_of(dir / ("one" + name)));
  }
  // JPEG (kept as 8-bit samples until the end) and 16-bit PNG.
  for (const std::string out : {".jpg", "16.png"}) {
    const std::string options = out == ".jpg" ? "" : " --bit-depth 16";
    REQUIRE(run_dcsr(base + options + " --out one" + out, dir.str()).status == 0);
    for (const std::string env : {"DCSR_OUTPUT_BAND_MIB=1", "DCSR_WRITE_BEHIND=1 DCSR_OUTPUT_BAND_MIB=1"}) {
      CAPTURE(env);
      REQUIRE(run_dcsr_with(dir, env, base + options + " --out b" + out).status == 0);
      CHECK(test::read_bytes_of(dir / ("b" + out)) == test::read_bytes_of(dir / ("one" + out)));
    }
  }
  REQUIRE_FAILS_WITH(run_dcsr_with(dir, "DCSR_OUTPUT_BAND_MIB=0", base + " --out x.png"), 1, "DCSR_OUTPUT_BAND_MIB");
  REQUIRE_FAILS_WITH(run_dcsr_with(dir, "DCSR_OUTPUT_BAND_MIB=2x", base + " --out x.png"), 1, "'2x'");
  REQUIRE_FAILS_WITH(run_dcsr_with(dir, "DCSR_WRITE_BEHIND=yes", base + " --out x.png"), 1, "DCSR_WRITE_BEHIND");
  CHECK_FALSE(fs::exists(dir / "x.png"));
}

TEST_CASE("forward: dcsr sr written behind the inference says how long it waited; a failed band leaves no output",
          "[cli]") {
  test::TempDir dir("cli");
  const std::string base = write_sr_pair(dir, 300, 100, 7);
  RunResult behind = run_dcsr_ok(dir, "DCSR_WRITE_BEHIND=1 DCSR_OUTPUT_BAND_MIB=1", base + " --out b.png");
  CHECK_THAT(behind.output, Catch::Contains("behind the inference, which waited for it "));
  RunResult in_line = run_dcsr_ok(dir, "DCSR_WRITE_BEHIND=0", base + " --out l.png");
  CHECK_THAT(in_line.output, !Catch::Contains("behind the inference"));
  // A band the writing thread refuses (a model whose weights are all 1e30
  // overflows: NaN or infinite pixels): the command fails naming the file,
  // and nothing is left.
  {
    Checkpoint c = read_checkpoint(dir / "m.ckpt");
    for (auto& named : c.tensors)
      if (named.second.dtype() == kFloat32) {
        float* values = named.second.data<float>();
        std::fill(values, values + named.second.numel(), 1e30f);
      }
    save_checkpoint(dir / "nan.ckpt", c);
  }
  const std::string nan_pair = "sr --registration none --lr lr.png --ref ref.png --model nan.ckpt --quiet";
  REQUIRE_FAILS_WITH(run_dcsr_with(dir, "DCSR_WRITE_BEHIND=1 DCSR_OUTPUT_BAND_MIB=1",
                                   nan_pair + " --out n.png --confidence c.png --warped-ref w.png"),
                     1, "NaN");
  for (const std::string name : {"n.png", "c.png", "w.png"}) CHECK_FALSE(fs::exists(dir / name));
  for (const auto& entry : fs::directory_iterator(dir.str()))  // no temp file either
    CHECK(entry.path().filename().string().find(".tmp.") == std::string::npos);
}
