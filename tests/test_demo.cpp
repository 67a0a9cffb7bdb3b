// The demo and reporting pieces of the `dcsr` command: the rasteriser and
// the demo figure (dcsr/figures/raster.h, dcsr/figures/compose.h), `dcsr demo` on a tiny
// generated pair with a tiny model, `dcsr plot-log` on generated logs,
// `dcsr eval --unrelated-ref` and `--ref-from`, `dcsr resize`, and their error paths.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli_runner.h"
#include "dcsr/figures/compose.h"
#include "dcsr/figures/plot_log.h"
#include "dcsr/figures/raster.h"

using namespace dcsr;
namespace fs = std::filesystem;
using test::quote;
using test::run_dcsr;
using test::RunResult;

namespace {

// The colour of pixel (x, y) of a canvas image.
Color pixel(const Tensor& image, int64_t x, int64_t y) {
  const int64_t h = image.size(2), w = image.size(3);
  const float* p = image.data<float>();
  return {p[y * w + x], p[h * w + y * w + x], p[2 * h * w + y * w + x]};
}

bool same(const Color& a, const Color& b) { return a.r == b.r && a.g == b.g && a.b == b.b; }

// A training log: train lines every 10 steps to 200, a validation every 100,
// a resume that logs steps 110..130 again, and (optionally) a broken last line.
std::string generated_log(bool broken_tail) {
  std::string log = "{\"type\": \"start\", \"step\": 0}\n";
  auto train = [&](int step) {
    const double l1 = 0.1 / (1 + step / 50.0), cx = 2.0 + 1.0 / (1 + step / 50.0);
    log += "{\"type\": \"train\", \"step\": " + std::to_string(step) + ", \"epoch\": 1, \"lr\": 0.0001, \"loss\": " +
           std::to_string(l1 + 0.05 * cx) + ", \"it_s\": 1.5, \"L1\": " + std::to_string(l1) +
           ", \"CX_ref\": " + std::to_string(cx) + "}\n";
  };
  for (int step = 10; step <= 130; step += 10) train(step);
  log += "{\"type\": \"val\", \"step\": 100, \"psnr\": 27.5, \"psnr_bicubic\": 26.0, \"ssim\": 0.8}\n";
  log += "{\"type\": \"resume\", \"step\": 100}\n";
  for (int step = 110; step <= 200; step += 10) train(step);
  log += "{\"type\": \"val\", \"step\": 200, \"psnr\": 28.0, \"psnr_bicubic\": 26.0, \"ssim\": 0.82}\n";
  if (broken_tail) log += "{\"type\": \"train\", \"st";
  return log;
}

}  // namespace

// ---------------------------------------------------------------- rasteriser

TEST_CASE("forward: the canvas fills, outlines, blits, draws lines and text", "[demo]") {
  const Color bg{0.1f, 0.2f, 0.3f}, red{1, 0, 0}, white{1, 1, 1};
  Canvas c(40, 30, bg);
  CHECK((c.width() == 40 && c.height() == 30));
  CHECK(same(pixel(c.image(), 39, 29), bg));
  c.fill_rect(-5, -5, 10, 10, red);  // clipped at the top-left
  CHECK(same(pixel(c.image(), 4, 4), red));
  CHECK(same(pixel(c.image(), 5, 5), bg));
  c.outline_rect(10, 10, 10, 8, 2, white);
  CHECK(same(pixel(c.image(), 10, 10), white));
  CHECK(same(pixel(c.image(), 19, 17), white));
  CHECK(same(pixel(c.image(), 11, 16), white));
  CHECK(same(pixel(c.image(), 12, 12), bg));  // inside the 2 px border
  // A diagonal line hits both end points; a dashed one leaves gaps.
  c.line(0, 29, 9, 20, white);
  CHECK(same(pixel(c.image(), 0, 29), white));
  CHECK(same(pixel(c.image(), 9, 20), white));
  CHECK(same(pixel(c.image(), 5, 24), white));
  Canvas d(40, 3, bg);
  d.line(0, 1, 39, 1, white, 1, 4);
  int painted = 0;
  for (int64_t x = 0; x < 40; ++x) painted += same(pixel(d.image(), x, 1), white);
  CHECK((painted >= 16 && painted <= 24));  // about half
  // Blit with zoom 2: every source pixel becomes a 2x2 block.
  Tensor img = zeros({1, 3, 2, 2});
  img.data<float>()[3] = 1.0f;  // red channel of pixel (1, 1)
  Canvas e(6, 6, bg);
  e.blit(img, 1, 1, 2);
  CHECK(same(pixel(e.image(), 3, 3), red));
  CHECK(same(pixel(e.image(), 4, 4), red));
  CHECK(same(pixel(e.image(), 2, 2), Color{0, 0, 0}));
  CHECK(same(pixel(e.image(), 0, 0), bg));
  // Text: 6 px per character less the last gap, 7 px tall; an 'I' at scale 1
  // has its stem at column 2.
  CHECK(Canvas::text_width("abc") == 17);
  CHECK(Canvas::text_width("abc", 2) == 34);
  CHECK(Canvas::text_height(3) == 21);
  Canvas t(20, 12, bg);
  t.text(0, 0, "I", white);
  CHECK(same(pixel(t.image(), 2, 3), white));
  CHECK(same(pixel(t.image(), 0, 3), bg));
  CHECK(same(pixel(t.image(), 1, 0), white));  // the top bar
}

TEST_CASE("forward: the side-by-side figure and the confidence map", "[demo]") {
  const int64_t h = 24, w = 32;  // LR size; SR 48 x 64
  Tensor sr = test::test_image(2 * h, 2 * w, 1), bic = test::test_image(2 * h, 2 * w, 2);
  Tensor ref = zeros({1, 3, h, w});
  // Texture only in the reference's bottom rows: the zoom region goes there.
  float* r = ref.data<float>();
  for (int64_t y = 16; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) r[y * w + x] = float((x + y) % 2);
  const Region fov = fov_region(2 * h, 2 * w);
  Region detail = detail_region(2 * h, 2 * w, ref, fov);
  CHECK(detail.left == fov.left);
  CHECK(detail.width == fov.width);
  CHECK(detail.height == fov.height / 2);
  CHECK(detail.top == fov.top + fov.height / 2);  // the textured half
  Tensor fig = compose_side_by_side(bic, sr, ref);
  CHECK(fig.size(3) > 3 * 2 * w);
  CHECK(fig.size(2) > 2 * h + detail.height * 2);
  CHECK_THROWS_WITH(compose_side_by_side(bic, sr, zeros({1, 3, h + 1, w})), Catch::Contains("field of view"));
  CHECK_THROWS_WITH(compose_side_by_side(bic, test::test_image(2 * h, 2 * w + 2, 1), ref),
                    Catch::Contains("differ in size"));
  // A registered view off the centre: the reference has the view's size.
  const Region off{4, 30, 20, 26};
  Tensor off_ref = test::test_image(off.height, off.width, 3);
  const Region off_detail = detail_region(2 * h, 2 * w, off_ref, off);
  CHECK(off_detail.left == off.left);
  CHECK(off_detail.width == off.width);
  CHECK(off_detail.top >= off.top);
  CHECK(off_detail.top + off_detail.height <= off.top + off.height);
  CHECK(compose_side_by_side(bic, sr, off_ref, {}, off).size(2) == fig.size(2) - fov.height + off.height);
  CHECK_THROWS_WITH(compose_side_by_side(bic, sr, ref, {}, off), Catch::Contains("field of view"));
  CHECK_THROWS_WITH(compose_side_by_side(bic, sr, off_ref, {}, Region{40, 50, 20, 26}), Catch::Contains("inside"));
  // 8k mode's half-resolution map (rounded up) repeated to the LR size.
  Tensor conf = from_vector(std::vector<float>{0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f}, {1, 1, 2, 3});
  Tensor full = confidence_at(conf, 3, 5);
  REQUIRE(full.shape() == Shape{1, 1, 3, 5});
  std::vector<float> v = full.to_vector<float>();
  CHECK(v[0] == 0.1f);
  CHECK(v[1] == 0.1f);
  CHECK(v[4] == 0.3f);
  CHECK(v[2 * 5 + 2] == 0.5f);
}

// ---------------------------------------------------------------- dcsr demo

TEST_CASE("forward: dcsr demo writes the result, the figure and the confidence map", "[cli][demo]") {
  test::TempDir dir("demo");
  const int64_t h = 48, w = 64;
  test::write_model(dir / "m.ckpt", 4);
  write_png(dir / "wide.png", test::test_image(h, w, 1));
  write_png(dir / "tele.png", test::test_image(h, w, 2));
  // Unrelated random images: the registration would refuse them, so as they are.
  const std::string pair = "--lr wide.png --ref tele.png --model m.ckpt --registration none";
  RunResult r = run_dcsr("demo " + pair, dir.str());  // default mode 8k, default folder out/demo
  INFO(r.output);
  REQUIRE(r.status == 0);
  for (const char* file : {"out/demo/sr.png", "out/demo/side_by_side.png", "out/demo/confidence.png"})
    CHECK_THAT(r.output, Catch::Contains(file));
  ImageInfo sr = read_image_info(dir / "out/demo/sr.png");
  CHECK((sr.width == 2 * w && sr.height == 2 * h && sr.channels == 3));
  ImageInfo conf = read_image_info(dir / "out/demo/confidence.png");
  CHECK((conf.width == w && conf.height == h && conf.channels == 1));
  // The figure has the size compose_side_by_side gives for these sizes.
  Tensor expected = compose_side_by_side(zeros({1, 3, 2 * h, 2 * w}), zeros({1, 3, 2 * h, 2 * w}),
                                         read_image(dir / "tele.png"));
  ImageInfo fig = read_image_info(dir / "out/demo/side_by_side.png");
  CHECK((fig.width == expected.size(3) && fig.height == expected.size(2)));

  RunResult k4 = run_dcsr("demo " + pair + " --mode 4k --out four --quiet", dir.str());
  INFO(k4.output);
  REQUIRE(k4.status == 0);
  CHECK(read_image_info(dir / "four/sr.png").width == 2 * w);
  CHECK(read_image_info(dir / "four/confidence.png").height == h);
}

TEST_CASE("errors: dcsr demo says how to get a model and leaves no output", "[cli][demo]") {
  test::TempDir dir("demo");
  test::write_model(dir / "m.ckpt", 4);
  write_png(dir / "wide.png", test::test_image(20, 24, 1));
  write_png(dir / "tele.png", test::test_image(20, 24, 2));
  write_png(dir / "big.png", test::test_image(22, 24, 2));
  const std::string pair = "--lr wide.png --ref tele.png";
  RunResult missing = run_dcsr("demo " + pair + " --model nothere.ckpt", dir.str());
  REQUIRE_FAILS_WITH(missing, 1, "nothere.ckpt' does not exist");
  CHECK_THAT(missing.output, Catch::Contains("models/README.md") && Catch::Contains("dcsr train"));
  if (!test::repository_has_default_model())
    REQUIRE_FAILS_WITH(run_dcsr("demo " + pair, dir.str()), 1, "no default model found (looked for");
  REQUIRE_FAILS_WITH(run_dcsr("demo --lr nowide.png --ref tele.png --model m.ckpt", dir.str()), 1,
                     "nowide.png' does not exist");
  REQUIRE_FAILS_WITH(run_dcsr("demo --lr wide.png --ref big.png --model m.ckpt --registration none", dir.str()), 1,
                     "pixel size");
  REQUIRE_FAILS_WITH(run_dcsr("demo --lr wide.png --ref big.png --model m.ckpt", dir.str()), 1,
                     "registration needs at least");
  REQUIRE_FAILS_WITH(run_dcsr("demo --lr wide.png --model m.ckpt", dir.str()), 2, "--lr and --ref go together");
  REQUIRE_FAILS_WITH(run_dcsr("demo " + pair + " --model m.ckpt --out ''", dir.str()), 2, "option '--out' needs a value");
  REQUIRE_FAILS_WITH(run_dcsr("demo " + pair + " --model m.ckpt --mode 5k", dir.str()), 2, "unknown mode '5k'");
  test::write_bytes(dir / "afile", "x");
  REQUIRE_FAILS_WITH(run_dcsr("demo " + pair + " --model m.ckpt --out afile", dir.str()), 1,
                     "cannot create the output folder 'afile'");
  test::write_bytes(dir / "bad.ckpt", "not a model");
  REQUIRE_FAILS_WITH(run_dcsr("demo " + pair + " --model bad.ckpt --out o", dir.str()), 1, "bad.ckpt");
  CHECK_FALSE(fs::exists(dir / "o/sr.png"));
  CHECK_FALSE(fs::exists(dir / "out"));
}

// ---------------------------------------------------------------- dcsr plot-log

TEST_CASE("forward: reading a training log and its moving average", "[demo]") {
  test::TempDir dir("plot");
  test::write_bytes(dir / "log.jsonl", generated_log(false));
  TrainingLog log = read_training_log(dir / "log.jsonl");
  REQUIRE(log.losses.size() == 3);  // loss, then the terms by name
  CHECK(log.losses[0].name == "loss");
  CHECK(log.losses[1].name == "CX_ref");
  CHECK(log.losses[2].name == "L1");
  // Steps 10..200 once each: the resumed run replaced 110..130.
  REQUIRE(log.losses[0].step.size() == 20);
  for (size_t i = 0; i < 20; ++i) CHECK(log.losses[0].step[i] == double(10 * (i + 1)));
  CHECK(log.val_psnr.value == std::vector<double>{27.5, 28.0});
  CHECK(log.val_bicubic.step == std::vector<double>{100, 200});
  CHECK(moving_average({1, 2, 3, 4, 5}, 2) == std::vector<double>{1, 1.5, 2.5, 3.5, 4.5});
  CHECK(moving_average({1, 2, 3}, 10) == std::vector<double>{1, 1.5, 2});
  CHECK(default_smoothing(5) == 1);
  CHECK(default_smoothing(400) == 20);
  CHECK(default_smoothing(100000) == 50);
}

TEST_CASE("forward: monitored sets and runs that continue one another in a training log", "[demo]") {
  test::TempDir dir("plot_runs");
  // The first run: generated_log (steps to 200, then a stop line at 205),
  // with a monitored set "real" at each validation.
  std::string first = generated_log(false);
  first += "{\"type\": \"stop\", \"reason\": \"epochs\", \"step\": 205}\n";
  for (int step : {100, 200})
    first += "{\"type\": \"monitor\", \"set\": \"real\", \"step\": " + std::to_string(step) +
             ", \"psnr\": " + std::to_string(30 + step / 100) + ", \"psnr_bicubic\": 29.0}\n";
  test::write_bytes(dir / "first.jsonl", first);
  // The second run, from the first one's model: its own steps from 1, and a monitor "other".
  std::string second = "{\"type\": \"start\", \"step\": 0}\n";
  for (int step : {10, 20})
    second += "{\"type\": \"train\", \"step\": " + std::to_string(step) + ", \"loss\": 0.1, \"L1\": 0.1}\n";
  second += "{\"type\": \"val\", \"step\": 20, \"psnr\": 29.0, \"psnr_bicubic\": 26.0}\n";
  second += "{\"type\": \"monitor\", \"set\": \"real\", \"step\": 20, \"psnr\": 33.0, \"psnr_bicubic\": 29.0}\n";
  second += "{\"type\": \"monitor\", \"set\": \"other\", \"step\": 20, \"psnr\": 31.0}\n";
  test::write_bytes(dir / "second.jsonl", second);

  TrainingLog one = read_training_log(dir / "first.jsonl");
  REQUIRE(one.monitors.size() == 1);
  CHECK(one.monitors[0].name == "real");
  CHECK(one.monitors[0].psnr.step == std::vector<double>{100, 200});
  CHECK(one.monitors[0].psnr.value == std::vector<double>{31, 32});
  CHECK(one.monitors[0].bicubic.value == std::vector<double>{29, 29});

  TrainingLog both = read_training_logs({dir / "first.jsonl", dir / "second.jsonl"});
  // The second run's steps follow the first one's last (the stop line's 205).
  REQUIRE(both.losses[0].step.size() == 22);
  CHECK(both.losses[0].step[20] == 215);
  CHECK(both.losses[0].step[21] == 225);
  CHECK(both.val_psnr.step == std::vector<double>{100, 200, 225});
  REQUIRE(both.monitors.size() == 2);  // by name
  CHECK(both.monitors[0].name == "other");
  CHECK(both.monitors[0].psnr.step == std::vector<double>{225});
  CHECK(both.monitors[0].bicubic.step.empty());
  CHECK(both.monitors[1].psnr.value == std::vector<double>{31, 32, 33});
  // CX_ref is only in the first run's lines, L1 in both.
  REQUIRE(both.losses.size() == 3);
  CHECK(both.losses[1].step.size() == 20);
  CHECK(both.losses[2].step.size() == 22);

  // The figure has a panel per monitored set below the validation panel.
  RunResult r = run_dcsr("plot-log first.jsonl second.jsonl --out runs.png", dir.str());
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.output, Catch::Contains("22 train points, 3 validation points, 1 of 'other', 3 of 'real'"));
  REQUIRE(run_dcsr("plot-log first.jsonl --out first.png", dir.str()).status == 0);
  REQUIRE(run_dcsr("plot-log second.jsonl --out second.png", dir.str()).status == 0);
  const int64_t h_runs = read_image_info(dir / "runs.png").height, h_first = read_image_info(dir / "first.png").height,
                h_second = read_image_info(dir / "second.png").height;
  CHECK(h_second == h_runs);      // validation + 2 monitored sets
  CHECK(h_first < h_runs);        // validation + 1
  // Without val and monitor lines: no PSNR panel; each panel adds the same height.
  std::string train_only;
  std::istringstream in(first);
  for (std::string line; std::getline(in, line);)
    if (line.find("\"val\"") == std::string::npos && line.find("\"monitor\"") == std::string::npos)
      train_only += line + "\n";
  test::write_bytes(dir / "train.jsonl", train_only);
  REQUIRE(run_dcsr("plot-log train.jsonl --out train.png", dir.str()).status == 0);
  CHECK(h_first - read_image_info(dir / "train.png").height == 2 * (h_runs - h_first));
}

TEST_CASE("forward: dcsr plot-log draws a generated log", "[cli][demo]") {
  test::TempDir dir("plot");
  test::write_bytes(dir / "log.jsonl", generated_log(true));
  RunResult r = run_dcsr("plot-log log.jsonl --out loss.png --smooth 3", dir.str());
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.output, Catch::Contains("incomplete last line") && Catch::Contains("2 validation points"));
  ImageInfo with_val = read_image_info(dir / "loss.png");
  CHECK((with_val.width == 1000 && with_val.channels == 3));
  // Without validation lines the PSNR panel is left out; --width is honoured.
  std::string train_only;
  std::istringstream in(generated_log(false));
  for (std::string line; std::getline(in, line);)
    if (line.find("\"val\"") == std::string::npos) train_only += line + "\n";
  test::write_bytes(dir / "train.jsonl", train_only);
  RunResult t = run_dcsr("plot-log --out small.png train.jsonl --width 600", dir.str());
  INFO(t.output);
  REQUIRE(t.status == 0);
  ImageInfo small = read_image_info(dir / "small.png");
  CHECK(small.width == 600);
  CHECK(small.height < with_val.height);
}

TEST_CASE("errors: dcsr plot-log names the unreadable log", "[cli][demo]") {
  test::TempDir dir("plot");
  test::write_bytes(dir / "log.jsonl", generated_log(false));
  REQUIRE_FAILS_WITH(run_dcsr("plot-log none.jsonl --out a.png", dir.str()), 1,
                     "cannot read the training log 'none.jsonl'");
  fs::create_directories(dir / "folder");
  REQUIRE_FAILS_WITH(run_dcsr("plot-log folder --out a.png", dir.str()), 1, "folder");
  test::write_bytes(dir / "text.jsonl", "{\"type\": \"train\", \"step\": 1, \"loss\": 1}\nhello\n{}\n");
  REQUIRE_FAILS_WITH(run_dcsr("plot-log text.jsonl --out a.png", dir.str()), 1, "line 2 is not a JSON object");
  test::write_bytes(dir / "empty.jsonl", "{\"type\": \"start\", \"step\": 0}\n");
  REQUIRE_FAILS_WITH(run_dcsr("plot-log empty.jsonl --out a.png", dir.str()), 1, "has no train lines");
  REQUIRE_FAILS_WITH(run_dcsr("plot-log --out a.png", dir.str()), 2, "missing the log file");
  REQUIRE_FAILS_WITH(run_dcsr("plot-log log.jsonl other.jsonl --out a.png", dir.str()), 1,
                     "cannot read the training log 'other.jsonl'");
  REQUIRE_FAILS_WITH(run_dcsr("plot-log log.jsonl empty.jsonl --out a.png", dir.str()), 1,
                     "'empty.jsonl' has no train lines");
  REQUIRE_FAILS_WITH(run_dcsr("plot-log log.jsonl", dir.str()), 2, "missing option --out");
  REQUIRE_FAILS_WITH(run_dcsr("plot-log log.jsonl --out a.png --smooth -2", dir.str()), 2, "--smooth");
  REQUIRE_FAILS_WITH(run_dcsr("plot-log log.jsonl --out no/a.png", dir.str()), 1, "no/a.png");
  // The figure's format follows the extension, as every image output's (it was PNG bytes under any name).
  REQUIRE_FAILS_WITH(run_dcsr("plot-log log.jsonl --out a.tif", dir.str()), 1, "a.tif");
  CHECK_FALSE(fs::exists(dir / "a.png"));
  CHECK_FALSE(fs::exists(dir / "a.tif"));
  REQUIRE(run_dcsr("plot-log log.jsonl --out a.jpg", dir.str()).status == 0);
  CHECK(test::read_bytes_of(dir / "a.jpg").substr(0, 2) == "\xFF\xD8");
}

// ---------------------------------------------------------------- eval --unrelated-ref, --ref-from, resize

TEST_CASE("forward: dcsr eval --unrelated-ref gives each image another image's reference", "[cli][demo]") {
  test::TempDir dir("unrel");
  test::write_dataset(dir / "set", 3, 24, 28);
  // The third reference has another size: it is resized to the LR's.
  test::resize_pair(dir / "set", "p2.png", 30, 20, 7);
  test::write_model(dir / "m.ckpt", 4);
  RunResult own = run_dcsr("eval --data set --model m.ckpt --json own.json --quiet", dir.str());
  INFO(own.output);
  REQUIRE(own.status == 0);
  RunResult un = run_dcsr("eval --data set --model m.ckpt --unrelated-ref --json un.json --quiet", dir.str());
  INFO(un.output);
  REQUIRE(un.status == 0);
  CHECK_THAT(un.output, Catch::Contains("reference: unrelated") && Catch::Contains("PSNR-FoV"));
  nlohmann::json a = nlohmann::json::parse(test::read_bytes_of(dir / "own.json"));
  nlohmann::json b = nlohmann::json::parse(test::read_bytes_of(dir / "un.json"));
  CHECK_THAT(a["reference"].get<std::string>(), Catch::StartsWith("own"));
  CHECK_THAT(b["reference"].get<std::string>(), Catch::StartsWith("unrelated"));
  REQUIRE(b["images"].size() == 3);
  CHECK(a["images"][0]["ref"] == "p0.png");
  CHECK(b["images"][0]["ref"] == "p1.png");
  CHECK(b["images"][2]["ref"] == "p0.png");
  CHECK(b["mean"]["bicubic"] == a["mean"]["bicubic"]);  // bicubic uses no reference
  CHECK(b["mean"]["sr"]["psnr_fov"].is_number());
  CHECK(b["n_feats"] == 4);
  CHECK(b["mean"]["sr"]["psnr"] != a["mean"]["sr"]["psnr"]);

  test::write_dataset(dir / "one", 1, 24, 28);
  REQUIRE_FAILS_WITH(run_dcsr("eval --data one --model m.ckpt --unrelated-ref --json x.json --quiet", dir.str()), 1,
                     "at least 2 images");
  REQUIRE_FAILS_WITH(run_dcsr("eval --data set --bicubic-only --unrelated-ref", dir.str()), 2, "needs a model");
  CHECK_FALSE(fs::exists(dir / "x.json"));
}

TEST_CASE("forward: dcsr eval --ref-from gives image i another dataset's reference i", "[cli][demo]") {
  test::TempDir dir("reffrom");
  test::write_dataset(dir / "set", 3, 24, 28);
  test::write_model(dir / "m.ckpt", 4);
  // Another scene: 4 references named q*, the second of another size (resized to the LR's).
  fs::create_directories(dir / "other/Ref/x2");
  for (int64_t i = 0; i < 4; ++i)
    write_png(dir / ("other/Ref/x2/q" + std::to_string(i) + ".png"),
              i == 1 ? test::test_image(30, 20, uint64_t(300 + i)) : test::test_image(24, 28, uint64_t(300 + i)));
  // The set's own references under other names: --ref-from then gives the normal run's numbers.
  fs::create_directories(dir / "same/Ref/x2");
  for (int64_t i = 0; i < 3; ++i)
    fs::copy_file(dir / ("set/Ref/x2/p" + std::to_string(i) + ".png"), dir / ("same/Ref/x2/s" + std::to_string(i) + ".png"));

  RunResult own = run_dcsr("eval --data set --model m.ckpt --json own.json --quiet", dir.str());
  INFO(own.output);
  REQUIRE(own.status == 0);
  RunResult other = run_dcsr("eval --data set --model m.ckpt --ref-from other --json other.json --quiet", dir.str());
  INFO(other.output);
  REQUIRE(other.status == 0);
  CHECK_THAT(other.output, Catch::Contains("reference: from 'other'"));
  RunResult same = run_dcsr("eval --data set --model m.ckpt --ref-from same --json same.json --quiet", dir.str());
  REQUIRE(same.status == 0);
  nlohmann::json a = nlohmann::json::parse(test::read_bytes_of(dir / "own.json"));
  nlohmann::json b = nlohmann::json::parse(test::read_bytes_of(dir / "other.json"));
  nlohmann::json c = nlohmann::json::parse(test::read_bytes_of(dir / "same.json"));
  CHECK_THAT(b["reference"].get<std::string>(), Catch::StartsWith("from 'other'"));
  REQUIRE(b["images"].size() == 3);
  for (int i = 0; i < 3; ++i) {
    CHECK(b["images"][i]["name"] == "p" + std::to_string(i) + ".png");
    CHECK(b["images"][i]["ref"] == "q" + std::to_string(i) + ".png");
    CHECK(c["images"][i]["ref"] == "s" + std::to_string(i) + ".png");
    CHECK(c["images"][i]["sr"] == a["images"][i]["sr"]);  // the same references: the same numbers
    CHECK(b["images"][i]["sr"]["psnr"] != a["images"][i]["sr"]["psnr"]);
  }
  CHECK(b["mean"]["bicubic"] == a["mean"]["bicubic"]);  // bicubic uses no reference

  // Errors: one line naming the folder or the options; nothing written.
  fs::create_directories(dir / "few/Ref/x2");
  write_png(dir / "few/Ref/x2/q0.png", test::test_image(24, 28, 1));
  REQUIRE_FAILS_WITH(run_dcsr("eval --data set --model m.ckpt --ref-from few --json x.json --quiet", dir.str()), 1,
                     "holds 1 images, fewer than the 3");
  REQUIRE_FAILS_WITH(run_dcsr("eval --data set --model m.ckpt --ref-from none --json x.json --quiet", dir.str()), 1,
                     "'none/Ref/x2' does not exist");
  REQUIRE_FAILS_WITH(
      run_dcsr("eval --data set --model m.ckpt --ref-from other --unrelated-ref --json x.json --quiet", dir.str()), 2,
      "two controls");
  REQUIRE_FAILS_WITH(run_dcsr("eval --data set --bicubic-only --ref-from other --json x.json", dir.str()), 2,
                     "needs a model");
  CHECK_FALSE(fs::exists(dir / "x.json"));
}

TEST_CASE("forward: dcsr resize writes the asked size, errors name the option", "[cli][demo]") {
  test::TempDir dir("resize");
  write_png(dir / "a.png", test::test_image(20, 30, 1));
  RunResult r = run_dcsr("resize --in a.png --out b.png --size 45x12", dir.str());
  INFO(r.output);
  REQUIRE(r.status == 0);
  ImageInfo b = read_image_info(dir / "b.png");
  CHECK((b.width == 45 && b.height == 12));
  REQUIRE_FAILS_WITH(run_dcsr("resize --in a.png --out c.png --size 45", dir.str()), 2, "WIDTHxHEIGHT");
  REQUIRE_FAILS_WITH(run_dcsr("resize --in a.png --out c.png --size 0x3", dir.str()), 2, "WIDTHxHEIGHT");
  REQUIRE_FAILS_WITH(run_dcsr("resize --in none.png --out c.png --size 4x3", dir.str()), 1, "none.png");
  // More pixels than any image may have (it took 16 GB, and no reader would take the result).
  REQUIRE_FAILS_WITH(run_dcsr("resize --in a.png --out c.png --size 30000x30000", dir.str()), 2, "2^28");
  CHECK_FALSE(fs::exists(dir / "c.png"));
}
