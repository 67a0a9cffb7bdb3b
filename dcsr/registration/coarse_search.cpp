// Exhaustive NCC search over scale x angle x translation (coarse_search.h).
#include "dcsr/registration/coarse_search.h"

#include <algorithm>
#include <cmath>
#include <functional>

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
  // The sum over the window with top-left (x, y), size a x b.
  double sum_of(int64_t x, int64_t y, int64_t a, int64_t b) const { return box(sum, x, y, a, b); }
  // Variance times n of that window.
  double centred_energy(int64_t x, int64_t y, int64_t a, int64_t b) const {
    const double s1 = box(sum, x, y, a, b), n = double(a * b);
    return box(sum_sq, x, y, a, b) - s1 * s1 / n;
  }

 private:
  double box(const std::vector<double>& s, int64_t x, int64_t y, int64_t a, int64_t b) const {
    const int64_t W1 = width + 1;
    return s[size_t((y + b) * W1 + x + a)] - s[size_t(y * W1 + x + a)] - s[size_t((y + b) * W1 + x)] +
           s[size_t(y * W1 + x)];
  }
};

// p minus its mean over the (2 radius + 1)^2 window around each pixel (the
// window cut at the edges): what is left is edges and texture.
Plane minus_local_mean(Plane p, int64_t radius) {
  if (radius <= 0) return p;
  const Plane mean = box_blur(p, radius);
  for (size_t i = 0; i < p.data.size(); ++i) p.data[i] -= mean.data[i];
  return p;
}

// p framed by `rows` rows of zeros above and below and `cols` columns left and right.
Plane pad_with_zeros(const Plane& p, int64_t rows, int64_t cols) {
  Plane out(p.height + 2 * rows, p.width + 2 * cols);
  for (int64_t y = 0; y < p.height; ++y) std::copy(p.row(y), p.row(y) + p.width, out.row(y + rows) + cols);
  return out;
}

// The offset of a parabola's peak through (-1, l), (0, c), (1, r), in [-0.5, 0.5].
double parabola_peak(double l, double c, double r) {
  const double denominator = l - 2 * c + r;
  if (!(denominator < 0)) return 0.0;
  return std::clamp(0.5 * (l - r) / denominator, -0.5, 0.5);
}

// Where the template (a x b search pixels) may lie on the wide image (Wc x Hc)
// framed by mx columns and my rows of zeros on each side: positions are the
// template's top-left corner in the framed plane, (mx, my) the image's corner.
struct Frame {
  int64_t Wc = 0, Hc = 0, a = 0, b = 0, mx = 0, my = 0;
  int64_t positions_x() const { return Wc + 2 * mx - a + 1; }
  int64_t positions_y() const { return Hc + 2 * my - b + 1; }
  bool wholly_inside(int64_t x, int64_t y) const { return x >= mx && x + a <= mx + Wc && y >= my && y + b <= my + Hc; }
};

// The template (b x a): the telephoto's content at each search pixel of the
// view's centred part at scale s and `angle`, zero mean and unit norm; empty
// when it is flat. fx, fy: search pixels per wide pixel.
Plane make_template(const Plane& tele_small, int64_t tele_height, int64_t tele_width, const Frame& frame, double s,
                    double angle, double fx, double fy) {
  const int64_t a = frame.a, b = frame.b;
  const double gx = double(tele_small.width) / double(tele_width), gy = double(tele_small.height) / double(tele_height);
  Plane tmpl(b, a);
  const double c = std::cos(angle), sn = std::sin(angle);
  double mean = 0;
  for (int64_t i = 0; i < b; ++i)
    for (int64_t j = 0; j < a; ++j) {
      const double u = (double(j) + 0.5 - 0.5 * double(a)) / fx, v = (double(i) + 0.5 - 0.5 * double(b)) / fy;
      const double xt = 0.5 * double(tele_width) + s * (c * u + sn * v);
      const double yt = 0.5 * double(tele_height) + s * (-sn * u + c * v);
      const double xs = std::clamp(xt * gx, 0.5, double(tele_small.width) - 0.5);
      const double ys = std::clamp(yt * gy, 0.5, double(tele_small.height) - 0.5);
      tmpl.row(i)[j] = sample_bilinear(tele_small, xs, ys);
      mean += tmpl.row(i)[j];
    }
  mean /= double(a * b);
  double norm = 0;
  for (float& t : tmpl.data) t = float(t - mean), norm += double(t) * double(t);
  if (norm < 1e-12) return Plane();
  for (float& t : tmpl.data) t = float(t / std::sqrt(norm));
  return tmpl;
}

// The score of every position (positions_y x positions_x): the NCC over the
// part of the template inside the wide image, times the square root of that
// part's share when it is not all of it (a chance match on fewer samples is
// likelier); -1 where less than min_overlap is inside or a side is flat.
// Correlation rows in parallel.
std::vector<float> score_map(const Plane& search, const WindowStats& stats, const Plane& tmpl, const Frame& frame,
                             double min_overlap) {
  const int64_t a = frame.a, b = frame.b, positions_x = frame.positions_x();
  const WindowStats tmpl_stats(tmpl);  // the template's sums over the part that overlaps
  std::vector<float> score(size_t(positions_x * frame.positions_y()), -1.0f);
  parallel_for(frame.positions_y(), 4, [&](int64_t y0, int64_t y1) {
    std::vector<float> acc(static_cast<size_t>(positions_x));
    for (int64_t y = y0; y < y1; ++y) {
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t i = 0; i < b; ++i) {
        const float* r = search.row(y + i);
        for (int64_t j = 0; j < a; ++j) {
          const float t = tmpl.row(i)[j];
          const float* rj = r + j;
          for (int64_t x = 0; x < positions_x; ++x) acc[size_t(x)] += t * rj[x];
        }
      }
      // The template rows [i0, i1) and columns [j0, j1) lie inside the wide image.
      const int64_t i0 = std::max<int64_t>(0, frame.my - y), i1 = std::min(b, frame.my + frame.Hc - y);
      for (int64_t x = 0; x < positions_x; ++x) {
        const int64_t j0 = std::max<int64_t>(0, frame.mx - x), j1 = std::min(a, frame.mx + frame.Wc - x);
        const int64_t inside = (i1 - i0) * (j1 - j0);
        if (inside == a * b) {  // wholly inside: the template is zero-mean, unit-norm
          const double energy = stats.centred_energy(x, y, a, b);
          if (energy > 1e-9 * double(a * b)) score[size_t(y * positions_x + x)] = float(acc[size_t(x)] / std::sqrt(energy));
          continue;
        }
        const double share = double(inside) / double(a * b);
        if (share < min_overlap) continue;
        const double n = double(inside);
        const double t_sum = tmpl_stats.sum_of(j0, i0, j1 - j0, i1 - i0);
        const double t_energy = tmpl_stats.centred_energy(j0, i0, j1 - j0, i1 - i0);
        const double w_sum = stats.sum_of(x + j0, y + i0, j1 - j0, i1 - i0);
        const double w_energy = stats.centred_energy(x + j0, y + i0, j1 - j0, i1 - i0);
        if (!(w_energy > 1e-9 * n && t_energy > 1e-9)) continue;
        const double ncc = (double(acc[size_t(x)]) - t_sum * w_sum / n) / std::sqrt(t_energy * w_energy);
        score[size_t(y * positions_x + x)] = float(ncc * std::sqrt(share));
      }
    }
  });
  return score;
}

// The places of a score map worth refining, with sub-pixel peaks: the best
// wholly inside (what a search without the frame finds), and the best
// `outside_peaks` partly outside that are peaks of the whole map (a place on
// the border of a better inside region is that region's slope, not a view of
// its own). Each as (x, y, score, partly outside) in framed search pixels.
struct Place {
  double x = 0, y = 0, score = -1;
  bool partly_outside = false;
};
std::vector<Place> best_places(const std::vector<float>& score, const Frame& frame, int64_t outside_peaks) {
  const int64_t px = frame.positions_x(), py = frame.positions_y();
  auto at = [&](int64_t x, int64_t y) { return double(score[size_t(y * px + x)]); };
  auto valid = [&](int64_t x, int64_t y) { return x >= 0 && x < px && y >= 0 && y < py && at(x, y) > -1.0; };
  int64_t best_inside = -1;
  std::vector<std::pair<double, int64_t>> peaks;  // (score, position) partly outside
  for (int64_t y = 0; y < py; ++y)
    for (int64_t x = 0; x < px; ++x) {
      if (!valid(x, y)) continue;
      const int64_t k = y * px + x;
      if (frame.wholly_inside(x, y)) {
        if (best_inside < 0 || score[size_t(k)] > score[size_t(best_inside)]) best_inside = k;
        continue;
      }
      bool peak = true;
      for (int64_t v = y - 1; v <= y + 1 && peak; ++v)
        for (int64_t u = x - 1; u <= x + 1; ++u)
          if ((u != x || v != y) && valid(u, v) && at(u, v) > at(x, y)) peak = false;
      if (peak) peaks.push_back({at(x, y), k});
    }
  std::sort(peaks.begin(), peaks.end(), std::greater<>());
  if (int64_t(peaks.size()) > outside_peaks) peaks.resize(size_t(outside_peaks));
  std::vector<int64_t> chosen;
  if (best_inside >= 0) chosen.push_back(best_inside);
  for (const auto& p : peaks) chosen.push_back(p.second);
  std::vector<Place> places;
  for (const int64_t k : chosen) {
    const int64_t bx = k % px, by = k / px;
    const bool inside = frame.wholly_inside(bx, by);
    // Sub-pixel peak from neighbours of the same kind.
    auto usable = [&](int64_t x, int64_t y) { return valid(x, y) && frame.wholly_inside(x, y) == inside; };
    const double peak = at(bx, by);
    const double dx = usable(bx - 1, by) && usable(bx + 1, by) ? parabola_peak(at(bx - 1, by), peak, at(bx + 1, by)) : 0.0;
    const double dy = usable(bx, by - 1) && usable(bx, by + 1) ? parabola_peak(at(bx, by - 1), peak, at(bx, by + 1)) : 0.0;
    places.push_back({double(bx) + dx, double(by) + dy, peak, !inside});
  }
  return places;
}

}  // namespace

std::vector<Candidate> coarse_search(const Plane& wide, int64_t wide_height, int64_t wide_width, const Plane& tele,
                                     int64_t tele_height, int64_t tele_width, const CoarseOptions& options) {
  std::vector<double> angles;
  const int64_t angle_steps = int64_t(std::floor(options.max_angle_deg / options.angle_step_deg + 1e-9));
  for (int64_t k = -angle_steps; k <= angle_steps; ++k) {
    const double degrees = double(k) * options.angle_step_deg;
    if (options.min_angle_deg > 0 && std::abs(degrees) <= options.min_angle_deg + 1e-9) continue;
    angles.push_back(degrees * kPi / 180);
  }
  // Every scale is a job of its own, on whichever thread is free: its images
  // are small (the template is about template_size pixels long, so a
  // scale's search plane is at most a few hundred wide), too small for its
  // loops to split well over threads, and the scales' costs differ. Their
  // candidates are put together in scale order: the same list on any thread
  // count (inside a job every loop runs on its thread, with the same sums).
  std::vector<double> scales;
  for (double s = options.min_scale; s <= options.max_scale * 1.0001; s *= options.scale_step) scales.push_back(s);
  std::vector<std::vector<Candidate>> by_scale(scales.size());
  const int64_t jobs = int64_t(scales.size());
  parallel_jobs(jobs, [&](int64_t job) {
    const double s = scales[size_t(job)];
    std::vector<Candidate>& found = by_scale[size_t(job)];
    // The view's size in wide pixels, and the search resolution that makes
    // the template about template_size px long (at most the given wide plane).
    const double view_w = double(tele_width) / s, view_h = double(tele_height) / s;
    double f = double(options.template_size) / (options.template_fraction * std::max(view_w, view_h));
    f = std::min({f, double(wide.width) / double(wide_width), double(wide.height) / double(wide_height)});
    Frame frame;
    frame.Wc = std::max<int64_t>(8, std::llround(double(wide_width) * f));
    frame.Hc = std::max<int64_t>(8, std::llround(double(wide_height) * f));
    const double fx = double(frame.Wc) / double(wide_width), fy = double(frame.Hc) / double(wide_height);
    frame.a = std::llround(options.template_fraction * view_w * fx);
    frame.b = std::llround(options.template_fraction * view_h * fy);
    if (frame.a < 4 || frame.b < 4 || frame.a > frame.Wc || frame.b > frame.Hc) return;
    // The wide image at the search resolution without its local means,
    // framed by zeros where the template may hang over its edges (views partly
    // outside the wide image).
    frame.mx = frame.a - int64_t(std::ceil(options.min_template_overlap * double(frame.a)));
    frame.my = frame.b - int64_t(std::ceil(options.min_template_overlap * double(frame.b)));
    const Plane search =
        pad_with_zeros(minus_local_mean(resize_plane(wide, frame.Hc, frame.Wc), options.local_mean_radius), frame.my, frame.mx);
    const WindowStats stats(search);
    // The telephoto at about the search resolution, sampled with rotation by make_template.
    const Plane tele_small = minus_local_mean(
        resize_plane(tele, std::max<int64_t>(2, std::llround(double(tele_height) * fy / s)),
                     std::max<int64_t>(2, std::llround(double(tele_width) * fx / s))),
        options.local_mean_radius);
    for (double angle : angles) {
      const Plane tmpl = make_template(tele_small, tele_height, tele_width, frame, s, angle, fx, fy);
      if (tmpl.data.empty()) continue;
      const std::vector<float> score = score_map(search, stats, tmpl, frame, options.min_template_overlap);
      for (const Place& p : best_places(score, frame, options.partial_peaks_per_pose)) {
        Candidate cand;
        cand.scale = s;
        cand.angle = angle;
        cand.centre_x = (p.x - double(frame.mx) + 0.5 * double(frame.a)) / fx;
        cand.centre_y = (p.y - double(frame.my) + 0.5 * double(frame.b)) / fy;
        cand.ncc = p.score;
        cand.partly_outside = p.partly_outside;
        found.push_back(cand);
      }
    }
  });
  std::vector<Candidate> found;  // the best places for every (scale, angle), in scale order
  for (const std::vector<Candidate>& of_scale : by_scale) found.insert(found.end(), of_scale.begin(), of_scale.end());
  std::sort(found.begin(), found.end(), [](const Candidate& x, const Candidate& y) { return x.ncc > y.ncc; });
  // Keep the best of each distinct view: another scale within 25% and a centre
  // within a quarter of the view's width describe the same hypothesis. Views
  // wholly inside first (the same hypotheses as a search without the frame),
  // then those partly outside. These get their own quota: at this resolution
  // small views fit smooth places almost as well as the true one, so a view
  // partly outside seldom ranks first (one candidate per 25% of scale covers
  // the range; a wrong one is dropped by the refinement's ZNCC, which is
  // discriminating).
  std::vector<Candidate> chosen;
  const auto same_view = [&](const Candidate& c, const Candidate& d) {
    const double view = double(tele_width) / d.scale;
    return std::abs(std::log(c.scale / d.scale)) < std::log(1.25) &&
           std::hypot(c.centre_x - d.centre_x, c.centre_y - d.centre_y) < 0.25 * view;
  };
  auto add_distinct = [&](bool partly_outside, int64_t quota) {
    int64_t taken = 0;
    for (const Candidate& c : found) {
      if (c.partly_outside != partly_outside) continue;
      if (taken >= quota) break;
      bool duplicate = false;
      for (const Candidate& d : chosen) duplicate = duplicate || same_view(c, d);
      if (!duplicate) chosen.push_back(c), ++taken;
    }
  };
  add_distinct(false, options.max_candidates);
  const size_t distinct_inside = chosen.size();
  add_distinct(true, options.max_partial_candidates);
  for (size_t h = 0; h < std::min(distinct_inside, size_t(options.neighbours_of)); ++h) {
    const Candidate best = chosen[h];
    int64_t taken = 0;
    for (const Candidate& c : found) {
      if (taken >= options.neighbour_poses) break;
      if (!c.partly_outside && (c.scale != best.scale || c.angle != best.angle) && same_view(c, best))
        chosen.push_back(c), ++taken;
    }
  }
  return chosen;
}

}  // namespace dcsr::registration
