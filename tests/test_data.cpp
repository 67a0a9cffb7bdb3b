// Datasets (CameraFusion layout), the dual-camera simulation of `dcsr
// prepare`, and the patch sampler of dcsr-spec §10.2.
#include <filesystem>
#include <set>

#include "dcsr/data/data.h"
#include "dcsr/data/prepare.h"
#include "test_files.h"
#include "test_util.h"

using namespace dcsr;
namespace fs = std::filesystem;

namespace {

// An 8-bit image whose pixel (y, x) holds (y % 256, x % 256, (y / 256) * 16 + x / 256):
// every position can be read back from the values.
ImageU8 coded_image(int64_t h, int64_t w) {
  ImageU8 img;
  img.height = h, img.width = w;
  img.data.resize(size_t(3 * h * w));
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      img.data[size_t(y * w + x)] = uint8_t(y % 256);
      img.data[size_t(h * w + y * w + x)] = uint8_t(x % 256);
      img.data[size_t(2 * h * w + y * w + x)] = uint8_t((y / 256) * 16 + x / 256);
    }
  return img;
}

// (y, x) read back from a coded (3, s, s) float crop at (u, v).
std::pair<int64_t, int64_t> decode(const Tensor& crop, int64_t u, int64_t v) {
  const int64_t s = crop.size(1), t = crop.size(2);
  const float* d = crop.data<float>();
  auto at = [&](int64_t c) { return int64_t(std::lround(d[(c * s + u) * t + v] * 255.0f)); };
  return {at(0) + (at(2) / 16) * 256, at(1) + (at(2) % 16) * 256};
}

// A dataset folder with n pairs of the given LR size, written from generated images.
void make_dataset(const std::string& root, int64_t n, int64_t h, int64_t w) {
  for (const char* sub : {"HR", "LR/x2", "Ref/x2", "LR/x1", "Ref/x1"}) fs::create_directories(fs::path(root) / sub);
  for (int64_t i = 0; i < n; ++i) {
    std::string name = "img" + std::to_string(i) + ".png";
    write_png(root + "/HR/" + name, test::test_image(2 * h, 2 * w, uint64_t(10 + i)));
    write_png(root + "/LR/x1/" + name, test::test_image(2 * h, 2 * w, uint64_t(10 + i)));
    write_png(root + "/Ref/x1/" + name, test::test_image(2 * h, 2 * w, uint64_t(20 + i)));
    write_png(root + "/LR/x2/" + name, test::test_image(h, w, uint64_t(30 + i)));
    write_png(root + "/Ref/x2/" + name, test::test_image(h, w, uint64_t(40 + i)));
  }
}

}  // namespace

TEST_CASE("forward: datasets are listed and paired by sorted name", "[data]") {
  test::TempDir dir("data");
  make_dataset(dir / "set", 3, 64, 72);
  DatasetFiles f = list_dataset(dir / "set", DatasetKind::Basic);
  REQUIRE(f.size() == 3);
  CHECK(fs::path(f.hr[2]).filename() == "img2.png");
  CHECK(fs::path(f.ref[0]).parent_path().filename() == "x2");
  Dataset basic(dir / "set", DatasetKind::Basic);
  CHECK(basic.size() == 3);
  CHECK(basic.pair(1).hr.height == 128);
  CHECK(basic.pair(1).lr.width == 72);
  Dataset sra(dir / "set", DatasetKind::Sra);
  CHECK(sra.pair(0).lr.height == 128);
  CHECK(sra.pair(0).hr.data.empty());
}

TEST_CASE("errors: dataset folders, counts and sizes", "[data]") {
  test::TempDir dir("data");
  CHECK_THROWS_WITH(list_dataset(dir / "none", DatasetKind::Basic), Catch::Contains("none") && Catch::Contains("does not exist"));
  make_dataset(dir / "set", 2, 64, 64);
  fs::remove_all(dir / "set/Ref/x2");
  CHECK_THROWS_WITH(list_dataset(dir / "set", DatasetKind::Basic), Catch::Contains("Ref/x2") && Catch::Contains("missing"));
  CHECK_NOTHROW(list_dataset(dir / "set", DatasetKind::Sra));
  fs::create_directories(dir / "set/Ref/x2");
  CHECK_THROWS_WITH(list_dataset(dir / "set", DatasetKind::Basic), Catch::Contains("Ref/x2") && Catch::Contains("no images"));
  write_png(dir / "set/Ref/x2/img0.png", test::test_image(64, 64));
  CHECK_THROWS_WITH(list_dataset(dir / "set", DatasetKind::Basic),
                    Catch::Contains("LR/x2 has 2 images but Ref/x2 has 1"));
  write_png(dir / "set/Ref/x2/img1.png", test::test_image(64, 64));
  CHECK_NOTHROW(Dataset(dir / "set", DatasetKind::Basic));
  write_png(dir / "set/HR/img1.png", test::test_image(127, 128));  // odd: not twice the LR
  CHECK_THROWS_WITH(Dataset(dir / "set", DatasetKind::Basic),
                    Catch::Contains("img1.png") && Catch::Contains("128x127") && Catch::Contains("twice"));
  write_png(dir / "set/HR/img1.png", test::test_image(128, 128));
  write_png(dir / "set/Ref/x2/img1.png", test::test_image(64, 66));
  CHECK_THROWS_WITH(Dataset(dir / "set", DatasetKind::Basic),
                    Catch::Contains("Ref/x2/img1.png") && Catch::Contains("66x64") && Catch::Contains("LR's pixel size"));
  Dataset ok(dir / "set", DatasetKind::Sra);
  CHECK_NOTHROW(ok.check_patch_size(16));
  CHECK_THROWS_WITH(ok.check_patch_size(64), Catch::Contains("too small for patch size 64"));
  CHECK_THROWS_WITH(ok.check_patch_size(15), Catch::Contains("even"));
  // A pair's files share a name: a renamed one is named, not paired with its neighbour.
  fs::rename(dir / "set/HR/img1.png", dir / "set/HR/zebra.png");
  CHECK_THROWS_WITH(list_dataset(dir / "set", DatasetKind::Basic),
                    Catch::Contains("pair 2") && Catch::Contains("LR/x2/img1.png") && Catch::Contains("HR/zebra.png"));
  CHECK_NOTHROW(list_dataset(dir / "set", DatasetKind::Sra));  // SRA reads no HR
  fs::rename(dir / "set/HR/zebra.png", dir / "set/HR/img1.png");
  fs::rename(dir / "set/Ref/x2/img1.png", dir / "set/Ref/x2/img1.jpg");  // another extension is the same name
  CHECK_NOTHROW(list_dataset(dir / "set", DatasetKind::Basic));
}

TEST_CASE("forward: patch draws stay inside the telephoto's view", "[data]") {
  Generator gen(5);
  std::set<int64_t> rots, deltas;
  int64_t hflips = 0;
  const int64_t h = 120, w = 200, p = 24;
  for (int n = 0; n < 2000; ++n) {
    PatchDraw d = draw_patch(h, w, p, gen);
    REQUIRE(d.y >= h / 4);
    REQUIRE(d.y <= 3 * h / 4 - p - 15);
    REQUIRE(d.x >= w / 4);
    REQUIRE(d.x <= 3 * w / 4 - p - 15);
    rots.insert(d.rot90);
    deltas.insert(d.delta);
    hflips += d.hflip;
  }
  CHECK(rots == std::set<int64_t>{0, 1, 2, 3});
  CHECK(*deltas.begin() == 0);
  CHECK(*deltas.rbegin() == 30);
  CHECK(hflips > 800);
  CHECK(hflips < 1200);
  CHECK(can_sample_patch(62, 62, 16));  // 3*62/4 - 16 + 1 - 15 = 16 > 62/4 = 15
  CHECK_FALSE(can_sample_patch(60, 200, 16));
}

TEST_CASE("forward: every patch's Ref crop lies inside Ref/x2 for every LR size", "[data]") {
  // For n = 4k + 3 the spec's bound put the Ref crop one pixel past the
  // image (train failed mid-run); for the other sizes the draws are the spec's.
  for (const int64_t p : {8, 16}) {
    for (int64_t n = 40; n <= 120; ++n) {
      if (!can_sample_patch(n, n, p)) continue;
      Generator gen{uint64_t(n)};
      int64_t highest = 0;
      for (int k = 0; k < 3000; ++k) {
        const PatchDraw d = draw_patch(n, n, p, gen);
        const int64_t ref_end = 2 * (std::max(d.y, d.x) - n / 4) + d.delta + 2 * p;
        INFO("LR " << n << ", patch " << p << ", crop at " << d.y << "," << d.x << ", delta " << d.delta);
        REQUIRE(ref_end <= n);
        REQUIRE(std::max(d.y, d.x) <= 3 * n / 4 - p - 15);
        highest = std::max(highest, std::max(d.y, d.x));
      }
      const int64_t spec_last = 3 * n / 4 - p - 15;  // the spec's last start, drawn unless n = 4k + 3
      CHECK(highest == (n % 4 == 3 ? spec_last - 1 : spec_last));
    }
  }
  // And a whole patch cut from such a pair.
  ImagePair pair;
  pair.lr = coded_image(63, 63);
  pair.ref = coded_image(63, 63);
  pair.hr = coded_image(126, 126);
  Generator gen(3);
  for (int k = 0; k < 500; ++k) CHECK_NOTHROW(cut_patch(pair, DatasetKind::Basic, draw_patch(63, 63, 16, gen), 16));
}

TEST_CASE("forward: patch geometry of LR, Ref and HR crops (spec 10.2)", "[data]") {
  const int64_t h = 100, w = 132, p = 8;
  ImagePair pair;
  pair.lr = coded_image(h, w);
  pair.ref = coded_image(h, w);
  pair.hr = coded_image(2 * h, 2 * w);
  PatchDraw d;
  d.y = 31, d.x = 40, d.delta = 7;
  Patch s = cut_patch(pair, DatasetKind::Basic, d, p);
  REQUIRE(s.lr.shape() == Shape{3, p, p});
  REQUIRE(s.ref.shape() == Shape{3, 2 * p, 2 * p});
  REQUIRE(s.target.shape() == Shape{3, 2 * p, 2 * p});
  CHECK(decode(s.lr, 0, 0) == std::make_pair<int64_t, int64_t>(31, 40));
  CHECK(decode(s.lr, 3, 5) == std::make_pair<int64_t, int64_t>(34, 45));
  CHECK(decode(s.target, 0, 0) == std::make_pair<int64_t, int64_t>(62, 80));
  CHECK(decode(s.ref, 0, 0) == std::make_pair<int64_t, int64_t>(2 * (31 - h / 4) + 7, 2 * (40 - w / 4) + 7));
  Patch sra = cut_patch(pair, DatasetKind::Sra, d, p);
  CHECK(sra.target.same(sra.lr));

  // Augmentation: flips first, then counter-clockwise quarter turns (np.rot90).
  const int64_t s1 = p - 1;
  struct Expect {
    bool hflip, vflip;
    int64_t rot;
    int64_t y, x;  // crop position shown at output (0, 0)
  };
  for (Expect e : {Expect{false, false, 1, 0, s1}, Expect{false, false, 2, s1, s1}, Expect{false, false, 3, s1, 0},
                   Expect{true, false, 0, 0, s1}, Expect{false, true, 0, s1, 0}, Expect{true, false, 1, 0, 0},
                   Expect{true, true, 3, 0, s1}}) {
    PatchDraw a = d;
    a.hflip = e.hflip, a.vflip = e.vflip, a.rot90 = e.rot;
    Patch t = cut_patch(pair, DatasetKind::Basic, a, p);
    INFO("hflip " << e.hflip << " vflip " << e.vflip << " rot90 " << e.rot);
    CHECK(decode(t.lr, 0, 0) == std::make_pair(31 + e.y, 40 + e.x));
    // The HR and Ref crops turn with the LR: their (0, 0) shows the matching corner.
    CHECK(decode(t.target, 0, 0) == std::make_pair(62 + 2 * e.y + (e.y ? 1 : 0), 80 + 2 * e.x + (e.x ? 1 : 0)));
  }
  // A rotation by 1 moves the LR's top-right pixel (0, p-1) to (0, 0) and (1, p-1) to (1, 0)...
  PatchDraw r = d;
  r.rot90 = 1;
  Patch t = cut_patch(pair, DatasetKind::Basic, r, p);
  CHECK(decode(t.lr, 1, 0) == std::make_pair<int64_t, int64_t>(31 + 0, 40 + s1 - 1));
  CHECK(decode(t.lr, 0, 1) == std::make_pair<int64_t, int64_t>(31 + 1, 40 + s1));
}

TEST_CASE("forward: batches and epoch order", "[data]") {
  test::TempDir dir("data");
  make_dataset(dir / "set", 2, 64, 64);
  Dataset data(dir / "set", DatasetKind::Basic);
  Generator gen(1);
  Batch b = make_batch(data, {1, 0, 1}, 16, gen);
  CHECK(b.lr.shape() == Shape{3, 3, 16, 16});
  CHECK(b.ref.shape() == Shape{3, 3, 32, 32});
  CHECK(b.target.shape() == Shape{3, 3, 32, 32});
  Dataset sra(dir / "set", DatasetKind::Sra);
  Batch s = make_batch(sra, {0}, 16, gen);
  CHECK(s.target.shape() == Shape{1, 3, 16, 16});
  test::require_close(s.target, s.lr, 1e-12);

  std::vector<int64_t> o1 = epoch_order(5, 3, 7, 0), o2 = epoch_order(5, 3, 7, 0), o3 = epoch_order(5, 3, 7, 1);
  CHECK(o1 == o2);
  CHECK(o1 != o3);
  std::vector<int64_t> sorted = o1;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == std::vector<int64_t>{0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4});
}

TEST_CASE("forward: the unperturbed dual camera is the documented geometry", "[data][prepare]") {
  // A photo of 76 x 90 is cropped to 72 x 88 (centre): h = 36, w = 44.
  Tensor photo = test::test_image(76, 90, 3);
  DualCameraParams none;
  Generator gen(1);
  SimulatedPair s = simulate_dual_camera(photo, none, gen);
  REQUIRE(s.hr.shape() == Shape{1, 3, 72, 88});
  REQUIRE(s.lr_x2.shape() == Shape{1, 3, 36, 44});
  REQUIRE(s.ref_x2.shape() == Shape{1, 3, 36, 44});
  REQUIRE(s.lr_x1.shape() == Shape{1, 3, 72, 88});
  REQUIRE(s.ref_x1.shape() == Shape{1, 3, 72, 88});
  test::require_close(s.hr, narrow(narrow(photo, 2, 2, 72), 3, 1, 88), 1e-12);
  test::require_close(s.lr_x1, s.hr, 1e-12);
  // Ref/x2 is the central half of the HR at full resolution: pixel (r, c) = HR (h/2 + r, w/2 + c).
  test::require_close(s.ref_x2, narrow(narrow(s.hr, 2, 18, 36), 3, 22, 44), 1e-6);
  // So the §10.2 rule with delta = 0 cuts the same content as the HR crop.
  ImagePair pair{"x", tensor_to_image(s.lr_x2), tensor_to_image(s.ref_x2), tensor_to_image(s.hr)};
  PatchDraw d;
  d.y = 10, d.x = 12;
  Patch patch = cut_patch(pair, DatasetKind::Basic, d, 4);
  test::require_close(patch.ref, patch.target, 1e-12);
}

TEST_CASE("forward: Ref/x1 renders the same view at twice the density", "[data][prepare]") {
  // On a linear ramp, Keys interpolation is exact, so Ref/x1 pixel (R, C) must
  // hold the ramp at HR position (h/2 - 1/4 + R/2, w/2 - 1/4 + C/2) (away from the border).
  const int64_t H = 64, W = 80, h = 32, w = 40;
  Tensor ramp = empty({1, 3, H, W});
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) ramp.data<float>()[(c * H + y) * W + x] = float(0.1 + 0.005 * y + 0.004 * x + 0.1 * c);
  DualCameraParams p;
  p.angle_deg = 1.5, p.scale = 1.02, p.ty = 2.5, p.tx = -3.0;
  Generator gen(1);
  SimulatedPair s = simulate_dual_camera(ramp, p, gen);
  const double th = p.angle_deg * M_PI / 180.0, cs = std::cos(th) * p.scale, sn = std::sin(th) * p.scale;
  for (int64_t R : {0, 17, 63})
    for (int64_t C : {0, 40, 79}) {
      double r = (R + 0.5) / 2 - 0.5 - (h - 1) / 2.0, c = (C + 0.5) / 2 - 0.5 - (w - 1) / 2.0;
      double y = h - 0.5 + cs * r - sn * c + p.ty, x = w - 0.5 + sn * r + cs * c + p.tx;
      double want = 0.1 + 0.005 * y + 0.004 * x;
      CHECK(s.ref_x1.data<float>()[R * 2 * w + C] == Approx(want).margin(1e-5));
    }
  for (int64_t r : {0, 20, 31})
    for (int64_t c : {0, 39}) {
      double rr = r - (h - 1) / 2.0, cc = c - (w - 1) / 2.0;
      double y = h - 0.5 + cs * rr - sn * cc + p.ty, x = w - 0.5 + sn * rr + cs * cc + p.tx;
      CHECK(s.ref_x2.data<float>()[r * w + c] == Approx(0.1 + 0.005 * y + 0.004 * x).margin(1e-5));
    }
}

TEST_CASE("forward: prepare writes a seeded CameraFusion dataset", "[data][prepare]") {
  test::TempDir dir("prepare");
  fs::create_directories(dir / "photos");
  write_png(dir / "photos/b.png", test::test_image(70, 90, 1));
  write_png(dir / "photos/a.png", test::test_image(64, 64, 2));
  test::write_bytes(dir / "photos/readme.txt", "not a photo");
  PrepareOptions opt;
  opt.photos_dir = dir / "photos";
  opt.out_dir = dir / "out1";
  opt.seed = 3;
  CHECK(prepare_dataset(opt) == 2);
  Dataset basic(dir / "out1", DatasetKind::Basic);
  REQUIRE(basic.size() == 2);
  CHECK(basic.pair(1).hr.height == 64);
  CHECK(basic.pair(1).hr.width == 88);
  CHECK(basic.pair(1).lr.height == 32);
  Dataset sra(dir / "out1", DatasetKind::Sra);
  CHECK(sra.pair(0).ref.height == 64);
  CHECK(fs::exists(dir / "out1/prepare.json"));

  opt.out_dir = dir / "out2";
  prepare_dataset(opt);
  CHECK(test::read_bytes_of(dir / "out1/Ref/x2/b.png") == test::read_bytes_of(dir / "out2/Ref/x2/b.png"));
  opt.out_dir = dir / "out3";
  opt.seed = 4;
  prepare_dataset(opt);
  CHECK(test::read_bytes_of(dir / "out1/Ref/x2/b.png") != test::read_bytes_of(dir / "out3/Ref/x2/b.png"));
  CHECK(test::read_bytes_of(dir / "out1/LR/x2/b.png") == test::read_bytes_of(dir / "out3/LR/x2/b.png"));

  CHECK_THROWS_WITH(prepare_dataset(opt), Catch::Contains("not empty"));
  opt.force = true;
  CHECK_NOTHROW(prepare_dataset(opt));
}

TEST_CASE("errors: prepare checks its photos before writing", "[data][prepare]") {
  test::TempDir dir("prepare");
  PrepareOptions opt;
  opt.photos_dir = dir / "photos";
  opt.out_dir = dir / "out";
  CHECK_THROWS_WITH(prepare_dataset(opt), Catch::Contains("photos") && Catch::Contains("does not exist"));
  fs::create_directories(dir / "photos");
  CHECK_THROWS_WITH(prepare_dataset(opt), Catch::Contains("holds no images"));
  write_png(dir / "photos/a.png", test::test_image(64, 64, 2));
  test::write_bytes(dir / "photos/broken.jpg", "garbage");
  CHECK_THROWS_WITH(prepare_dataset(opt), Catch::Contains("broken.jpg"));
  fs::remove(dir / "photos/broken.jpg");
  write_png(dir / "photos/a.bmp.png", test::test_image(16, 64, 2));
  CHECK_THROWS_WITH(prepare_dataset(opt), Catch::Contains("too small"));
  CHECK_FALSE(fs::exists(dir / "out"));
}
