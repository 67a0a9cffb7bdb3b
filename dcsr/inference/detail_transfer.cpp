#include "dcsr/inference/detail_transfer.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "dcsr/data/augment.h"
#include "runtime/threads.h"
#include "tensor/error.h"

namespace dcsr {

namespace {

// (1, 1, h, w) luminance of a (1, 3, h, w) image.
Tensor luminance(const Tensor& image) {
  const int64_t h = image.size(2), w = image.size(3), n = h * w;
  Tensor y = empty({1, 1, h, w});
  const float* s = image.data<float>();
  float* d = y.data<float>();
  for (int64_t i = 0; i < n; ++i) d[i] = 0.299f * s[i] + 0.587f * s[n + i] + 0.114f * s[2 * n + i];
  return y;
}

}  // namespace

std::vector<float> detail_band(const Tensor& image, const DetailOptions& options) {
  Tensor fine = luminance(image), coarse = fine.clone();
  gaussian_blur_inplace(fine, options.sigma_fine);
  gaussian_blur_inplace(coarse, options.sigma_coarse);
  std::vector<float> band(size_t(fine.numel()));
  for (size_t i = 0; i < band.size(); ++i) band[i] = fine.data<float>()[i] - coarse.data<float>()[i];
  return band;
}

DetailScore detail_transfer(const Tensor& image, const Tensor& ref, const DetailOptions& options) {
  auto ok = [](const Tensor& t) {
    return t.dim() == 4 && t.size(0) == 1 && t.size(1) == 3 && t.dtype() == kFloat32 && t.is_cpu();
  };
  DCSR_CHECK(ok(image) && ok(ref) && image.shape() == ref.shape(), "detail_transfer: expected two CPU float32 (1, 3, H, W) ",
             "images of the same size, got ", shape_str(image.shape()), " and ", shape_str(ref.shape()));
  const int64_t h = image.size(2), w = image.size(3), b = options.block, s = options.search;
  DCSR_CHECK(b >= 8 && s >= 0, "detail_transfer: block ", b, " must be at least 8 and search ", s, " not negative");
  DCSR_CHECK(h >= b + 2 * s && w >= b + 2 * s, "detail_transfer: the view ", w, "x", h, " is smaller than one block (",
             b, " px) plus twice the search (", s, " px)");
  const std::vector<float> a = detail_band(image, options), t = detail_band(ref, options);
  const int64_t rows = (h - 2 * s) / b, cols = (w - 2 * s) / b, n = rows * cols;
  const size_t count = static_cast<size_t>(n);
  std::vector<double> ncc(count), weight(count), energy_a(count), energy_t(count);
  parallel_for(n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      const int64_t y0 = s + (k / cols) * b, x0 = s + (k % cols) * b;
      double aa = 0.0;
      for (int64_t y = y0; y < y0 + b; ++y)
        for (int64_t x = x0; x < x0 + b; ++x) aa += double(a[size_t(y * w + x)]) * a[size_t(y * w + x)];
      double best = -1.0, tt0 = 0.0;
      for (int64_t dy = -s; dy <= s; ++dy)
        for (int64_t dx = -s; dx <= s; ++dx) {
          double at = 0.0, tt = 0.0;
          for (int64_t y = y0; y < y0 + b; ++y)
            for (int64_t x = x0; x < x0 + b; ++x) {
              const double av = a[size_t(y * w + x)], tv = t[size_t((y + dy) * w + x + dx)];
              at += av * tv, tt += tv * tv;
            }
          if (dy == 0 && dx == 0) tt0 = tt;
          const double denom = std::sqrt(aa * tt);
          best = std::max(best, denom > 0.0 ? at / denom : 0.0);
        }
      ncc[size_t(k)] = best, weight[size_t(k)] = std::sqrt(tt0);
      energy_a[size_t(k)] = aa, energy_t[size_t(k)] = tt0;
    }
  });
  DetailScore score;
  score.blocks = n;
  double sum_w = 0.0, sum_wn = 0.0, sum_a = 0.0, sum_t = 0.0;
  for (int64_t k = 0; k < n; ++k) {
    sum_w += weight[size_t(k)], sum_wn += weight[size_t(k)] * ncc[size_t(k)];
    sum_a += energy_a[size_t(k)], sum_t += energy_t[size_t(k)];
  }
  // No telephoto detail at all (a flat telephoto, or a band so narrow it
  // holds nothing): no correlation or ratio is defined, and 0 would read as
  // "no detail transferred".
  DCSR_CHECK(sum_t > 0.0, "detail_transfer: the telephoto's detail band is empty in the view (a flat image, or the "
             "two sigmas too close together): the measure is undefined");
  score.correlation = sum_w > 0.0 ? sum_wn / sum_w : 0.0;
  score.energy_ratio = sum_a / sum_t;
  return score;
}

}  // namespace dcsr
