// Tiled inference (dcsr-spec §8): the Ref window rules, the coarse search,
// and tiling with a stub network against the same stub run on the whole image.
#include <cmath>
#include <cstring>
#include <map>
#include <numeric>
#include <set>
#include <tuple>
#include <algorithm>

#include "dcsr/inference/metrics.h"

#include "autograd/grad_mode.h"
#include "dcsr/inference/eval.h"
#include "dcsr/model/network.h"
#include "dcsr/inference/tiling.h"
#include "test_files.h"
#include "test_util.h"

using namespace dcsr;

namespace {

std::array<int64_t, 6> count_kinds(int64_t ny, int64_t nx, int64_t m1, int64_t m2, int64_t hr, int64_t wr,
                                   std::map<std::pair<int64_t, int64_t>, int64_t>* sizes = nullptr) {
  std::array<int64_t, 6> counts{};
  for (int64_t j = 0; j < ny; ++j)
    for (int64_t i = 0; i < nx; ++i) {
      RefWindow w = ref_window(j, i, ny, nx, m1, m2, hr, wr);
      ++counts[size_t(w.kind)];
      REQUIRE(w.r0 >= 0);
      REQUIRE(w.c0 >= 0);
      REQUIRE(w.r1 <= hr);
      REQUIRE(w.c1 <= wr);
      if (sizes && w.kind != WindowKind::Coarse) ++(*sizes)[{w.height(), w.width()}];
    }
  return counts;
}

// The stub "network": SR = 2x nearest upsampling of a 3x3 box filter of the
// LR (zero padding), plus the Ref window's mean (a per-tile constant) times
// 0 so that the window is read; confidence = the box-filtered red channel at
// LR resolution (4K) or its 2x2 average (8K); warped Ref = SR with the
// channels reversed. Its output at a pixel depends on a 1-px LR
// neighbourhood only, so tiles with 20 px of context must reproduce the
// whole-image result exactly.
TileOutput stub_network(const Tensor& lr, const Tensor& ref, Mode mode) {
  const int64_t h = lr.size(2), w = lr.size(3);
  const float* x = lr.data<float>();
  double ref_sum = 0.0;
  for (float v : ref.to_vector<float>()) ref_sum += v;
  TileOutput out;
  out.sr = empty({1, 3, 2 * h, 2 * w});
  out.warped_ref = empty({1, 3, 2 * h, 2 * w});
  Tensor box = empty({1, 3, h, w});
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t xx = 0; xx < w; ++xx) {
        double s = 0.0;
        for (int64_t dy = -1; dy <= 1; ++dy)
          for (int64_t dx = -1; dx <= 1; ++dx)
            if (y + dy >= 0 && y + dy < h && xx + dx >= 0 && xx + dx < w) s += x[(c * h + y + dy) * w + xx + dx];
        box.data<float>()[(c * h + y) * w + xx] = float(s / 9.0 + 0.0 * ref_sum);
      }
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < 2 * h; ++y)
      for (int64_t xx = 0; xx < 2 * w; ++xx) {
        float v = box.data<float>()[(c * h + y / 2) * w + xx / 2];
        out.sr.data<float>()[(c * 2 * h + y) * 2 * w + xx] = v;
        out.warped_ref.data<float>()[((2 - c) * 2 * h + y) * 2 * w + xx] = v;
      }
  if (mode == Mode::K4) {
    out.confidence = empty({1, 1, h, w});
    std::copy_n(box.data<float>(), h * w, out.confidence.data<float>());
  } else {
    out.confidence = empty({1, 1, h / 2, w / 2});
    const float* b = box.data<float>();
    for (int64_t y = 0; y < h / 2; ++y)
      for (int64_t xx = 0; xx < w / 2; ++xx)
        out.confidence.data<float>()[y * (w / 2) + xx] =
            0.25f * (b[2 * y * w + 2 * xx] + b[2 * y * w + 2 * xx + 1] + b[(2 * y + 1) * w + 2 * xx] +
                     b[(2 * y + 1) * w + 2 * xx + 1]);
  }
  return out;
}

// LR sizes and modes for the stub network: odd sizes, a 1-row grid, an image
// below kMinTiledSide, both modes.
struct LrCase {
  int64_t h, w;
  Mode mode;
};
const LrCase kLocalNetworkCases[] = {{300, 270, Mode::K4}, {131, 77, Mode::K4}, {9, 260, Mode::K4},
                                     {250, 530, Mode::K8}, {61, 45, Mode::K8}};

}  // namespace

TEST_CASE("forward: tile grid sizes", "[tiling]") {
  TileGrid g = make_tile_grid(1512, 2016, Mode::K4);
  CHECK(g.m1 == 126);
  CHECK(g.ny == 12);
  CHECK(g.nx == 16);
  CHECK(g.tile_h() == 166);
  TileGrid l = make_tile_grid(3024, 4032, Mode::K8);  // landscape
  CHECK(l.m1 == 188);
  CHECK(l.m2 == 252);
  CHECK(l.tile_h() == 228);
  CHECK(l.tile_w() == 292);
  CHECK(l.ny == 17);  // the reference uses 16 and drops the last 16 rows; we cover them
  CHECK(l.nx == 16);
  TileGrid p = make_tile_grid(4032, 3024, Mode::K8);  // portrait
  CHECK(p.m1 == 252);
  CHECK(p.m2 == 188);
  TileGrid s = make_tile_grid(1, 1, Mode::K4);
  CHECK(s.ny == 1);
  CHECK(s.nx == 1);
}

TEST_CASE("forward: Ref window categories and sizes of the 4K worked example", "[tiling]") {
  std::map<std::pair<int64_t, int64_t>, int64_t> sizes;
  std::array<int64_t, 6> c = count_kinds(12, 16, 126, 126, 1512, 2016, &sizes);
  CHECK(c == std::array<int64_t, 6>{48, 15, 15, 1, 1, 112});
  // Window sizes (rows x cols: tiles) of the official wrapper on the sample image (spec §8).
  std::map<std::pair<int64_t, int64_t>, int64_t> expected = {
      {{352, 352}, 39}, {{352, 332}, 4}, {{332, 352}, 6}, {{332, 332}, 1}, {{352, 272}, 4}, {{272, 352}, 6},
      {{332, 272}, 1},  {{272, 332}, 1}, {{272, 272}, 1}, {{352, 252}, 1}, {{252, 352}, 1}, {{252, 252}, 15}};
  CHECK(sizes == expected);
  // Spot checks of each rule.
  RefWindow a = ref_window(3, 4, 12, 16, 126, 126, 1512, 2016);
  CHECK((a.kind == WindowKind::A && a.r0 == 0 && a.r1 == 332 && a.c0 == 0 && a.c1 == 332));
  RefWindow a2 = ref_window(5, 6, 12, 16, 126, 126, 1512, 2016);
  CHECK((a2.r0 == 504 - 20 && a2.r1 == 504 + 252 + 80 && a2.c0 == 504 - 20));
  RefWindow d = ref_window(2, 12, 12, 16, 126, 126, 1512, 2016);
  CHECK((d.kind == WindowKind::D && d.r0 == 0 && d.r1 == 352 && d.c0 == 2016 - 352 && d.c1 == 2016));
  RefWindow e = ref_window(9, 3, 12, 16, 126, 126, 1512, 2016);
  CHECK((e.kind == WindowKind::E && e.r0 == 1512 - 352 && e.r1 == 1512 && e.c0 == 0 && e.c1 == 352));
  CHECK(ref_window(0, 0, 12, 16, 126, 126, 1512, 2016).kind == WindowKind::Coarse);
}

TEST_CASE("forward: Ref window categories and sizes of the 8K worked example", "[tiling]") {
  // The reference's grid for a 4032x3024 LR: 16 x 16 tiles of 188 x 252.
  std::map<std::pair<int64_t, int64_t>, int64_t> sizes;
  std::array<int64_t, 6> c = count_kinds(16, 16, 188, 252, 3024, 4032, &sizes);
  CHECK(c == std::array<int64_t, 6>{64, 17, 17, 1, 1, 156});
  std::map<std::pair<int64_t, int64_t>, int64_t> expected = {
      {{476, 604}, 53}, {{476, 584}, 6}, {{476, 524}, 6}, {{476, 504}, 1}, {{456, 604}, 6},  {{456, 584}, 1},
      {{456, 524}, 1},  {{412, 604}, 6}, {{412, 584}, 1}, {{412, 524}, 1}, {{392, 604}, 1}, {{376, 504}, 17}};
  CHECK(sizes == expected);
}

TEST_CASE("forward: small grids clip windows into the Ref", "[tiling]") {
  for (int64_t n : {1, 2, 3, 5})
    for (int64_t r : {8, 100, 300}) count_kinds(n, n + 1, 126, 126, r, r + 10);  // REQUIREs inside
  RefWindow w = fit_window({WindowKind::A, 3, 5, 14, 20}, 4);
  CHECK((w.r0 == 3 && w.r1 == 11 && w.c0 == 5 && w.c1 == 17));
  CHECK_THROWS_WITH(fit_window({WindowKind::A, 0, 0, 3, 9}, 4), Catch::Contains("too small"));
}

TEST_CASE("forward: a window too thin for the network is widened back from the Ref's end", "[tiling]") {
  // 4K mode, an LR of 253 rows: the ring's window of tile row 1 starts at Ref row 252 of 253.
  RefWindow thin = widen_thin_window({WindowKind::B, 252, 0, 253, 352}, 4, 252, 252, 253, 379);
  CHECK((thin.kind == WindowKind::B && thin.r0 == 1 && thin.r1 == 253 && thin.c0 == 0 && thin.c1 == 352));
  RefWindow narrow = widen_thin_window({WindowKind::B, 0, 377, 352, 379}, 4, 252, 252, 379, 379);
  CHECK((narrow.r0 == 0 && narrow.r1 == 352 && narrow.c0 == 127 && narrow.c1 == 379));
  RefWindow at_start = widen_thin_window({WindowKind::A, 0, 0, 3, 40}, 4, 252, 252, 100, 379);
  CHECK((at_start.r0 == 0 && at_start.r1 == 100 && at_start.c1 == 40));  // forward, as far as the Ref goes
  for (const RefWindow& w : {RefWindow{WindowKind::A, 250, 0, 254, 4}, RefWindow{WindowKind::C, 1, 1, 253, 253}}) {
    const RefWindow same = widen_thin_window(w, 4, 252, 252, 400, 400);
    CHECK((same.r0 == w.r0 && same.r1 == w.r1 && same.c0 == w.c0 && same.c1 == w.c1));
  }
  CHECK(min_window_side(Mode::K4) == 4);
  CHECK(min_window_side(Mode::K8) == 8);
  // Every planned window of the sizes that gave 1-7 rows is at least two blocks.
  for (const auto& [mode, h, w] : {std::tuple{Mode::K4, 253, 379}, std::tuple{Mode::K4, 379, 255},
                                   std::tuple{Mode::K8, 757, 377}, std::tuple{Mode::K8, 380, 757}}) {
    Tensor lr = test::test_image(h, w, 41), ref = test::test_image(h, w, 42);
    TiledOptions opt;
    int64_t thinnest = 1 << 20;
    opt.on_window = [&](int64_t, int64_t, const RefWindow& win) {
      thinnest = std::min({thinnest, win.height(), win.width()});
    };
    const TiledResult r = tiled_inference(
        lr, ref, mode, [&](const Tensor& t, const Tensor& win) { return stub_network(t, win, mode); }, opt);
    INFO(h << "x" << w);
    CHECK(r.sr.shape() == Shape{1, 3, 2 * h, 2 * w});
    CHECK(thinnest >= min_window_side(mode));
  }
}

TEST_CASE("forward: the real network runs an LR whose ring window began a row before the Ref's end",
          "[tiling][model][slow]") {
  ModelConfig config;
  config.n_feats = 4;
  Generator gen(5);
  DcsrNet net(config, gen);
  Tensor lr = test::test_image(253, 379, 43);  // a 3 x 4 grid of 4K tiles; the Ref is the LR (canonical)
  const TiledResult r = tiled_inference(lr, lr, Mode::K4, network_tile_forward(net, Mode::K4));
  CHECK(r.sr.shape() == Shape{1, 3, 506, 758});
}

TEST_CASE("golden: coarse search with torch 1.4 resize semantics", "[tiling][golden]") {
  auto g = test::golden("coarse_search");
  Tensor tile = g.at("tile").to(kFloat64), ref = g.at("ref").to(kFloat64);
  Tensor ref_small = coarse_reference(ref);
  test::require_close(ref_small, g.at("ref_s"), 1e-12, 1e-10, "ref_s");
  test::require_close(bicubic_resize(tile, 2, 3), g.at("lr_s"), 1e-12, 1e-10, "lr_s");
  Tensor cost;
  RefWindow w = coarse_search(tile, ref_small, 72, 104, &cost);
  test::require_close(cost, g.at("cost"), 1e-12, 1e-10, "cost");
  CHECK(std::vector<int64_t>{w.r0, w.c0, w.r1, w.c1} == g.at("window").to_vector<int64_t>());
  // float32 inputs, as tiled_inference passes them, pick the same window.
  RefWindow w32 = coarse_search(g.at("tile"), coarse_reference(g.at("ref")), 72, 104);
  CHECK(std::vector<int64_t>{w32.r0, w32.c0, w32.r1, w32.c1} == g.at("window").to_vector<int64_t>());
  // Nothing to search when the tile does not fit: the whole Ref.
  RefWindow whole = coarse_search(tile, coarse_reference(narrow(ref, 2, 0, 16)), 16, 104);
  CHECK((whole.r0 == 0 && whole.r1 == 16 && whole.c0 == 0 && whole.c1 == 104));
}

TEST_CASE("forward: extract_tile reads zeros outside the image", "[tiling]") {
  Tensor img = test::test_image(5, 7, 1);
  Tensor t = extract_tile(img, -2, 3, 4, 6);
  REQUIRE(t.shape() == Shape{1, 3, 4, 6});
  std::vector<float> v = t.to_vector<float>(), src = img.to_vector<float>();
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < 4; ++y)
      for (int64_t x = 0; x < 6; ++x) {
        int64_t sy = y - 2, sx = x + 3;
        float want = (sy >= 0 && sy < 5 && sx < 7) ? src[size_t((c * 5 + sy) * 7 + sx)] : 0.0f;
        CHECK(v[size_t((c * 4 + y) * 6 + x)] == want);
      }
  CHECK(extract_tile(img, 10, 10, 2, 2).to_vector<float>() == std::vector<float>(12, 0.0f));
}

TEST_CASE("forward: tiled inference equals the whole-image result for a local network", "[tiling]") {
  for (LrCase k : kLocalNetworkCases) {
    INFO("LR " << k.h << "x" << k.w << " " << mode_name(k.mode));
    Tensor lr = test::test_image(k.h, k.w, 11);
    Tensor ref = test::test_image(k.h, k.w, 12);
    int64_t tiles = 0;
    TiledOptions opt;
    opt.want_confidence = opt.want_warped_ref = true;
    opt.on_window = [&](int64_t, int64_t, const RefWindow& w) {
      const int64_t block = k.mode == Mode::K8 ? 4 : 2;
      CHECK(w.height() % block == 0);
      CHECK(w.width() % block == 0);
      // (below kMinTiledSide the image runs padded with zeros to that size)
      CHECK((w.r0 >= 0 && w.c0 >= 0 && w.r1 <= std::max(k.h, kMinTiledSide) &&
             w.c1 <= std::max(k.w, kMinTiledSide) && w.height() > 0));
    };
    opt.progress = [&](int64_t done, int64_t total) {
      CHECK(done == ++tiles);
      CHECK(total >= done);
    };
    TiledResult r = tiled_inference(
        lr, ref, k.mode, [&](const Tensor& t, const Tensor& w) { return stub_network(t, w, k.mode); }, opt);
    TileGrid g = make_tile_grid(k.h, k.w, k.mode);
    CHECK(tiles == g.ny * g.nx);
    int64_t counted = 0;
    for (int64_t n : r.window_counts) counted += n;
    CHECK(counted == tiles);
    TileOutput whole = stub_network(lr, ref, k.mode);
    REQUIRE(r.sr.shape() == Shape{1, 3, 2 * k.h, 2 * k.w});
    test::require_close(r.sr, whole.sr, 1e-12);
    test::require_close(r.warped_ref, whole.warped_ref, 1e-12);
    if (k.mode == Mode::K4) {
      test::require_close(r.confidence, whole.confidence, 1e-12);
    } else {
      // Rounded up for odd sizes; the whole-image stub floors, so compare its part.
      REQUIRE(r.confidence.size(2) == (k.h + 1) / 2);
      REQUIRE(r.confidence.size(3) == (k.w + 1) / 2);
      std::vector<float> got = r.confidence.to_vector<float>(), want = whole.confidence.to_vector<float>();
      const int64_t wh = k.h / 2, ww = k.w / 2, gw = r.confidence.size(3);
      for (int64_t y = 0; y < wh; ++y)
        for (int64_t x = 0; x < ww; ++x) REQUIRE(got[size_t(y * gw + x)] == want[size_t(y * ww + x)]);
    }
  }
}

TEST_CASE("forward: outputs streamed band by band are the whole result's rows, in order", "[tiling]") {
  // 9x260: below kMinTiledSide (run padded, one band); 250x530 in 8K mode: 2 tile rows, the confidence at 1/2;
  // 61x45 in 8K mode: the confidence's odd size rounded up.
  for (LrCase k : kLocalNetworkCases) {
    const Tensor lr = test::test_image(k.h, k.w, 31), ref = test::test_image(k.h, k.w, 32);
    auto stub = [&](const Tensor& t, const Tensor& w) { return stub_network(t, w, k.mode); };
    TiledOptions whole_opt;
    whole_opt.want_confidence = whole_opt.want_warped_ref = true;
    const TiledResult whole = tiled_inference(lr, ref, k.mode, stub, whole_opt);
    const TileGrid g = make_tile_grid(k.h, k.w, k.mode);
    const int64_t tile_row_bytes = 2 * g.m1 * 2 * k.w * 3 * 4 * 2;  // SR and warped Ref, float32
    // band_bytes: under one tile row (one per band), two tile rows, the whole image.
    for (int64_t band_bytes : {int64_t(1), 2 * tile_row_bytes + 5, int64_t(256) << 20}) {
      INFO("LR " << k.h << "x" << k.w << " " << mode_name(k.mode) << ", band_bytes " << band_bytes);
      TiledOptions opt = whole_opt;
      opt.band_bytes = band_bytes;
      TensorList srs, confidences, warped;
      int64_t next_sr_row = 0, next_confidence_row = 0, tiles_done = 0;
      opt.progress = [&](int64_t done, int64_t) { tiles_done = done; };
      opt.on_band = [&](const TiledBand& band) {
        CHECK(band.sr_row == next_sr_row);
        CHECK(band.confidence_row == next_confidence_row);
        CHECK(band.confidence_height == whole.confidence.size(2));
        REQUIRE(band.warped_ref.shape() == band.sr.shape());
        const int64_t tile_rows_here = k.h < kMinTiledSide ? 1 : band_bytes / tile_row_bytes;
        CHECK(band.sr.size(2) <= 2 * g.m1 * std::max<int64_t>(1, tile_rows_here));
        // Every tile over the band has run when it arrives.
        CHECK(tiles_done >= std::min(g.ny, (band.sr_row + band.sr.size(2) + 2 * g.m1 - 1) / (2 * g.m1)) * g.nx);
        next_sr_row += band.sr.size(2), next_confidence_row += band.confidence.size(2);
        srs.push_back(band.sr), confidences.push_back(band.confidence), warped.push_back(band.warped_ref);
      };
      const TiledResult streamed = tiled_inference(lr, ref, k.mode, stub, opt);
      CHECK_FALSE(streamed.sr.defined());
      CHECK_FALSE(streamed.confidence.defined());
      CHECK_FALSE(streamed.warped_ref.defined());
      CHECK(streamed.window_counts == whole.window_counts);
      CHECK(tiles_done == g.ny * g.nx);
      const int64_t per_band = std::clamp<int64_t>(band_bytes / tile_row_bytes, 1, g.ny);
      CHECK(int64_t(srs.size()) == (k.h < kMinTiledSide ? 1 : (g.ny + per_band - 1) / per_band));
      CHECK(test::count_bit_differences(concat(srs, 2), whole.sr) == 0);
      CHECK(test::count_bit_differences(concat(confidences, 2), whole.confidence) == 0);
      CHECK(test::count_bit_differences(concat(warped, 2), whole.warped_ref) == 0);
    }
  }
}

TEST_CASE("forward: tiles cut from 8-bit images give the bytes of float32 ones", "[tiling]") {
  for (LrCase k : kLocalNetworkCases) {
    INFO("LR " << k.h << "x" << k.w << " " << mode_name(k.mode));
    const ImageU8 lr8 = tensor_to_image(test::test_image(k.h, k.w, 71));
    const ImageU8 ref8 = tensor_to_image(test::test_image(k.h, k.w, 72));
    auto stub = [&](const Tensor& t, const Tensor& w) { return stub_network(t, w, k.mode); };
    TiledOptions opt;
    opt.want_confidence = opt.want_warped_ref = true;
    const TiledResult floats = tiled_inference(image_to_tensor(lr8), image_to_tensor(ref8), k.mode, stub, opt);
    const TiledResult compact = tiled_inference(CompactImage(lr8), CompactImage(ref8), k.mode, stub, opt);
    CHECK(compact.window_counts == floats.window_counts);  // the coarse search saw the same Ref
    CHECK(test::count_bit_differences(compact.sr, floats.sr) == 0);
    CHECK(test::count_bit_differences(compact.confidence, floats.confidence) == 0);
    CHECK(test::count_bit_differences(compact.warped_ref, floats.warped_ref) == 0);
  }
}

TEST_CASE("forward: tiled inference counts the window categories of a whole image", "[tiling]") {
  // 6 x 8 tiles of 126: qy = 1, ey = 4, qx = 2, ex = 6 -> A = 3 * 4.
  Tensor lr = test::test_image(756, 1008, 21), ref = test::test_image(756, 1008, 22);
  auto cheap = [](const Tensor& t, const Tensor&) {
    TileOutput o;
    o.sr = empty({1, 3, 2 * t.size(2), 2 * t.size(3)});  // contents do not matter here
    return o;
  };
  TiledResult r = tiled_inference(lr, ref, Mode::K4, cheap);
  std::array<int64_t, 6> expected = count_kinds(6, 8, 126, 126, 756, 1008);
  CHECK(r.window_counts == expected);
  CHECK(expected[0] == 12);
}

TEST_CASE("errors: tiled inference rejects bad inputs and bad network outputs", "[tiling]") {
  Tensor lr = test::test_image(40, 40, 1);
  auto ok = [](const Tensor& t, const Tensor&) {
    TileOutput o;
    o.sr = zeros({1, 3, 2 * t.size(2), 2 * t.size(3)});
    return o;
  };
  CHECK_THROWS_WITH(tiled_inference(lr.to(kFloat64), lr, Mode::K4, ok), Catch::Contains("LR must be"));
  CHECK_THROWS_WITH(tiled_inference(lr, zeros({1, 1, 40, 40}), Mode::K4, ok), Catch::Contains("Ref must be"));
  auto wrong = [](const Tensor& t, const Tensor&) {
    TileOutput o;
    o.sr = zeros({1, 3, t.size(2), t.size(3)});
    return o;
  };
  CHECK_THROWS_WITH(tiled_inference(lr, lr, Mode::K4, wrong), Catch::Contains("(expected 332x332)"));
  // A batch of tiles (40x300: a 1 x 3 grid) must get one output per tile.
  TiledOptions batched;
  batched.batch_tiles = 3;
  const Tensor wide = test::test_image(40, 300, 2);
  auto first_only = [](const Tensor& t, const Tensor&) {
    TileOutput o;
    o.sr = zeros({1, 3, 2 * t.size(2), 2 * t.size(3)});
    return o;
  };
  CHECK_THROWS_WITH(tiled_inference(wide, wide, Mode::K4, first_only, batched),
                    Catch::Contains("SR (1, 3, 332, 332) for 3 tile(s)"));
  TiledOptions opt;
  opt.want_confidence = true;
  CHECK_THROWS_WITH(tiled_inference(lr, lr, Mode::K4, ok, opt), Catch::Contains("no confidence"));
}

TEST_CASE("forward: tiled DCSR places each tile's network output", "[tiling][model][slow]") {
  // With the real network, tiled and whole-image results differ everywhere,
  // not only near tile borders: the matching extractor's bicubic x2 with
  // align_corners=True (spec §3.1) samples at positions that depend on the
  // input size, and the receptive field (~45 LR px) exceeds the 20 px context.
  // The reference wrapper has the same property. So this checks the stitching
  // with the real forward: the core of tile (0, 1) of a 1 x 2 grid must be
  // exactly the network's output for that tile and its Ref window, as the
  // network computes it for the core alone (network_tile_forward passes
  // sr_margin = kTileDrop), and within float32 rounding its full output's
  // core (tests/test_model.cpp checks the margin itself).
  // (4 forwards of a 166 x 166 tile: a few seconds, hence [slow].)
  ModelConfig config;
  config.n_feats = 4;
  Generator gen(3);
  DcsrNet net(config, gen);
  const int64_t h = kMinTiledSide, w = 140;  // a 1 x 2 grid, no padding
  Tensor lr = test::test_image(h, w, 31), ref = test::test_image(h, w, 32);
  RefWindow seen;
  TiledOptions opt;
  opt.want_confidence = true;
  opt.on_window = [&](int64_t j, int64_t i, const RefWindow& win) {
    if (j == 0 && i == 1) seen = win;
  };
  TiledResult tiled = tiled_inference(lr, ref, Mode::K4, network_tile_forward(net, Mode::K4), opt);
  REQUIRE(tiled.sr.shape() == Shape{1, 3, 2 * h, 2 * w});
  REQUIRE(tiled.confidence.shape() == Shape{1, 1, h, w});
  Tensor tile = extract_tile(lr, -kTileContext, 126 - kTileContext, 166, 166);
  Tensor window = extract_tile(ref, seen.r0, seen.c0, seen.height(), seen.width());
  DcsrNet::Output out, core;
  {
    NoGradGuard no_grad;
    out = net.forward(tile, window, Mode::K4);
    core = net.forward(tile, window, Mode::K4, kTileDrop);
  }
  const int64_t cols = 2 * w - 2 * 126;  // the core is clipped at the image's end
  test::require_close(crop(tiled.sr, {0, 2 * 126, 2 * h, cols}), crop(core.sr, {0, 0, 2 * h, cols}), 1e-12, 0.0,
                      "SR core");
  test::require_close(crop(tiled.sr, {0, 2 * 126, 2 * h, cols}), crop(out.sr, {kTileDrop, kTileDrop, 2 * h, cols}),
                      2e-6, 2e-5, "SR core of the whole tile's output");
  test::require_close(crop(tiled.confidence, {0, 126, h, w - 126}),
                      crop(out.confidence, {kTileContext, kTileContext, h, w - 126}), 1e-12, 0.0, "confidence core");
}

TEST_CASE("forward: tiles batched through the real network give each tile's own result", "[tiling][model][slow]") {
  // TiledOptions::batch_tiles stacks consecutive tiles whose Ref windows have
  // one size into one forward (for GPUs). Every batch must hold one window
  // size and at most batch_tiles tiles, and every output (SR, confidence,
  // warped Ref) must be what the tile gets alone, bit for bit: the network
  // computes each batch element on its own.
  ModelConfig config;
  config.n_feats = 4;
  Generator gen(7);
  DcsrNet net(config, gen);
  const int64_t h = 160, w = 300;  // a 2 x 3 grid of 4K-mode tiles
  const Tensor lr = test::test_image(h, w, 51), ref = test::test_image(h, w, 52);
  const TileForward one = network_tile_forward(net, Mode::K4);
  std::vector<int64_t> batch_sizes;
  const TileForward logged = [&](const Tensor& tiles, const Tensor& windows) {
    REQUIRE(tiles.size(0) == windows.size(0));
    batch_sizes.push_back(tiles.size(0));
    return one(tiles, windows);
  };
  TiledOptions opt;
  opt.want_confidence = opt.want_warped_ref = true;
  const TiledResult alone = tiled_inference(lr, ref, Mode::K4, logged, opt);
  REQUIRE(batch_sizes == std::vector<int64_t>(6, 1));
  batch_sizes.clear();
  std::vector<int64_t> done;
  opt.batch_tiles = 4;
  opt.progress = [&](int64_t d, int64_t total) {
    REQUIRE(total == 6);
    done.push_back(d);
  };
  const TiledResult batched = tiled_inference(lr, ref, Mode::K4, logged, opt);
  CHECK(done == std::vector<int64_t>{1, 2, 3, 4, 5, 6});
  INFO("batches: " << batch_sizes.size());
  CHECK(std::accumulate(batch_sizes.begin(), batch_sizes.end(), int64_t(0)) == 6);
  CHECK(*std::max_element(batch_sizes.begin(), batch_sizes.end()) > 1);  // something was batched
  CHECK(*std::max_element(batch_sizes.begin(), batch_sizes.end()) <= 4);
  CHECK(batched.window_counts == alone.window_counts);
  CHECK(test::count_bit_differences(batched.sr, alone.sr) == 0);
  CHECK(test::count_bit_differences(batched.confidence, alone.confidence) == 0);
  CHECK(test::count_bit_differences(batched.warped_ref, alone.warped_ref) == 0);
}

TEST_CASE("cuda: tiles batched through the network on the GPU", "[tiling][model][cuda]") {
  // The inference ops on CUDA with a batch of tiles (training has batches, but
  // inference takes paths of its own, e.g. max_pool2d without indices): a 1 x 3
  // grid in one call against one tile per call. The GPU may choose another
  // conv kernel for a batch (kernels/conv_forward_plan.h), which sums in
  // another order; a near-tie of the patch matching can then pick another
  // patch, which moves a few values far. So: almost every value within
  // float32 rounding, and no more than 1% beyond it. (CPU-vs-CUDA parity of
  // the network is the float32 model golden's, tests/test_model_golden.cpp.)
  DCSR_SKIP_WITHOUT_GPU();
  ModelConfig config;
  config.n_feats = 4;
  Generator gen(9);
  DcsrNet net(config, gen);
  net.to(kCUDA);
  const Tensor lr = test::test_image(40, 300, 71), ref = test::test_image(40, 300, 72);
  std::vector<int64_t> calls;
  const TileForward one = network_tile_forward(net, Mode::K4);
  const TileForward counted = [&](const Tensor& tiles, const Tensor& windows) {
    calls.push_back(tiles.size(0));
    return one(tiles, windows);
  };
  TiledOptions opt;
  opt.want_confidence = true;
  const TiledResult alone = tiled_inference(lr, ref, Mode::K4, counted, opt);
  opt.batch_tiles = 3;
  const TiledResult three = tiled_inference(lr, ref, Mode::K4, counted, opt);
  CHECK(calls == std::vector<int64_t>{1, 1, 1, 3});
  for (auto [name, a, b] : {std::tuple<const char*, Tensor, Tensor>{"SR", three.sr, alone.sr},
                            {"confidence", three.confidence, alone.confidence}}) {
    INFO(name);
    const std::vector<float> x = a.to_vector<float>(), y = b.to_vector<float>();
    REQUIRE(x.size() == y.size());
    size_t beyond = 0;
    for (size_t k = 0; k < x.size(); ++k) beyond += !(std::abs(x[k] - y[k]) <= 1e-5f + 1e-5f * std::abs(y[k]));
    WARN(name << ": " << beyond << " of " << x.size() << " values beyond float32 rounding, 3 tiles per call vs 1");
    CHECK(double(beyond) <= 0.01 * double(x.size()));
  }
}

TEST_CASE("forward: a batch that runs out of memory is run again in halves", "[tiling]") {
  // A stub network that has memory for at most 2 tiles at once, as the caching
  // allocator reports it; every tile must still be placed, once, with the
  // stub's output, and later batches must not try more than the half that fit.
  const int64_t h = 40, w = 1600;  // a 1 x 13 grid
  const Tensor lr = test::test_image(h, w, 81), ref = test::test_image(h, w, 82);
  std::vector<int64_t> tried;
  auto limited = [&](const Tensor& tiles, const Tensor& windows) {
    tried.push_back(tiles.size(0));
    if (tiles.size(0) > 2) fail("out of memory allocating 123 bytes (456 bytes in use)");
    TensorList srs;
    for (int64_t b = 0; b < tiles.size(0); ++b)
      srs.push_back(stub_network(narrow(tiles, 0, b, 1), narrow(windows, 0, b, 1), Mode::K4).sr);
    TileOutput o;
    o.sr = concat(srs, 0);
    return o;
  };
  TiledOptions opt;
  opt.batch_tiles = 8;
  const TiledResult r = tiled_inference(lr, ref, Mode::K4, limited, opt);
  const TiledResult alone = tiled_inference(lr, ref, Mode::K4, [](const Tensor& t, const Tensor& win) {
    return stub_network(t, win, Mode::K4);
  });
  CHECK(test::count_bit_differences(r.sr, alone.sr) == 0);
  // The grid's Ref windows (40 rows), row-major: two coarse ones (the whole
  // Ref), one of kind E, seven of kind C, three coarse ones. The tiles run
  // grouped by window size: the five coarse ones fail and run as 2 + 3, the
  // 3 failing again and running as 1 + 2; then the E tile, then the seven C
  // tiles one per call (the limit is now 3 / 2 = 1).
  CHECK(tried == std::vector<int64_t>{5, 2, 3, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1});
  // An error other than memory, or one tile out of memory, is the caller's.
  auto broken = [](const Tensor&, const Tensor&) -> TileOutput { fail("the network is broken"); };
  CHECK_THROWS_WITH(tiled_inference(lr, ref, Mode::K4, broken, opt), Catch::Contains("broken"));
  auto no_memory = [](const Tensor&, const Tensor&) -> TileOutput { fail("out of memory allocating 1 bytes"); };
  CHECK_THROWS_WITH(tiled_inference(lr, ref, Mode::K4, no_memory, opt), Catch::Contains("out of memory"));
}

TEST_CASE("forward: batched tiles never mix Ref window sizes", "[tiling]") {
  // The stub network refuses a batch whose windows it cannot stack; the
  // grid's windows come in several sizes (kinds A-E and coarse).
  const int64_t h = 700, w = 900;
  const Tensor lr = test::test_image(h, w, 61), ref = test::test_image(h, w, 62);
  for (int64_t limit : {int64_t(1), int64_t(2), int64_t(5), int64_t(64)}) {
    INFO("batch_tiles " << limit);
    std::vector<std::pair<Shape, int64_t>> batches;  // (window shape, tiles)
    TiledOptions opt;
    opt.batch_tiles = limit;
    int64_t seen = 0;
    opt.on_window = [&](int64_t, int64_t, const RefWindow&) { ++seen; };
    const TiledResult r = tiled_inference(lr, ref, Mode::K4, [&](const Tensor& tiles, const Tensor& windows) {
      batches.push_back({windows.shape(), tiles.size(0)});
      TileOutput o;
      o.sr = zeros({tiles.size(0), 3, 2 * tiles.size(2), 2 * tiles.size(3)});
      return o;
    }, opt);
    int64_t tiles = 0;
    for (const auto& [shape, n] : batches) {
      CHECK(n >= 1);
      CHECK(n <= limit);
      CHECK(shape[0] == n);
      tiles += n;
    }
    CHECK(tiles == seen);
    CHECK(tiles == make_tile_grid(h, w, Mode::K4).ny * make_tile_grid(h, w, Mode::K4).nx);
    // Consecutive batches of one window size are split only at the limit.
    for (size_t k = 1; k < batches.size(); ++k)
      if (batches[k].first[2] == batches[k - 1].first[2] && batches[k].first[3] == batches[k - 1].first[3])
        CHECK(batches[k - 1].second == limit);
    // The tiles run grouped by window size: a size once left never returns,
    // so with room for every tile of a size (48 tiles, limit 64) there is one
    // batch per size.
    std::set<std::pair<int64_t, int64_t>> left;
    for (size_t k = 1; k < batches.size(); ++k) {
      const std::pair<int64_t, int64_t> before{batches[k - 1].first[2], batches[k - 1].first[3]};
      const std::pair<int64_t, int64_t> now{batches[k].first[2], batches[k].first[3]};
      if (now != before) left.insert(before);
      CHECK(left.count(now) == 0);
    }
    left.insert({batches.back().first[2], batches.back().first[3]});
    CHECK(left.size() >= 3);  // kinds A-E and coarse give several sizes here
    if (limit == 1) CHECK(batches.size() == size_t(tiles));
    if (limit == 64) CHECK(batches.size() == left.size());
  }
}

// ---- Any field of view (a registered pair, TiledOptions::view) ----

TEST_CASE("forward: view windows equal §8's for canonical sizes of whole quarter grids", "[tiling]") {
  struct Case {
    int64_t h, w;
    Mode mode;
  };
  // Sides that are multiples of 4 cores: the view's edges fall on tile edges.
  for (Case k : {Case{1008, 2016, Mode::K4}, Case{504, 504, Mode::K4}, Case{3008, 4032, Mode::K8},
                 Case{4032, 3008, Mode::K8}}) {
    INFO(k.w << "x" << k.h << " " << mode_name(k.mode));
    const TileGrid g = make_tile_grid(k.h, k.w, k.mode);
    const FovRect view = canonical_view(k.h, k.w);
    for (int64_t j = 0; j < g.ny; ++j)
      for (int64_t i = 0; i < g.nx; ++i) {
        const RefWindow a = ref_window(j, i, g.ny, g.nx, g.m1, g.m2, k.h, k.w);
        const RefWindow b = ref_window_in_view(j, i, g, view, k.h, k.w);
        INFO("tile " << j << ", " << i);
        CHECK((a.kind == b.kind && a.r0 == b.r0 && a.c0 == b.c0 && a.r1 == b.r1 && a.c1 == b.c1));
      }
  }
}

TEST_CASE("forward: a canonical pair keeps today's windows and bytes when given its view", "[tiling]") {
  // 300 x 270 is not a whole quarter grid: §8's rule (qy = ny / 4) and the
  // view rule differ there, and the canonical view must keep §8's.
  for (auto [h, w] : {std::pair<int64_t, int64_t>{300, 270}, {756, 1008}}) {
    INFO(w << "x" << h);
    Tensor lr = test::test_image(h, w, 41), ref = test::test_image(h, w, 42);
    auto run = [&](bool with_view) {
      std::vector<RefWindow> windows;
      TiledOptions opt;
      opt.want_confidence = true;
      if (with_view) opt.view = canonical_view(h, w);
      opt.on_window = [&](int64_t, int64_t, const RefWindow& win) { windows.push_back(win); };
      // The stub's SR reads the Ref window's mean, so that the bytes depend on the window.
      auto forward = [](const Tensor& t, const Tensor& win) {
        TileOutput o = stub_network(t, win, Mode::K4);
        double mean = 0.0;
        for (float v : win.to_vector<float>()) mean += v;
        mean /= double(win.numel());
        float* s = o.sr.data<float>();
        for (int64_t n = 0; n < o.sr.numel(); ++n) s[n] += float(mean);
        return o;
      };
      TiledResult r = tiled_inference(lr, ref, Mode::K4, forward, opt);
      return std::make_pair(r, windows);
    };
    auto [plain, plain_windows] = run(false);
    auto [viewed, viewed_windows] = run(true);
    REQUIRE(plain_windows.size() == viewed_windows.size());
    for (size_t n = 0; n < plain_windows.size(); ++n) {
      const RefWindow &a = plain_windows[n], &b = viewed_windows[n];
      CHECK((a.kind == b.kind && a.r0 == b.r0 && a.c0 == b.c0 && a.r1 == b.r1 && a.c1 == b.c1));
    }
    CHECK(plain.window_counts == viewed.window_counts);
    CHECK(std::memcmp(plain.sr.raw_data(), viewed.sr.raw_data(), size_t(plain.sr.nbytes())) == 0);
    CHECK(std::memcmp(plain.confidence.raw_data(), viewed.confidence.raw_data(), size_t(plain.confidence.nbytes())) ==
          0);
  }
}

TEST_CASE("forward: windows of an off-centre view follow the geometry", "[tiling]") {
  // A 3x telephoto's view, off the centre: LR rows [150, 430), cols [300, 650)
  // of a 756 x 1008 LR (6 x 8 tiles of 126); Ref 560 x 700.
  const TileGrid g = make_tile_grid(756, 1008, Mode::K4);
  const FovRect view{150, 300, 280, 350};
  const int64_t rh = 560, rw = 700;
  // Cores inside the view: rows ceil(150/126) = 2 .. floor(430/126) = 3 (exclusive),
  // cols ceil(300/126) = 3 .. floor(650/126) = 5 (exclusive).
  std::array<int64_t, 6> counts{};
  for (int64_t j = 0; j < g.ny; ++j)
    for (int64_t i = 0; i < g.nx; ++i) {
      const RefWindow w = ref_window_in_view(j, i, g, view, rh, rw);
      ++counts[size_t(w.kind)];
      CHECK((w.r0 >= 0 && w.c0 >= 0 && w.r1 <= rh && w.c1 <= rw));
      if (w.kind == WindowKind::A) {
        // The core's Ref rows [2 (j m1 - y0), + 2 m1) with 20 before and 80 after.
        CHECK((j == 2 && (i == 3 || i == 4)));
        const int64_t ry = 2 * (j * 126 - 150), rx = 2 * (i * 126 - 300);
        CHECK(w.r0 == std::max<int64_t>(ry - 20, 0));
        CHECK(w.c0 == std::max<int64_t>(rx - 20, 0));
        CHECK(w.r1 == std::min<int64_t>(ry + 252 + 80, rh));
        CHECK(w.c1 == std::min<int64_t>(rx + 252 + 80, rw));
      }
    }
  // A: 1 x 2; B: the row above (j = 1, i = 2..4) and the column left (i = 2, j = 2): 4;
  // C: the column right (i = 5, j = 2..3) and the row below (j = 3, i = 3..5): 4;
  // D (1, 5), E (3, 2); the rest coarse.
  CHECK(counts == std::array<int64_t, 6>{2, 4, 4, 1, 1, 48 - 12});
  // The whole pipeline with this view (the stub is local: equal to the whole image).
  Tensor lr = test::test_image(756, 1008, 51), ref = test::test_image(rh, rw, 52);
  TiledOptions opt;
  opt.view = view;
  TiledResult r = tiled_inference(
      lr, ref, Mode::K4, [](const Tensor& t, const Tensor& w) { return stub_network(t, w, Mode::K4); }, opt);
  CHECK(r.window_counts == counts);
  test::require_close(r.sr, stub_network(lr, ref, Mode::K4).sr, 1e-12);
  // A Ref that is not twice the view is refused.
  opt.view = FovRect{150, 300, 281, 350};
  CHECK_THROWS_WITH(tiled_inference(lr, ref, Mode::K4,
                                    [](const Tensor& t, const Tensor& w) { return stub_network(t, w, Mode::K4); }, opt),
                    Catch::Contains("needs twice its size"));
}

TEST_CASE("forward: a Ref that reaches beyond the view keeps the view's kinds", "[tiling]") {
  // The view of the test above, with the Ref over a larger rectangle (as
  // normalise_reference makes for a rotated view): LR rows [141, 437), cols
  // [293, 661). The kinds are the view's; the windows start at the tile's own
  // Ref rows 2 (j m1 - 141), and reach into the extra rows and columns.
  const TileGrid g = make_tile_grid(756, 1008, Mode::K4);
  const FovRect view{150, 300, 280, 350}, ref_rect{141, 293, 296, 368};
  const int64_t rh = 2 * ref_rect.height, rw = 2 * ref_rect.width;
  std::array<int64_t, 6> counts{};
  for (int64_t j = 0; j < g.ny; ++j)
    for (int64_t i = 0; i < g.nx; ++i) {
      const RefWindow w = ref_window_in_view(j, i, g, view, ref_rect, rh, rw);
      CHECK(w.kind == ref_window_in_view(j, i, g, view, 560, 700).kind);
      ++counts[size_t(w.kind)];
      CHECK((w.r0 >= 0 && w.c0 >= 0 && w.r1 <= rh && w.c1 <= rw));
      if (w.kind == WindowKind::A) {
        const int64_t ry = 2 * (j * 126 - 141), rx = 2 * (i * 126 - 293);
        CHECK(w.r0 == ry - 20);
        CHECK(w.c0 == rx - 20);
        CHECK(w.r1 == std::min<int64_t>(ry + 252 + 80, rh));
        CHECK(w.c1 == std::min<int64_t>(rx + 252 + 80, rw));
      }
    }
  CHECK(counts == std::array<int64_t, 6>{2, 4, 4, 1, 1, 48 - 12});
  Tensor lr = test::test_image(756, 1008, 53), ref = test::test_image(rh, rw, 54);
  TiledOptions opt;
  opt.view = view;
  opt.ref_rect = ref_rect;
  const auto stub = [](const Tensor& t, const Tensor& w) { return stub_network(t, w, Mode::K4); };
  TiledResult r = tiled_inference(lr, ref, Mode::K4, stub, opt);
  CHECK(r.window_counts == counts);
  // Refused: a Ref rectangle that does not hold the view, and a Ref of the wrong size.
  opt.ref_rect = FovRect{151, 293, 295, 368};
  CHECK_THROWS_WITH(tiled_inference(lr, test::test_image(590, 736, 55), Mode::K4, stub, opt),
                    Catch::Contains("does not hold the view"));
  opt.ref_rect = ref_rect;
  CHECK_THROWS_WITH(tiled_inference(lr, test::test_image(560, 700, 55), Mode::K4, stub, opt),
                    Catch::Contains("needs twice its size"));
}

// The docs promise any size: images below kMinTiledSide (down to 1x1) run
// padded with zeros and come back at exactly twice their size, every value
// finite, in both modes.
TEST_CASE("forward: tiny images through the real network in both modes", "[tiling][model]") {
  ModelConfig config;
  config.n_feats = 4;
  Generator gen(5);
  DcsrNet net(config, gen);
  for (Mode mode : {Mode::K4, Mode::K8})
    for (auto [h, w] : {std::pair<int64_t, int64_t>{1, 1}, {3, 5}, {7, 9}}) {
      INFO(h << "x" << w << " " << mode_name(mode));
      const Tensor lr = test::test_image(h, w, 41), ref = test::test_image(h, w, 42);
      TiledOptions opt;
      opt.want_confidence = true;
      const TiledResult r = tiled_inference(lr, ref, mode, network_tile_forward(net, mode), opt);
      REQUIRE(r.sr.shape() == Shape{1, 3, 2 * h, 2 * w});
      const int64_t f = mode == Mode::K8 ? 2 : 1;  // the confidence's scale: 1/f of the LR, rounded up
      REQUIRE(r.confidence.shape() == Shape{1, 1, (h + f - 1) / f, (w + f - 1) / f});
      for (float v : r.sr.to_vector<float>()) REQUIRE(std::isfinite(v));
    }
}

namespace {

// A 40x60 pair through a small random network in `mode` on `device`: its SR
// bytes, after a warm-up run when asked (warm_up_network).
std::vector<float> sr_after_warm_up(Device device, Mode mode, bool warm_up) {
  ModelConfig config;
  config.n_feats = 4;
  Generator gen(6);
  DcsrNet net(config, gen);
  if (device != kCPU) net.to(device);
  if (warm_up) warm_up_network(net, mode);
  const Tensor lr = test::test_image(40, 60, 43), ref = test::test_image(40, 60, 44);
  return tiled_inference(lr, ref, mode, network_tile_forward(net, mode), TiledOptions{}).sr.to_vector<float>();
}

}  // namespace

TEST_CASE("forward: a warm-up run leaves the network's results the same bytes", "[tiling][model]") {
  // dcsr sr warms a CUDA network up while the photos are read; the function is device-independent.
  for (Mode mode : {Mode::K4, Mode::K8}) {
    INFO(mode_name(mode));
    const std::vector<float> cold = sr_after_warm_up(kCPU, mode, false), warm = sr_after_warm_up(kCPU, mode, true);
    REQUIRE(cold.size() == warm.size());
    CHECK(std::memcmp(cold.data(), warm.data(), cold.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("cuda: a warm-up run leaves the network's results the same bytes", "[tiling][model][cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  const std::vector<float> cold = sr_after_warm_up(kCUDA, Mode::K4, false);
  const std::vector<float> warm = sr_after_warm_up(kCUDA, Mode::K4, true);
  REQUIRE(cold.size() == warm.size());
  CHECK(std::memcmp(cold.data(), warm.data(), cold.size() * sizeof(float)) == 0);
}
