// Exhaustive NCC search over scale x angle x translation (coarse_search.h).
#include "dcsr/registration/coarse_search.h"

#include <algorithm>
#include <cmath>

#include "runtime/threads.h"

namespace dcsr::registration {

namespace {

constexpr double kPi = 3.14159265358979323846;

// Sums over every a x b window of a plane, from integral images in double:
// the NCC's denominator for each template position.
struct WindowStats {
  int64_t width = 0;
  std::vector<double> sum, sum_sq;  // (height + 1) x (width + 1) integral images
  explicit WindowStats(const Plane& p) : width(p.width) {
    const int64_t W1 = p.width + 1;
    sum.assign(size_t((p.height + 1) * W1), 0.0);
    sum_sq.assign(sum.size(), 0.0);
    for (int64_t y = 0; y < p.height; ++y) {
      double row = 0, row_sq = 0;
      for (int64_t x = 0; x < p.width; ++x) {
        const double v = p.row(y)[x];
        row += v, row_sq += v * v;
        sum[size_t((y + 1) * W1 + x + 1)] = sum[size_t(y * W1 + x + 1)] + row;
        sum_sq[size_t((y + 1) * W1 + x + 1)] = sum_sq[size_t(y * W1 + x + 1)] + row_sq;
      }
    }
  }
  // Variance times n of the window with top-left (x, y), size a x b.
  double centred_energy(int64_t x, int64_t y, int64_t a, int64_t b) const {
    const int64_t W1 = width + 1;
    auto box = [&](const std::vector<double>& s) {
      return s[size_t((y + b) * W1 + x + a)] - s[size_t(y * W1 + x + a)] - s[size_t((y + b) * W1 + x)] +
             s[size_t(y * W1 + x)];
    };
    const double s1 = box(sum), n = double(a * b);
    return box(sum_sq) - s1 * s1 / n;
  }
};

// The offset of a parabola's peak through (-1, l), (0, c), (1, r), in [-0.5, 0.5].
double parabola_peak(double l, double c, double r) {
  const double denominator = l - 2 * c + r;
  if (!(denominator < 0)) return 0.0;
  return std::clamp(0.5 * (l - r) / denominator, -0.5, 0.5);
}

}  // namespace

std::vector<Candidate> coarse_search(const Plane& wide, int64_t wide_height, int64_t wide_width, const Plane& tele,
                                     int64_t tele_height, int64_t tele_width, const CoarseOptions& options) {
  std::vector<double> angles;
  const int64_t angle_steps = int64_t(std::floor(options.max_angle_deg / options.angle_step_deg + 1e-9));
  for (int64_t k = -angle_steps; k <= angle_steps; ++k) angles.push_back(double(k) * options.angle_step_deg * kPi / 180);
  std::vector<Candidate> found;  // the best place for every (scale, angle)
  for (double s = options.min_scale; s <= options.max_scale * 1.0001; s *= options.scale_step) {
    // The view's size in wide pixels, and the search resolution that makes
    // the template about template_size px long (at most the given wide plane).
    const double view_w = double(tele_width) / s, view_h = double(tele_height) / s;
    double f = double(options.template_size) / (options.template_fraction * std::max(view_w, view_h));
    f = std::min({f, double(wide.width) / double(wide_width), double(wide.height) / double(wide_height)});
    const int64_t Wc = std::max<int64_t>(8, std::llround(double(wide_width) * f));
    const int64_t Hc = std::max<int64_t>(8, std::llround(double(wide_height) * f));
    const double fx = double(Wc) / double(wide_width), fy = double(Hc) / double(wide_height);
    const int64_t a = std::llround(options.template_fraction * view_w * fx);
    const int64_t b = std::llround(options.template_fraction * view_h * fy);
    if (a < 4 || b < 4 || a > Wc || b > Hc) continue;
    const Plane search = resize_plane(wide, Hc, Wc);
    const WindowStats stats(search);
    // The telephoto at about the search resolution, sampled below with rotation.
    const Plane tele_small = resize_plane(tele, std::max<int64_t>(2, std::llround(double(tele_height) * fy / s)),
                                          std::max<int64_t>(2, std::llround(double(tele_width) * fx / s)));
    const double gx = double(tele_small.width) / double(tele_width), gy = double(tele_small.height) / double(tele_height);
    const int64_t positions_x = Wc - a + 1, positions_y = Hc - b + 1;
    for (double angle : angles) {
      // Template (b x a): the telephoto's content at each search pixel of
      // the view's centred part, zero mean and unit norm.
      std::vector<float> tmpl(size_t(a * b));
      const double c = std::cos(angle), sn = std::sin(angle);
      double mean = 0;
      for (int64_t i = 0; i < b; ++i)
        for (int64_t j = 0; j < a; ++j) {
          const double u = (double(j) + 0.5 - 0.5 * double(a)) / fx, v = (double(i) + 0.5 - 0.5 * double(b)) / fy;
          const double xt = 0.5 * double(tele_width) + s * (c * u + sn * v);
          const double yt = 0.5 * double(tele_height) + s * (-sn * u + c * v);
          const double xs = std::clamp(xt * gx, 0.5, double(tele_small.width) - 0.5);
          const double ys = std::clamp(yt * gy, 0.5, double(tele_small.height) - 0.5);
          tmpl[size_t(i * a + j)] = sample_bilinear(tele_small, xs, ys);
          mean += tmpl[size_t(i * a + j)];
        }
      mean /= double(a * b);
      double norm = 0;
      for (float& t : tmpl) t = float(t - mean), norm += double(t) * double(t);
      if (norm < 1e-12) continue;
      for (float& t : tmpl) t = float(t / std::sqrt(norm));
      // NCC at every position: correlation rows in parallel.
      std::vector<float> ncc(size_t(positions_x * positions_y), -1.0f);
      parallel_for(positions_y, 4, [&](int64_t y0, int64_t y1) {
        std::vector<float> acc(static_cast<size_t>(positions_x));
        for (int64_t y = y0; y < y1; ++y) {
          std::fill(acc.begin(), acc.end(), 0.0f);
          for (int64_t i = 0; i < b; ++i) {
            const float* r = search.row(y + i);
            for (int64_t j = 0; j < a; ++j) {
              const float t = tmpl[size_t(i * a + j)];
              const float* rj = r + j;
              for (int64_t x = 0; x < positions_x; ++x) acc[size_t(x)] += t * rj[x];
            }
          }
          for (int64_t x = 0; x < positions_x; ++x) {
            const double energy = stats.centred_energy(x, y, a, b);
            if (energy > 1e-9 * double(a * b)) ncc[size_t(y * positions_x + x)] = float(acc[size_t(x)] / std::sqrt(energy));
          }
        }
      });
      const int64_t best = int64_t(std::max_element(ncc.begin(), ncc.end()) - ncc.begin());
      const int64_t bx = best % positions_x, by = best / positions_x;
      auto at = [&](int64_t x, int64_t y) { return double(ncc[size_t(y * positions_x + x)]); };
      const double peak = at(bx, by);
      const double dx = (bx > 0 && bx < positions_x - 1) ? parabola_peak(at(bx - 1, by), peak, at(bx + 1, by)) : 0.0;
      const double dy = (by > 0 && by < positions_y - 1) ? parabola_peak(at(bx, by - 1), peak, at(bx, by + 1)) : 0.0;
      Candidate cand;
      cand.scale = s;
      cand.angle = angle;
      cand.centre_x = (double(bx) + dx + 0.5 * double(a)) / fx;
      cand.centre_y = (double(by) + dy + 0.5 * double(b)) / fy;
      cand.ncc = peak;
      found.push_back(cand);
    }
  }
  std::sort(found.begin(), found.end(), [](const Candidate& x, const Candidate& y) { return x.ncc > y.ncc; });
  // Keep the best of each distinct view: another scale within 25% and a centre
  // within a quarter of the view's width describe the same hypothesis.
  std::vector<Candidate> chosen;
  for (const Candidate& c : found) {
    if (int64_t(chosen.size()) >= options.max_candidates) break;
    bool duplicate = false;
    for (const Candidate& d : chosen) {
      const double view = double(tele_width) / d.scale;
      if (std::abs(std::log(c.scale / d.scale)) < std::log(1.25) &&
          std::hypot(c.centre_x - d.centre_x, c.centre_y - d.centre_y) < 0.25 * view)
        duplicate = true;
    }
    if (!duplicate) chosen.push_back(c);
  }
  return chosen;
}

}  // namespace dcsr::registration
