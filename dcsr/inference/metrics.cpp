#include "dcsr/inference/metrics.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <vector>

#include "runtime/threads.h"
#include "tensor/dtype_dispatch.h"

namespace dcsr {



namespace {

void check_image(const Tensor& x, const char* op, const char* what) {
  DCSR_CHECK(x.defined() && x.dim() == 4 && x.size(0) == 1 && x.size(1) == 3 && is_floating(x.dtype()), op, ": ",
             what, " must be a float RGB image (1, 3, H, W), got ",
             x.defined() ? shape_str(x.shape()) : std::string("undefined"));
}

// Luma of pixel i of a planar RGB image (without the offset).
template <typename T>
inline double luma(const T* img, int64_t plane, int64_t i) {
  return kLumaR * double(img[i]) + kLumaG * double(img[plane + i]) + kLumaB * double(img[2 * plane + i]);
}

// The common top-left region of two images minus the shave.
struct Window {
  int64_t h, w, shave;
};
Window common_window(const Tensor& a, const Tensor& b, int64_t shave, const char* op) {
  DCSR_CHECK(shave >= 0, op, ": negative shave ", shave);
  int64_t h = std::min(a.size(2), b.size(2)), w = std::min(a.size(3), b.size(3));
  DCSR_CHECK(h > 2 * shave && w > 2 * shave, op, ": images ", shape_str(a.shape()), " and ", shape_str(b.shape()),
             " are too small to shave ", shave, " pixels per border");
  return {h, w, shave};
}

}  // namespace

Tensor quantize(const Tensor& x) {
  DCSR_CHECK(x.defined() && is_floating(x.dtype()), "quantize: expected a float tensor");
  Tensor host = x.to(kCPU).detach();
  Tensor out = empty(host.shape(), host.dtype());
  dispatch_floating(host.dtype(), "quantize", [&](auto zero) {
    using T = decltype(zero);
    const T* src = host.data<T>();
    T* dst = out.data<T>();
    for (int64_t i = 0; i < host.numel(); ++i) {
      // In T's precision and with round-half-to-even, as torch's mul/clamp/round/div.
      // (A NaN stays NaN: it must not look like a good pixel.)
      T v = src[i] * T(255);
      v = v < T(0) ? T(0) : (v > T(255) ? T(255) : v);
      dst[i] = std::nearbyint(v) / T(255);
    }
  });
  return out.to(x.device());
}

double psnr_y(const Tensor& sr_in, const Tensor& hr_in, int64_t shave) {
  check_image(sr_in, "psnr_y", "sr");
  check_image(hr_in, "psnr_y", "hr");
  Tensor sr = sr_in.to(kCPU).to(kFloat64), hr = hr_in.to(kCPU).to(kFloat64);
  Window win = common_window(sr, hr, shave, "psnr_y");
  const double* a = sr.data<double>();
  const double* b = hr.data<double>();
  const int64_t pa = sr.size(2) * sr.size(3), pb = hr.size(2) * hr.size(3);
  const int64_t wa = sr.size(3), wb = hr.size(3);
  double total = 0.0;
  for (int64_t y = win.shave; y < win.h - win.shave; ++y)
    for (int64_t x = win.shave; x < win.w - win.shave; ++x) {
      double d = luma(a, pa, y * wa + x) - luma(b, pb, y * wb + x);
      total += d * d;
    }
  double mse = total / double((win.h - 2 * win.shave) * (win.w - 2 * win.shave));
  if (mse == 0.0) return std::numeric_limits<double>::infinity();
  return -10.0 * std::log10(mse);
}

double ssim_y(const Tensor& sr_in, const Tensor& hr_in, int64_t shave) {
  check_image(sr_in, "ssim_y", "sr");
  check_image(hr_in, "ssim_y", "hr");
  constexpr int64_t kWin = 11;
  constexpr double kSigma = 1.5, kC1 = 0.01 * 0.01, kC2 = 0.03 * 0.03;
  Tensor sr = sr_in.to(kCPU), hr = hr_in.to(kCPU);
  Window win = common_window(sr, hr, shave, "ssim_y");
  const int64_t h = win.h - 2 * win.shave, w = win.w - 2 * win.shave;
  DCSR_CHECK(h >= kWin && w >= kWin, "ssim_y: the measured region ", h, "x", w, " is smaller than the ", kWin, "x",
             kWin, " window");
  std::array<double, kWin> g{};
  double gsum = 0.0;
  for (int64_t i = 0; i < kWin; ++i) {
    double t = double(i - kWin / 2);
    g[size_t(i)] = std::exp(-t * t / (2.0 * kSigma * kSigma));
    gsum += g[size_t(i)];
  }
  for (double& v : g) v /= gsum;

  // Y planes of the measured region (doubles; 2 x H x W).
  std::vector<double> ya(size_t(h * w)), yb(size_t(h * w));
  auto fill_luma = [&](const Tensor& img, std::vector<double>& out) {
    dispatch_floating(img.dtype(), "ssim_y", [&](auto zero) {
      using T = decltype(zero);
      const T* p = img.data<T>();
      const int64_t plane = img.size(2) * img.size(3), width = img.size(3);
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x)
          out[size_t(y * w + x)] = kLumaOffset + luma(p, plane, (y + win.shave) * width + x + win.shave);
    });
  };
  fill_luma(sr, ya);
  fill_luma(hr, yb);

  // One output row at a time: the vertical pass of the 5 local moments over
  // 11 rows, then the horizontal pass. Memory O(W) per thread.
  const int64_t oh = h - kWin + 1, ow = w - kWin + 1;
  std::vector<double> row_sums(size_t(oh), 0.0);
  parallel_for(oh, 4, [&](int64_t begin, int64_t end) {
    std::vector<double> v(size_t(5 * w));
    for (int64_t r = begin; r < end; ++r) {
      std::fill(v.begin(), v.end(), 0.0);
      for (int64_t k = 0; k < kWin; ++k) {
        const double gk = g[size_t(k)];
        const double* pa = ya.data() + (r + k) * w;
        const double* pb = yb.data() + (r + k) * w;
        for (int64_t x = 0; x < w; ++x) {
          double a = pa[x], b = pb[x];
          v[size_t(x)] += gk * a;
          v[size_t(w + x)] += gk * b;
          v[size_t(2 * w + x)] += gk * a * a;
          v[size_t(3 * w + x)] += gk * b * b;
          v[size_t(4 * w + x)] += gk * a * b;
        }
      }
      double sum = 0.0;
      for (int64_t x = 0; x < ow; ++x) {
        double m[5] = {0, 0, 0, 0, 0};
        for (int64_t k = 0; k < kWin; ++k)
          for (int64_t q = 0; q < 5; ++q) m[q] += g[size_t(k)] * v[size_t(q * w + x + k)];
        double mu_a = m[0], mu_b = m[1];
        double var_a = m[2] - mu_a * mu_a, var_b = m[3] - mu_b * mu_b, cov = m[4] - mu_a * mu_b;
        sum += ((2 * mu_a * mu_b + kC1) * (2 * cov + kC2)) /
               ((mu_a * mu_a + mu_b * mu_b + kC1) * (var_a + var_b + kC2));
      }
      row_sums[size_t(r)] = sum;
    }
  });
  double total = 0.0;
  for (double s : row_sums) total += s;  // fixed order: the result does not depend on the thread count
  return total / double(oh * ow);
}

Region fov_region(int64_t height, int64_t width) {
  return {height / 4, width / 4, height / 2, width / 2};
}

Tensor crop(const Tensor& x_in, const Region& r) {
  DCSR_CHECK(x_in.defined() && x_in.dim() == 4, "crop: expected (N, C, H, W)");
  Tensor x = x_in.to(kCPU);
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  DCSR_CHECK(r.top >= 0 && r.left >= 0 && r.height >= 0 && r.width >= 0 && r.top + r.height <= h &&
                 r.left + r.width <= w,
             "crop: region (top ", r.top, ", left ", r.left, ", ", r.height, "x", r.width, ") outside ",
             shape_str(x.shape()));
  Tensor out = empty({n, c, r.height, r.width}, x.dtype());
  const size_t item = dtype_size(x.dtype());
  const char* src = static_cast<const char*>(x.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  for (int64_t p = 0; p < n * c; ++p)
    for (int64_t y = 0; y < r.height; ++y)
      std::copy_n(src + ((p * h + r.top + y) * w + r.left) * int64_t(item), r.width * int64_t(item),
                  dst + (p * r.height + y) * r.width * int64_t(item));
  return out;
}

QualityScores evaluate_pair(const Tensor& sr, const Tensor& hr) {
  check_image(sr, "evaluate_pair", "sr");
  check_image(hr, "evaluate_pair", "hr");
  Tensor a = quantize(sr), b = quantize(hr);
  const int64_t h = std::min(a.size(2), b.size(2)), w = std::min(a.size(3), b.size(3));
  QualityScores s;
  s.psnr = std::min(psnr_y(a, b, 2), kPsnrCeiling);
  s.ssim = ssim_y(a, b, 2);
  Region fov = fov_region(h, w);
  Tensor fa = crop(a, fov), fb = crop(b, fov);
  s.psnr_fov = std::min(psnr_y(fa, fb, 0), kPsnrCeiling);
  s.ssim_fov = ssim_y(fa, fb, 0);
  return s;
}

}  // namespace dcsr
