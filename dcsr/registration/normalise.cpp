#include "dcsr/registration/normalise.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/ops/shape.h"
#include "dcsr/registration/resample.h"
#include "runtime/threads.h"
#include "tensor/error.h"

namespace dcsr {

namespace {

// Slack for rounding in the transform: a rectangle edge within this distance
// of the view's edge counts as inside.
constexpr double kEdgeSlack = 1e-6;

// The telephoto frame's corners in wide pixels: top-left, top-right,
// bottom-right, bottom-left (registration.h's fov_quad order).
std::array<std::array<double, 2>, 4> frame_corners(const Similarity& t, int64_t tele_h, int64_t tele_w) {
  return {t.to_wide(0, 0), t.to_wide(double(tele_w), 0), t.to_wide(double(tele_w), double(tele_h)),
          t.to_wide(0, double(tele_h))};
}

// The x-extent [left, right] of the convex quadrilateral on the line at height
// y; false when the line misses it.
bool extent_at(const std::array<std::array<double, 2>, 4>& quad, double y, double& left, double& right) {
  left = INFINITY, right = -INFINITY;
  for (size_t k = 0; k < 4; ++k) {
    const auto& p = quad[k];
    const auto& q = quad[(k + 1) % 4];
    const double lo = std::min(p[1], q[1]), hi = std::max(p[1], q[1]);
    if (y < lo - kEdgeSlack || y > hi + kEdgeSlack) continue;
    if (hi - lo < 1e-12) {  // a horizontal edge on the line: both ends
      left = std::min({left, p[0], q[0]}), right = std::max({right, p[0], q[0]});
      continue;
    }
    const double t = std::clamp((y - p[1]) / (q[1] - p[1]), 0.0, 1.0);
    const double x = p[0] + t * (q[0] - p[0]);
    left = std::min(left, x), right = std::max(right, x);
  }
  return left <= right;
}

}  // namespace

FovRect fov_rect(const Similarity& tele_to_wide, int64_t tele_h, int64_t tele_w, int64_t lr_h, int64_t lr_w) {
  DCSR_CHECK(tele_h > 0 && tele_w > 0 && lr_h > 0 && lr_w > 0, "fov_rect: empty image (telephoto ", tele_w, "x",
             tele_h, ", wide ", lr_w, "x", lr_h, ")");
  const auto quad = frame_corners(tele_to_wide, tele_h, tele_w);
  // x-extent of view and LR together on every whole-pixel row line y = 0..lr_h.
  std::vector<double> left(size_t(lr_h + 1)), right(size_t(lr_h + 1));
  std::vector<char> hit(size_t(lr_h + 1));
  for (int64_t y = 0; y <= lr_h; ++y) {
    double l, r;
    hit[size_t(y)] = extent_at(quad, double(y), l, r);
    left[size_t(y)] = std::max(l, 0.0), right[size_t(y)] = std::min(r, double(lr_w));
  }
  // The view is convex, so a rectangle spanning rows [a, b] fits iff it fits
  // on both lines a and b: its columns are the overlap of their extents.
  FovRect best;
  int64_t best_area = 0;
  for (int64_t a = 0; a < lr_h; ++a) {
    if (!hit[size_t(a)]) continue;
    for (int64_t b = a + 1; b <= lr_h; ++b) {
      if (!hit[size_t(b)]) continue;
      const int64_t x0 = int64_t(std::ceil(std::max(left[size_t(a)], left[size_t(b)]) - kEdgeSlack));
      const int64_t x1 = int64_t(std::floor(std::min(right[size_t(a)], right[size_t(b)]) + kEdgeSlack));
      const int64_t area = (b - a) * (x1 - x0);
      if (x1 > x0 && area > best_area) best_area = area, best = {a, x0, b - a, x1 - x0};
    }
  }
  DCSR_CHECK(best_area > 0, "the telephoto's view (", tele_w, "x", tele_h, " at scale ", tele_to_wide.scale,
             ", offset (", tele_to_wide.tx, ", ", tele_to_wide.ty, ")) does not cover a whole pixel of the ", lr_w,
             "x", lr_h, " wide image");
  return best;
}

FovRect view_bounds(const Similarity& tele_to_wide, int64_t tele_h, int64_t tele_w, int64_t lr_h, int64_t lr_w) {
  DCSR_CHECK(tele_h > 0 && tele_w > 0 && lr_h > 0 && lr_w > 0, "view_bounds: empty image (telephoto ", tele_w, "x",
             tele_h, ", wide ", lr_w, "x", lr_h, ")");
  const auto quad = frame_corners(tele_to_wide, tele_h, tele_w);
  double x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
  for (const auto& p : quad)
    x0 = std::min(x0, p[0]), y0 = std::min(y0, p[1]), x1 = std::max(x1, p[0]), y1 = std::max(y1, p[1]);
  // Outward to whole pixels; an edge within kEdgeSlack of a whole pixel stays on it.
  const int64_t left = std::max<int64_t>(0, int64_t(std::floor(x0 + kEdgeSlack)));
  const int64_t top = std::max<int64_t>(0, int64_t(std::floor(y0 + kEdgeSlack)));
  const int64_t right = std::min<int64_t>(lr_w, int64_t(std::ceil(x1 - kEdgeSlack)));
  const int64_t bottom = std::min<int64_t>(lr_h, int64_t(std::ceil(y1 - kEdgeSlack)));
  DCSR_CHECK(right > left && bottom > top, "the telephoto's view (", tele_w, "x", tele_h, " at scale ",
             tele_to_wide.scale, ", offset (", tele_to_wide.tx, ", ", tele_to_wide.ty,
             ")) does not overlap the ", lr_w, "x", lr_h, " wide image");
  return {top, left, bottom - top, right - left};
}

Tensor NormalisedReference::fov_part() const {
  NoGradGuard no_grad;
  const int64_t top = 2 * (fov.y0 - ref_rect.y0), left = 2 * (fov.x0 - ref_rect.x0);
  return narrow(narrow(ref, 2, top, 2 * fov.height), 3, left, 2 * fov.width);
}

namespace {

// resample_reference over any planar source: channel k's samples at
// planes + k * th * tw, turned into float values by `value`.
template <typename Sample, typename Value>
Tensor resample_planes(const Sample* planes, int64_t channels, int64_t th, int64_t tw, Value value,
                       const Similarity& tele_to_wide, const FovRect& fov) {
  DCSR_CHECK(fov.height > 0 && fov.width > 0, "normalise_reference: empty field of view ", fov.width, "x",
             fov.height);
  const int64_t out_h = 2 * fov.height, out_w = 2 * fov.width;
  // Telephoto pixels per Ref pixel: the kernel's stretch when shrinking.
  const double stretch = std::max(1.0, tele_to_wide.scale / 2.0);
  Tensor ref = empty({1, channels, out_h, out_w});
  float* dst = ref.data<float>();
  const ToTele to_tele = tele_to_wide.to_tele_map();
  parallel_for(out_h, 1, [&](int64_t row_begin, int64_t row_end) {
    registration::Taps tx, ty;
    std::vector<int64_t> columns;
    std::vector<double> values(static_cast<size_t>(channels));
    for (int64_t r = row_begin; r < row_end; ++r)
      for (int64_t c = 0; c < out_w; ++c) {
        // The Ref pixel's centre in LR pixels, then in telephoto pixels.
        const double x_w = double(fov.x0) + (double(c) + 0.5) / 2.0;
        const double y_w = double(fov.y0) + (double(r) + 0.5) / 2.0;
        const std::array<double, 2> t = to_tele(x_w, y_w);
        registration::make_taps(t[0], stretch, tx);
        registration::make_taps(t[1], stretch, ty);
        registration::sample_taps_channels(planes, channels, th, tw, tx, ty, value, columns, values.data());
        for (int64_t k = 0; k < channels; ++k) dst[(k * out_h + r) * out_w + c] = float(values[size_t(k)]);
      }
  });
  return ref;
}

// The checks of normalise_reference, and its rectangles.
NormalisedReference place_reference(int64_t th, int64_t tw, const Registration& registration, int64_t lr_h,
                                    int64_t lr_w) {
  const Similarity& t = registration.tele_to_wide;
  DCSR_CHECK(t.scale > 0 && std::isfinite(t.scale) && std::isfinite(t.angle) && std::isfinite(t.tx) &&
                 std::isfinite(t.ty),
             "normalise_reference: not a valid transform (scale ", t.scale, ", angle ", t.angle, ")");
  const auto corners = frame_corners(t, th, tw);
  for (size_t k = 0; k < 4; ++k)
    DCSR_CHECK(std::abs(corners[k][0] - registration.fov_quad[k][0]) < 1e-3 &&
                   std::abs(corners[k][1] - registration.fov_quad[k][1]) < 1e-3,
               "the registration's field of view does not match the ", tw, "x", th,
               " telephoto: it was made for an image of another size");
  // Registration keeps pairs with at least half the view inside the wide
  // image; a saved one made for another wide image may put the view anywhere.
  // Measured on a 64 x 64 grid over the telephoto's frame (register measures
  // on its own samples, so the bar here is a little lower: 45%).
  int64_t inside = 0;
  for (int64_t i = 0; i < 64; ++i)
    for (int64_t j = 0; j < 64; ++j) {
      const auto p = t.to_wide((double(j) + 0.5) / 64.0 * double(tw), (double(i) + 0.5) / 64.0 * double(th));
      inside += p[0] >= 0 && p[1] >= 0 && p[0] <= double(lr_w) && p[1] <= double(lr_h);
    }
  DCSR_CHECK(inside >= int64_t(0.45 * 64 * 64), "the registration puts ", std::llround(100.0 * double(inside) / 4096.0),
             "% of the telephoto's view inside the ", lr_w, "x", lr_h,
             " wide image (registration keeps at least half): was it made for another wide image?");
  NormalisedReference out;
  out.fov = fov_rect(t, th, tw, lr_h, lr_w);
  out.ref_rect = view_bounds(t, th, tw, lr_h, lr_w);
  return out;
}

}  // namespace

Tensor resample_reference(const Tensor& tele, const Similarity& tele_to_wide, const FovRect& fov) {
  DCSR_CHECK(tele.dim() == 4 && tele.size(0) == 1 && tele.is_cpu() && tele.dtype() == kFloat32,
             "normalise_reference: the telephoto must be a CPU float32 image (1, C, H, W), got ",
             shape_str(tele.shape()));
  return resample_planes(tele.data<float>(), tele.size(1), tele.size(2), tele.size(3), [](float v) { return v; },
                         tele_to_wide, fov);
}

NormalisedReference normalise_reference(const Tensor& tele, const Registration& registration, int64_t lr_h,
                                        int64_t lr_w) {
  DCSR_CHECK(tele.dim() == 4 && tele.size(0) == 1, "normalise_reference: expected a telephoto (1, C, H, W), got ",
             shape_str(tele.shape()));
  NormalisedReference out = place_reference(tele.size(2), tele.size(3), registration, lr_h, lr_w);
  out.ref = resample_reference(tele, registration.tele_to_wide, out.ref_rect);
  return out;
}

NormalisedReference normalise_reference(const CompactImage& tele, const Registration& registration, int64_t lr_h,
                                        int64_t lr_w) {
  if (!tele.is_u8()) return normalise_reference(tele.f32, registration, lr_h, lr_w);
  NormalisedReference out = place_reference(tele.height(), tele.width(), registration, lr_h, lr_w);
  // u8_value: CompactImage::to_tensor()'s value, so the Ref is the same bit
  // for bit; looked up, as the double sample_taps makes of it.
  std::array<double, 256> u8_values;
  for (int v = 0; v < 256; ++v) u8_values[size_t(v)] = double(u8_value(uint8_t(v)));
  out.ref = resample_planes(tele.u8.data.data(), 3, tele.height(), tele.width(),
                            [&](uint8_t v) { return u8_values[v]; }, registration.tele_to_wide, out.ref_rect);
  return out;
}

}  // namespace dcsr
