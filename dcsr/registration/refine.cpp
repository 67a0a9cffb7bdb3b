// Robust Gauss-Newton on a similarity at one pyramid level (refine.h).
#include "dcsr/registration/refine.h"

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <omp.h>

#include "runtime/threads.h"

namespace dcsr::registration {

LinearSimilarity LinearSimilarity::from(const Similarity& s, double tele_width, double tele_height) {
  LinearSimilarity p;
  p.a = std::cos(s.angle) / s.scale;
  p.b = std::sin(s.angle) / s.scale;
  const auto centre = s.to_wide(0.5 * tele_width, 0.5 * tele_height);
  p.cx = centre[0];
  p.cy = centre[1];
  return p;
}

Similarity LinearSimilarity::to_similarity(double tele_width, double tele_height) const {
  Similarity s;
  s.scale = 1.0 / std::hypot(a, b);
  s.angle = std::atan2(b, a);
  const double ux = 0.5 * tele_width, uy = 0.5 * tele_height;
  s.tx = cx - (a * ux - b * uy);
  s.ty = cy - (b * ux + a * uy);
  return s;
}

namespace {

// Every telephoto sample of one evaluation: residual and the pieces of its Jacobian.
struct Samples {
  int64_t rows = 0, cols = 0, step = 1;
  std::vector<float> residual, gx, gy, dx, dy, wide_value, tele_value;
  std::vector<uint8_t> valid;
};

// Samples the wide structure plane where `p` puts each telephoto sample.
// dx, dy: the sample's offset from the telephoto's centre over `norm`.
void evaluate(const WideLevel& wide, const LevelPlane& tele, double tele_width, double tele_height,
              const LinearSimilarity& p, double norm, Samples& s) {
  const Plane& t = tele.image;
  const Plane& w = wide.level.image;
  // Sized once per Samples: every sample's `valid` is written below, and the
  // other arrays are read only where it is set.
  const size_t n = size_t(s.rows * s.cols);
  if (s.valid.size() != n) {
    for (auto* v : {&s.residual, &s.gx, &s.gy, &s.dx, &s.dy, &s.wide_value, &s.tele_value}) v->assign(n, 0.0f);
    s.valid.assign(n, 0);
  }
  const double ctx = 0.5 * tele_width, cty = 0.5 * tele_height;
  parallel_for(s.rows, 8, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t i = std::min(t.height - 1, r * s.step + s.step / 2);
      const double yt = (double(i) + 0.5) * tele.ky - cty;
      for (int64_t c = 0; c < s.cols; ++c) {
        const int64_t j = std::min(t.width - 1, c * s.step + s.step / 2);
        const double xt = (double(j) + 0.5) * tele.kx - ctx;
        const double u = (p.a * xt - p.b * yt + p.cx) / wide.level.kx;
        const double v = (p.b * xt + p.a * yt + p.cy) / wide.level.ky;
        const size_t k = size_t(r * s.cols + c);
        s.valid[k] = u >= 1.0 && v >= 1.0 && u <= double(w.width) - 1.0 && v <= double(w.height) - 1.0;
        if (!s.valid[k]) continue;
        s.wide_value[k] = sample_bilinear(w, u, v);
        s.tele_value[k] = t.row(i)[j];
        s.residual[k] = s.wide_value[k] - s.tele_value[k];
        s.gx[k] = float(sample_bilinear(wide.gx, u, v) / wide.level.kx);  // per full-resolution pixel
        s.gy[k] = float(sample_bilinear(wide.gy, u, v) / wide.level.ky);
        s.dx[k] = float(xt / norm);
        s.dy[k] = float(yt / norm);
      }
    }
  });
}

Samples make_samples(const LevelPlane& tele, const RefineOptions& options) {
  Samples s;
  const double total = double(tele.image.height * tele.image.width);
  s.step = std::max<int64_t>(1, int64_t(std::ceil(std::sqrt(total / double(options.max_samples)))));
  s.rows = (tele.image.height + s.step - 1) / s.step;
  s.cols = (tele.image.width + s.step - 1) / s.step;
  return s;
}

// ZNCC of wide and tele values over the valid samples, and the valid fraction.
void score(const Samples& s, RefineResult& out) {
  double n = 0, sw = 0, st = 0, sww = 0, stt = 0, swt = 0;
  for (size_t k = 0; k < s.valid.size(); ++k) {
    if (!s.valid[k]) continue;
    const double w = s.wide_value[k], t = s.tele_value[k];
    n += 1, sw += w, st += t, sww += w * w, stt += t * t, swt += w * t;
  }
  out.overlap = s.valid.empty() ? 0.0 : n / double(s.valid.size());
  if (n < 16) {
    out.ncc = -1.0;
    return;
  }
  const double cov = swt - sw * st / n, vw = sww - sw * sw / n, vt = stt - st * st / n;
  out.ncc = (vw > 0 && vt > 0) ? cov / std::sqrt(vw * vt) : -1.0;
}

}  // namespace

MedianMagnitude median_magnitude(const float* values, const uint8_t* valid, int64_t n) {
  // Bits 21-31, then 10-20, then 0-9 of |value|'s pattern; each pass counts
  // the values whose higher bits are those chosen so far, per block (a block
  // per thread), and picks the bin that holds the wanted rank.
  constexpr int kShift[3] = {21, 10, 0}, kWidth[3] = {11, 11, 10};
  const int64_t blocks = std::max<int64_t>(1, std::min<int64_t>(omp_get_max_threads(), n / 4096 + 1));
  std::vector<int64_t> histograms(size_t(blocks) << 11), total(size_t(1) << 11);
  MedianMagnitude out;
  uint32_t prefix = 0;  // the bits chosen so far
  int64_t rank = 0;     // the wanted rank among the values that have them
  for (int pass = 0; pass < 3; ++pass) {
    const int shift = kShift[pass], above = shift + kWidth[pass];
    const uint32_t mask = (uint32_t(1) << kWidth[pass]) - 1;
    std::fill(histograms.begin(), histograms.end(), 0);
    parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        int64_t* h = histograms.data() + (b << 11);
        for (int64_t i = n * b / blocks; i < n * (b + 1) / blocks; ++i) {
          if (!valid[i]) continue;
          uint32_t bits;
          std::memcpy(&bits, &values[i], sizeof(bits));
          bits &= 0x7FFFFFFFu;  // |value|
          if (above < 32 && (bits >> above) != prefix) continue;
          ++h[(bits >> shift) & mask];
        }
      }
    });
    std::fill(total.begin(), total.end(), 0);
    for (int64_t b = 0; b < blocks; ++b)
      for (uint32_t bin = 0; bin <= mask; ++bin) total[bin] += histograms[size_t(b << 11) + bin];
    if (pass == 0) {
      for (uint32_t bin = 0; bin <= mask; ++bin) out.count += total[bin];
      if (out.count == 0) return out;
      rank = out.count / 2;
    }
    uint32_t bin = 0;
    for (; rank >= total[bin]; ++bin) rank -= total[bin];
    prefix = prefix << kWidth[pass] | bin;
  }
  std::memcpy(&out.value, &prefix, sizeof(prefix));
  return out;
}

RefineResult score_level(const WideLevel& wide, const LevelPlane& tele, double tele_width, double tele_height,
                         const LinearSimilarity& params, const RefineOptions& options) {
  Samples s = make_samples(tele, options);
  evaluate(wide, tele, tele_width, tele_height, params, 0.5 * std::hypot(tele_width, tele_height), s);
  RefineResult out;
  out.params = params;
  score(s, out);
  return out;
}

RefineResult refine_level(const WideLevel& wide, const LevelPlane& tele, double tele_width, double tele_height,
                          const LinearSimilarity& start, const RefineOptions& options) {
  // Parameters in pixel units: (a, b) times the telephoto's half diagonal,
  // which is how far they move its corners.
  const double norm = 0.5 * std::hypot(tele_width, tele_height);
  LinearSimilarity p = start;
  Samples s = make_samples(tele, options);
  RefineResult out;
  constexpr int64_t kBlocks = 64;  // fixed reduction blocks: the same sums on any thread count
  std::vector<Eigen::Matrix4d> block_h(kBlocks);
  std::vector<Eigen::Vector4d> block_g(kBlocks);
  for (int64_t it = 0; it < options.max_iterations; ++it) {
    evaluate(wide, tele, tele_width, tele_height, p, norm, s);
    out.iterations = it + 1;
    const MedianMagnitude median = median_magnitude(s.residual.data(), s.valid.data(), int64_t(s.valid.size()));
    if (median.count < 16) break;
    const double threshold = std::max(1e-6, options.huber * 1.4826 * double(median.value));
    const int64_t n = int64_t(s.valid.size());
    parallel_for(kBlocks, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t blk = b0; blk < b1; ++blk) {
        Eigen::Matrix4d h = Eigen::Matrix4d::Zero();
        Eigen::Vector4d g = Eigen::Vector4d::Zero();
        for (int64_t k = n * blk / kBlocks; k < n * (blk + 1) / kBlocks; ++k) {
          if (!s.valid[size_t(k)]) continue;
          const double r = s.residual[size_t(k)], ax = std::abs(r);
          const double weight = ax <= threshold ? 1.0 : threshold / ax;
          const double gx = s.gx[size_t(k)], gy = s.gy[size_t(k)], dx = s.dx[size_t(k)], dy = s.dy[size_t(k)];
          const Eigen::Vector4d j(gx * dx + gy * dy, -gx * dy + gy * dx, gx, gy);
          h.noalias() += weight * j * j.transpose();
          g.noalias() += weight * r * j;
        }
        block_h[size_t(blk)] = h;
        block_g[size_t(blk)] = g;
      }
    });
    Eigen::Matrix4d h = Eigen::Matrix4d::Zero();
    Eigen::Vector4d g = Eigen::Vector4d::Zero();
    for (int64_t blk = 0; blk < kBlocks; ++blk) h += block_h[size_t(blk)], g += block_g[size_t(blk)];
    h.diagonal() *= 1.0 + 1e-9;
    Eigen::Vector4d delta = Eigen::Vector4d::Zero();
    if (options.translation_only)
      delta.tail<2>() = -h.bottomRightCorner<2, 2>().ldlt().solve(g.tail<2>());
    else
      delta = -h.ldlt().solve(g);
    if (!delta.allFinite()) break;
    p.a += delta[0] / norm;
    p.b += delta[1] / norm;
    p.cx += delta[2];
    p.cy += delta[3];
    // The largest corner movement of this step, in level pixels.
    const double moved = (std::hypot(delta[0], delta[1]) + std::hypot(delta[2], delta[3])) /
                         std::min(wide.level.kx, wide.level.ky);
    if (moved < options.converged_px) break;
  }
  evaluate(wide, tele, tele_width, tele_height, p, norm, s);
  out.params = p;
  score(s, out);
  return out;
}

}  // namespace dcsr::registration
