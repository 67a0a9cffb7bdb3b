#include "dcsr/figures/compose.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "dcsr/figures/raster.h"

namespace dcsr {

namespace {

constexpr int64_t kMargin = 16;      // around the figure and between panels
constexpr int64_t kTitleScale = 2;   // 5x7 font at 2x: 14 px tall
constexpr int64_t kTitleGap = 8;     // between a title and its panel
constexpr int64_t kOutline = 2;      // px
const Color kBackground{0.12f, 0.12f, 0.12f};
const Color kOutside{0.24f, 0.24f, 0.24f};  // the reference panel outside the telephoto's view
const Color kTitle{0.95f, 0.95f, 0.95f};
const Color kFovColor{1.0f, 0.6f, 0.1f};     // orange: the telephoto's field of view
const Color kDetailColor{0.1f, 0.85f, 1.0f};  // cyan: the zoomed region

void check_image(const Tensor& t, const char* what) {
  DCSR_CHECK(t.defined() && t.dim() == 4 && t.size(0) == 1 && t.size(1) == 3, "side-by-side: ", what,
             " must be an image (1, 3, H, W), got ", t.defined() ? shape_str(t.shape()) : std::string("none"));
}

int64_t title_bar() { return Canvas::text_height(kTitleScale) + kTitleGap; }

}  // namespace

Region detail_region(int64_t sr_h, int64_t sr_w, const Tensor& ref, const Region& fov) {
  DCSR_CHECK(fov.top >= 0 && fov.left >= 0 && fov.height > 0 && fov.width > 0 && fov.top + fov.height <= sr_h &&
                 fov.left + fov.width <= sr_w,
             "side-by-side: the view (", fov.top, ", ", fov.left, ") ", fov.height, "x", fov.width,
             " does not lie inside the ", sr_h, "x", sr_w, " image");
  check_image(ref, "the reference");
  DCSR_CHECK(ref.size(2) == fov.height && ref.size(3) == fov.width, "side-by-side: the reference ",
             shape_str(ref.shape()), " must have the size of the field of view ", fov.height, "x", fov.width);
  Tensor r = ref.to(kCPU).to(kFloat32);
  const int64_t h = fov.height, w = fov.width, plane = h * w;
  const float* p = r.data<float>();
  std::vector<double> luma(static_cast<size_t>(plane));
  for (int64_t i = 0; i < plane; ++i)
    luma[size_t(i)] = 0.299 * p[i] + 0.587 * p[plane + i] + 0.114 * p[2 * plane + i];
  // texture[y] = sum over the row of |right - here| + |below - here|.
  std::vector<double> texture(static_cast<size_t>(h), 0.0);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      const double v = luma[size_t(y * w + x)];
      if (x + 1 < w) texture[size_t(y)] += std::abs(luma[size_t(y * w + x + 1)] - v);
      if (y + 1 < h) texture[size_t(y)] += std::abs(luma[size_t((y + 1) * w + x)] - v);
    }
  const int64_t band = std::max<int64_t>(1, h / 2);
  int64_t best_top = 0;
  double best = -1;
  for (int64_t top = 0; top + band <= h; top += 4) {
    double score = 0;
    for (int64_t y = top; y < top + band; ++y) score += texture[size_t(y)];
    if (score > best) best = score, best_top = top;
  }
  return {fov.top + best_top, fov.left, band, fov.width};
}

Tensor compose_side_by_side(const Tensor& bicubic, const Tensor& sr, const Tensor& ref, const FigureTitles& titles,
                            std::optional<Region> view) {
  check_image(bicubic, "the bicubic image");
  check_image(sr, "the SR image");
  DCSR_CHECK(bicubic.shape() == sr.shape(), "side-by-side: bicubic ", shape_str(bicubic.shape()), " and SR ",
             shape_str(sr.shape()), " differ in size");
  const int64_t H = sr.size(2), W = sr.size(3);
  const Region fov = view ? *view : fov_region(H, W);
  const Region detail = detail_region(H, W, ref, fov);  // also checks the reference's size

  // Row 1: three H x W panels under their titles; row 2: three zoomed crops
  // (2x the detail region: W x H/2 when the region spans the view's width).
  const int64_t zoom = 2, crop_w = detail.width * zoom, crop_h = detail.height * zoom;
  const int64_t column_w = std::max(W, crop_w);
  const int64_t width = 4 * kMargin + 3 * column_w;
  const int64_t row1 = kMargin + title_bar(), row2 = row1 + H + kMargin + title_bar();
  const int64_t height = row2 + crop_h + kMargin;
  Canvas canvas(width, height, kBackground);
  auto column_x = [&](int64_t k) { return kMargin + k * (column_w + kMargin); };

  // The reference panel: the telephoto placed where its view lies in the frame.
  canvas.fill_rect(column_x(2), row1, W, H, kOutside);
  canvas.blit(ref, column_x(2) + fov.left, row1 + fov.top);
  canvas.blit(bicubic, column_x(0), row1);
  canvas.blit(sr, column_x(1), row1);
  const std::string names[3] = {titles.bicubic, titles.sr, titles.ref};
  for (int64_t k = 0; k < 3; ++k) {
    canvas.text(column_x(k), kMargin, names[k], kTitle, kTitleScale);
    canvas.outline_rect(column_x(k) + fov.left, row1 + fov.top, fov.width, fov.height, kOutline, kFovColor);
    canvas.outline_rect(column_x(k) + detail.left - kOutline, row1 + detail.top - kOutline,
                        detail.width + 2 * kOutline, detail.height + 2 * kOutline, kOutline, kDetailColor);
  }

  // Row 2: the detail region of each, 2x nearest neighbour.
  const Region in_ref{detail.top - fov.top, detail.left - fov.left, detail.height, detail.width};
  const Tensor crops[3] = {crop(bicubic, detail), crop(sr, detail), crop(ref, in_ref)};
  const std::string zoom_names[3] = {titles.bicubic + ", zoom 2x", titles.sr + ", zoom 2x",
                                     titles.ref + ", zoom 2x"};
  for (int64_t k = 0; k < 3; ++k) {
    canvas.text(column_x(k), row1 + H + kMargin, zoom_names[k], kTitle, kTitleScale);
    canvas.blit(crops[k], column_x(k), row2, zoom);
  }
  return canvas.image();
}

Tensor confidence_at(const Tensor& confidence, int64_t h, int64_t w) {
  DCSR_CHECK(confidence.defined() && confidence.dim() == 4 && confidence.size(0) == 1 && confidence.size(1) == 1,
             "confidence map: expected (1, 1, h, w), got ",
             confidence.defined() ? shape_str(confidence.shape()) : std::string("none"));
  Tensor c = confidence.to(kCPU).to(kFloat32);
  const int64_t hc = c.size(2), wc = c.size(3);
  // The map covers the image at 1/f of its resolution, rounded up: f = ceil(h / hc).
  const int64_t fy = (h + hc - 1) / hc, fx = (w + wc - 1) / wc;
  Tensor out = empty({1, 1, h, w});
  const float* src = c.data<float>();
  float* dst = out.data<float>();
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      dst[y * w + x] = src[std::min(y / fy, hc - 1) * wc + std::min(x / fx, wc - 1)];
  return out;
}

}  // namespace dcsr
