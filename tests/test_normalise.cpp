// The telephoto brought into DCSR's geometry (dcsr/registration/normalise.h):
// the field-of-view rectangle, exact geometry on synthetic pairs with a known
// transform, the canonical pair given back unchanged, and the errors.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "dcsr/registration/normalise.h"
#include "dcsr/registration/plane.h"
#include "dcsr/registration/register.h"
#include "dcsr/registration/resample.h"
#include "registration_fixtures.h"
#include "test_files.h"
#include "test_util.h"

using namespace dcsr;

namespace {

using test::registration_of;
using test::Scene;
using test::tele_of;

constexpr double kPi = 3.14159265358979323846;

// Whether wide point (x, y) lies in the telephoto's frame (within slack px of telephoto pixels).
bool in_view(const Similarity& t, int64_t th, int64_t tw, double x, double y, double slack = 1e-6) {
  const auto p = t.to_tele(x, y);
  return p[0] >= -slack && p[1] >= -slack && p[0] <= double(tw) + slack && p[1] <= double(th) + slack;
}

bool rect_in_view(const FovRect& f, const Similarity& t, int64_t th, int64_t tw, int64_t lr_h, int64_t lr_w) {
  if (f.y0 < 0 || f.x0 < 0 || f.y0 + f.height > lr_h || f.x0 + f.width > lr_w) return false;
  const double x0 = double(f.x0), y0 = double(f.y0), x1 = double(f.x0 + f.width), y1 = double(f.y0 + f.height);
  return in_view(t, th, tw, x0, y0) && in_view(t, th, tw, x1, y0) && in_view(t, th, tw, x1, y1) &&
         in_view(t, th, tw, x0, y1);
}

struct Case {
  double scale, angle_deg, tx, ty;
  int64_t th, tw;  // telephoto size
};

// Small wide image (LR) of the synthetic pairs.
constexpr int64_t kLrH = 60, kLrW = 80;

const Case kCases[] = {
    {1.5, 0.0, 20.0, 12.0, 48, 64},   // enlarged telephoto (k = 1: plain bicubic)
    {3.0, 2.5, 25.0, 14.0, 90, 120},  // 3x, rotated
    {5.0, -3.0, 9.0, 21.0, 150, 200}, // 5x, rotated the other way, off-centre
    {2.5, 1.0, 47.0, -6.0, 100, 90},  // partly outside the LR: clipped
};

Similarity similarity_of(const Case& k) { return {k.scale, k.angle_deg * kPi / 180.0, k.tx, k.ty}; }

}  // namespace

TEST_CASE("normalise: the canonical pair's view is the central half", "[normalise]") {
  for (auto [h, w] : {std::pair<int64_t, int64_t>{64, 96}, {1512, 2016}, {28, 44}}) {
    INFO(w << "x" << h);
    Similarity canonical{2.0, 0.0, double(w) / 4.0, double(h) / 4.0};
    FovRect f = fov_rect(canonical, h, w, h, w);
    CHECK(f.y0 == h / 4);
    CHECK(f.x0 == w / 4);
    CHECK(f.height == h / 2);
    CHECK(f.width == w / 2);
  }
  // Sides that are not multiples of 4: the view [7.5, 22.5] x [10.5, 31.5]
  // holds whole pixels [8, 22) x [11, 31) only.
  FovRect odd = fov_rect(Similarity{2.0, 0.0, 10.5, 7.5}, 30, 42, 30, 42);
  CHECK((odd.y0 == 8 && odd.x0 == 11 && odd.height == 14 && odd.width == 20));
}

TEST_CASE("normalise: the view rectangle is inside the view and cannot grow", "[normalise]") {
  for (const Case& k : kCases) {
    INFO("scale " << k.scale << " angle " << k.angle_deg);
    const Similarity t = similarity_of(k);
    FovRect f = fov_rect(t, k.th, k.tw, kLrH, kLrW);
    REQUIRE(f.height > 0);
    REQUIRE(f.width > 0);
    CHECK(rect_in_view(f, t, k.th, k.tw, kLrH, kLrW));
    // Maximal: no side moves out by one pixel and stays inside.
    for (FovRect g : {FovRect{f.y0 - 1, f.x0, f.height + 1, f.width}, FovRect{f.y0, f.x0 - 1, f.height, f.width + 1},
                      FovRect{f.y0, f.x0, f.height + 1, f.width}, FovRect{f.y0, f.x0, f.height, f.width + 1}})
      CHECK_FALSE(rect_in_view(g, t, k.th, k.tw, kLrH, kLrW));
    // No other rectangle of whole pixels inside is larger (brute force).
    int64_t best = 0;
    for (int64_t y0 = 0; y0 < kLrH; ++y0)
      for (int64_t y1 = y0 + 1; y1 <= kLrH; ++y1)
        for (int64_t x0 = 0; x0 < kLrW; ++x0) {
          int64_t x1 = x0;  // grow to the right while it fits (the fitting x1 form an interval)
          while (x1 < kLrW && rect_in_view({y0, x0, y1 - y0, x1 + 1 - x0}, t, k.th, k.tw, kLrH, kLrW)) ++x1;
          best = std::max(best, (y1 - y0) * (x1 - x0));
        }
    CHECK(f.height * f.width == best);
  }
}

TEST_CASE("normalise: a canonical pair gives back the telephoto's pixels", "[normalise]") {
  const int64_t h = 40, w = 56;
  Tensor tele = test::test_image(h, w, 5);
  Similarity canonical{2.0, 0.0, double(w) / 4.0, double(h) / 4.0};
  NormalisedReference n = normalise_reference(tele, registration_of(canonical, h, w), h, w);
  CHECK((n.fov.y0 == h / 4 && n.fov.x0 == w / 4 && n.fov.height == h / 2 && n.fov.width == w / 2));
  CHECK((n.ref_rect.y0 == n.fov.y0 && n.ref_rect.x0 == n.fov.x0 && n.ref_rect.height == n.fov.height &&
         n.ref_rect.width == n.fov.width));
  REQUIRE(n.ref.shape() == tele.shape());
  CHECK(std::memcmp(n.ref.data<float>(), tele.data<float>(), size_t(tele.nbytes())) == 0);
}

TEST_CASE("normalise: the Ref's rectangle is the smallest that holds the view", "[normalise]") {
  for (const Case& k : kCases) {
    INFO("scale " << k.scale << " angle " << k.angle_deg);
    const Similarity t = similarity_of(k);
    const FovRect b = view_bounds(t, k.th, k.tw, kLrH, kLrW), f = fov_rect(t, k.th, k.tw, kLrH, kLrW);
    // Inside the LR image, and holding the rectangle inside the view.
    CHECK((b.y0 >= 0 && b.x0 >= 0 && b.y0 + b.height <= kLrH && b.x0 + b.width <= kLrW));
    CHECK((b.y0 <= f.y0 && b.x0 <= f.x0 && f.y0 + f.height <= b.y0 + b.height && f.x0 + f.width <= b.x0 + b.width));
    // Every corner of the view is inside, or outside the LR image on that side;
    // and each side touches a corner (within a pixel) unless the LR clips it.
    const auto quad = fov_quad(t, k.th, k.tw);
    double x0 = 1e9, y0 = 1e9, x1 = -1e9, y1 = -1e9;
    for (const auto& p : quad)
      x0 = std::min(x0, p[0]), y0 = std::min(y0, p[1]), x1 = std::max(x1, p[0]), y1 = std::max(y1, p[1]);
    CHECK(double(b.x0) == (x0 <= 0 ? 0.0 : std::floor(x0)));
    CHECK(double(b.y0) == (y0 <= 0 ? 0.0 : std::floor(y0)));
    CHECK(double(b.x0 + b.width) == (x1 >= kLrW ? double(kLrW) : std::ceil(x1)));
    CHECK(double(b.y0 + b.height) == (y1 >= kLrH ? double(kLrH) : std::ceil(y1)));
    // The rotated views reach beyond the rectangle inside them.
    if (k.angle_deg != 0.0) CHECK(b.height * b.width > f.height * f.width);
    // fov_part() is the Ref's crop over fov.
    Tensor tele = test::test_image(k.th, k.tw, 9);
    NormalisedReference n = normalise_reference(tele, registration_of(t, k.th, k.tw), kLrH, kLrW);
    CHECK((n.ref_rect.y0 == b.y0 && n.ref_rect.x0 == b.x0 && n.ref_rect.height == b.height &&
           n.ref_rect.width == b.width));
    const Tensor part = n.fov_part();
    REQUIRE(part.shape() == Shape{1, 3, 2 * f.height, 2 * f.width});
    const int64_t rh = 2 * b.height, rw = 2 * b.width, dy = 2 * (f.y0 - b.y0), dx = 2 * (f.x0 - b.x0);
    bool same = true;
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t r = 0; r < 2 * f.height; ++r)
        for (int64_t q = 0; q < 2 * f.width; ++q)
          same = same && part.data<float>()[(c * 2 * f.height + r) * 2 * f.width + q] ==
                             n.ref.data<float>()[(c * rh + r + dy) * rw + q + dx];
    CHECK(same);
  }
  // A canonical view on whole pixels: both rectangles are the central half.
  const FovRect c = view_bounds(Similarity{2.0, 0.0, 14.0, 10.0}, 40, 56, 40, 56);
  CHECK((c.y0 == 10 && c.x0 == 14 && c.height == 20 && c.width == 28));
}

TEST_CASE("normalise: Ref pixel (r, c) shows LR position (y0 + r/2, x0 + c/2)", "[normalise]") {
  // Ramps in wide coordinates: the cubic kernel and the normalised stretched
  // kernel reproduce linear functions exactly, so away from the telephoto's
  // border (clamped reads) the Ref must show its pixel centre's LR position.
  const double s = 128.0;
  Scene ramps = [&](double x, double y, int64_t c) { return c == 0 ? x / s : c == 1 ? y / s : (x + y) / (2 * s); };
  for (const Case& k : kCases) {
    INFO("scale " << k.scale << " angle " << k.angle_deg);
    const Similarity t = similarity_of(k);
    Tensor tele = tele_of(ramps, t, k.th, k.tw);
    NormalisedReference n = normalise_reference(tele, registration_of(t, k.th, k.tw), kLrH, kLrW);
    const FovRect& f = n.ref_rect;  // where the Ref lies
    REQUIRE(n.ref.shape() == Shape{1, 3, 2 * f.height, 2 * f.width});
    const float* d = n.ref.data<float>();
    const int64_t rh = 2 * f.height, rw = 2 * f.width;
    // Kernel reach in telephoto pixels: 2 max(1, scale/2), plus one for safety.
    const double reach = 2.0 * std::max(1.0, k.scale / 2.0) + 1.0;
    int64_t checked = 0;
    double worst = 0.0;
    for (int64_t r = 0; r < rh; ++r)
      for (int64_t c = 0; c < rw; ++c) {
        const double x = double(f.x0) + (double(c) + 0.5) / 2.0, y = double(f.y0) + (double(r) + 0.5) / 2.0;
        const auto p = t.to_tele(x, y);
        if (p[0] < reach || p[1] < reach || p[0] > double(k.tw) - reach || p[1] > double(k.th) - reach) continue;
        worst = std::max(worst, std::abs(double(d[(0 * rh + r) * rw + c]) * s - x));
        worst = std::max(worst, std::abs(double(d[(1 * rh + r) * rw + c]) * s - y));
        ++checked;
      }
    CHECK(checked > rh * rw / 3);
    CHECK(worst < 2e-4);  // LR pixels (float32 values of ~0.5 carry ~1e-5 px)
  }
}

TEST_CASE("normalise: a synthetic pair gives the ground-truth 2x crop", "[normalise]") {
  // A smooth scene (periods of 5 to 12 LR px, well below the 2x grid's
  // Nyquist limit of 1 LR px): the normalised Ref must equal the scene sampled
  // at the Ref pixel centres up to interpolation error, and a Ref misplaced by
  // a quarter LR pixel must be clearly worse (the check sees geometry).
  Scene scene = [](double x, double y, int64_t c) {
    return 0.5 + 0.2 * std::sin(0.55 * x + 0.3 * y + double(c)) + 0.15 * std::cos(0.2 * x - 0.75 * y + 2.0 * double(c));
  };
  for (const Case& k : kCases) {
    INFO("scale " << k.scale << " angle " << k.angle_deg);
    const Similarity t = similarity_of(k);
    Tensor tele = tele_of(scene, t, k.th, k.tw);
    NormalisedReference n = normalise_reference(tele, registration_of(t, k.th, k.tw), kLrH, kLrW);
    const FovRect& f = n.ref_rect;  // where the Ref lies
    const int64_t rh = 2 * f.height, rw = 2 * f.width;
    const float* d = n.ref.data<float>();
    const double reach = 2.0 * std::max(1.0, k.scale / 2.0) + 1.0;
    double err = 0.0, err_shifted = 0.0, worst = 0.0;
    int64_t count = 0;
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t r = 0; r < rh; ++r)
        for (int64_t q = 0; q < rw; ++q) {
          const double x = double(f.x0) + (double(q) + 0.5) / 2.0, y = double(f.y0) + (double(r) + 0.5) / 2.0;
          const auto p = t.to_tele(x, y);
          if (p[0] < reach || p[1] < reach || p[0] > double(k.tw) - reach || p[1] > double(k.th) - reach) continue;
          const double got = d[(c * rh + r) * rw + q];
          const double e = std::abs(got - scene(x, y, c));
          err += e * e, worst = std::max(worst, e);
          const double es = got - scene(x + 0.25, y, c);
          err_shifted += es * es;
          ++count;
        }
    REQUIRE(count > 0);
    const double rms = std::sqrt(err / double(count)), rms_shifted = std::sqrt(err_shifted / double(count));
    INFO("rms " << rms << " max " << worst << " rms a quarter pixel off " << rms_shifted);
    CHECK(rms < 0.01);
    CHECK(worst < 0.03);
    CHECK(rms_shifted > 5 * rms);
  }
}

TEST_CASE("errors: normalise_reference names a mismatched or empty view", "[normalise]") {
  Tensor tele = test::test_image(30, 40, 3);
  const Similarity t{2.0, 0.0, 10.0, 7.0};
  Registration other_size = registration_of(t, 30, 44);
  CHECK_THROWS_WITH(normalise_reference(tele, other_size, 30, 40), Catch::Contains("another size"));
  // A view outside the wide image, or mostly (a registration saved for another wide image).
  const Similarity away{2.0, 0.0, 500.0, 7.0};
  CHECK_THROWS_WITH(normalise_reference(tele, registration_of(away, 30, 40), 30, 40),
                    Catch::Contains("0% of the telephoto's view inside the 40x30 wide image"));
  const Similarity mostly_out{2.0, 0.0, 32.0, 7.0};  // 20 px wide, 12 of them past the right edge
  CHECK_THROWS_WITH(normalise_reference(tele, registration_of(mostly_out, 30, 40), 30, 40),
                    Catch::Contains("41% of the telephoto's view"));  // 26 of 64 sample columns
  const Similarity half_in{2.0, 0.0, 30.0, 7.0};  // 10 of its 20 px inside
  CHECK_NOTHROW(normalise_reference(tele, registration_of(half_in, 30, 40), 30, 40));
  const Similarity tiny{64.0, 0.0, 10.0, 7.0};  // 0.6 x 0.5 wide pixels
  CHECK_THROWS_WITH(normalise_reference(tele, registration_of(tiny, 30, 40), 30, 40),
                    Catch::Contains("does not cover a whole pixel"));
  CHECK_THROWS_WITH(normalise_reference(tele.to(kFloat64), registration_of(t, 30, 40), 30, 40),
                    Catch::Contains("float32"));
}

TEST_CASE("normalise: the 8-bit images as read give the float32 path's registration and Ref bit for bit",
          "[normalise][registration]") {
  // dcsr sr registers and resamples the telephoto from its 8-bit samples
  // (a 48 MP telephoto is never float32 whole); the results must be those of
  // the float32 images read_image() gives.
  auto eight_bit = [](int64_t h, int64_t w, double period, double phase) {
    ImageU8 image;
    image.height = h, image.width = w;
    image.data.resize(size_t(3 * h * w));
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x) {
          const double v = 0.5 + 0.2 * std::sin(double(x) / period + phase * double(c + 1)) +
                           0.2 * std::cos(double(y) / (0.7 * period) - double(x * y % 7) * 0.05);
          image.data[size_t((c * h + y) * w + x)] = uint8_t(std::clamp(std::lround(255.0 * v), 0L, 255L));
        }
    return CompactImage(std::move(image));
  };
  const CompactImage wide = eight_bit(96, 128, 3.0, 0.4);
  const Similarity truth{2.5, 0.02, 30.0, 20.0};
  // The telephoto: the wide image's texture seen through `truth`, point-sampled, 8-bit.
  ImageU8 tele_samples;
  tele_samples.height = 120, tele_samples.width = 160;
  tele_samples.data.resize(size_t(3 * 120 * 160));
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t v = 0; v < 120; ++v)
      for (int64_t u = 0; u < 160; ++u) {
        const auto p = truth.to_wide(double(u) + 0.5, double(v) + 0.5);
        const int64_t x = std::clamp<int64_t>(int64_t(p[0]), 0, 127), y = std::clamp<int64_t>(int64_t(p[1]), 0, 95);
        tele_samples.data[size_t((c * 120 + v) * 160 + u)] = wide.u8.data[size_t((c * 96 + y) * 128 + x)];
      }
  const CompactImage tele(std::move(tele_samples));
  REQUIRE(wide.is_u8());
  // Luminance.
  const registration::Plane from_u8 = registration::luminance(wide);
  const registration::Plane from_f32 = registration::luminance(wide.to_tensor());
  REQUIRE(from_u8.data.size() == from_f32.data.size());
  CHECK(std::memcmp(from_u8.data.data(), from_f32.data.data(), from_u8.data.size() * sizeof(float)) == 0);
  // Registration.
  const Registration a = register_pair(wide, tele), b = register_pair(wide.to_tensor(), tele.to_tensor());
  CHECK(a.tele_to_wide.scale == b.tele_to_wide.scale);
  CHECK(a.tele_to_wide.angle == b.tele_to_wide.angle);
  CHECK(a.tele_to_wide.tx == b.tele_to_wide.tx);
  CHECK(a.tele_to_wide.ty == b.tele_to_wide.ty);
  CHECK(a.confidence == b.confidence);
  CHECK(a.tele_to_wide.scale == Approx(2.5).epsilon(0.01));
  // The Ref.
  const NormalisedReference n8 = normalise_reference(tele, a, 96, 128), n32 = normalise_reference(tele.to_tensor(), a, 96, 128);
  CHECK(n8.ref_rect.x0 == n32.ref_rect.x0);
  CHECK(n8.ref_rect.width == n32.ref_rect.width);
  CHECK(n8.fov.height == n32.fov.height);
  REQUIRE(n8.ref.numel() == n32.ref.numel());
  CHECK(std::memcmp(n8.ref.data<float>(), n32.ref.data<float>(), size_t(n8.ref.numel()) * sizeof(float)) == 0);
}

TEST_CASE("normalise: sample_taps_channels is sample_taps bit for bit, and the Ref is made of it",
          "[normalise]") {
  // normalise's Ref runs the channels and two rows of taps side by side
  // (resample.h's sample_taps_channels); each value must still be the plain
  // sum of sample_taps, compared here as doubles (a float hides the order of
  // additions almost always). Cases: plain bicubic (stretch 1) and stretched
  // kernels (odd and even tap counts), rotated, views reaching past the
  // telephoto (clamped taps), 1, 3 and 4 channels; float32 and 8-bit samples.
  const struct {
    Similarity t;
    int64_t channels;
  } cases[] = {
      {{1.9852, -0.0087, 4.98, 3.78}, 3},  // a 2x telephoto, turned half a degree (stretch 1)
      {{3.0, 0.04, 12.0, 9.0}, 3},         // stretch 1.5: 6 or 7 taps
      {{5.0, -0.05, 25.0, 14.0}, 4},       // stretch 2.5, four channels (a group of 3 and 1)
      {{2.5, 0.3, -8.0, -5.0}, 1},         // off the top-left corner: the taps clamp
  };
  const int64_t th = 70, tw = 90;
  for (const auto& k : cases) {
    CAPTURE(k.t.scale, k.t.angle, k.channels);
    Tensor tele32 = empty({1, k.channels, th, tw});
    std::vector<uint8_t> tele8(size_t(k.channels * th * tw));
    for (int64_t i = 0; i < k.channels * th * tw; ++i) {
      tele32.data<float>()[i] = float(std::sin(0.37 * double(i)) * 0.5 + 0.5 + 1e-3 * double(i % 11));
      tele8[size_t(i)] = uint8_t((i * 37 + i / 91) % 256);
    }
    auto u8 = [](uint8_t v) { return u8_value(v); };
    const FovRect fov = view_bounds(k.t, th, tw, 40, 50);
    const double stretch = std::max(1.0, k.t.scale / 2.0);
    const int64_t out_h = 2 * fov.height, out_w = 2 * fov.width;
    const Tensor ref = resample_reference(tele32, k.t, fov);
    REQUIRE(ref.size(1) == k.channels);
    REQUIRE(ref.size(2) == out_h);
    REQUIRE(ref.size(3) == out_w);
    int64_t differing = 0, ref_differing = 0, samples = 0;
    registration::Taps tx, ty;
    std::vector<int64_t> columns;
    std::vector<double> got32(size_t(k.channels)), got8(size_t(k.channels));
    for (int64_t r = 0; r < out_h; ++r)
      for (int64_t c = 0; c < out_w; ++c) {
        const auto p = k.t.to_tele(double(fov.x0) + (double(c) + 0.5) / 2.0, double(fov.y0) + (double(r) + 0.5) / 2.0);
        registration::make_taps(p[0], stretch, tx);
        registration::make_taps(p[1], stretch, ty);
        registration::sample_taps_channels(tele32.data<float>(), k.channels, th, tw, tx, ty,
                                           [](float v) { return v; }, columns, got32.data());
        registration::sample_taps_channels(tele8.data(), k.channels, th, tw, tx, ty, u8, columns, got8.data());
        for (int64_t ch = 0; ch < k.channels; ++ch) {
          const double want32 = registration::sample_taps(tele32.data<float>() + ch * th * tw, th, tw, tx, ty);
          const double want8 = registration::sample_taps(tele8.data() + ch * th * tw, th, tw, tx, ty, u8);
          differing += std::memcmp(&want32, &got32[size_t(ch)], sizeof(double)) != 0;
          differing += std::memcmp(&want8, &got8[size_t(ch)], sizeof(double)) != 0;
          const float want_ref = float(want32), got_ref = ref.data<float>()[(ch * out_h + r) * out_w + c];
          ref_differing += std::memcmp(&want_ref, &got_ref, sizeof(float)) != 0;
          samples += 2;
        }
      }
    CHECK(samples > 2000);
    CHECK(differing == 0);
    CHECK(ref_differing == 0);
  }
}
