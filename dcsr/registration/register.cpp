// register_pair: coarse NCC search, then robust Gauss-Newton on a pyramid (register.h).
#include "dcsr/registration/register.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <cstdlib>
#include <cmath>
#include <functional>
#include <iomanip>
#include <map>
#include <sstream>

#include "dcsr/registration/coarse_search.h"
#include "dcsr/registration/plane.h"
#include "dcsr/registration/refine.h"
#include "tensor/error.h"

namespace dcsr {

using namespace registration;

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr int64_t kStructureRadius = 3;  // structure() window, in level pixels
constexpr double kTurnedBarFactor = 1.5;  // the bar for a telephoto turned by quarter turns (register_luminance)

// A power-of-two pyramid of a luminance plane, built on demand: level k is
// level k - 1 halved (rounded), so its continuous coordinates are the full
// ones times width_k / width_0 (and height_k / height_0).
class Pyramid {
 public:
  explicit Pyramid(Plane full) { levels_.push_back(std::move(full)); }
  const Plane& level(int64_t k) {
    while (int64_t(levels_.size()) <= k) {
      const Plane& last = levels_.back();
      levels_.push_back(resize_plane(last, std::max<int64_t>(1, (last.height + 1) / 2),
                                     std::max<int64_t>(1, (last.width + 1) / 2)));
    }
    return levels_[size_t(k)];
  }
  // The smallest level whose long side is still at least `long_side` (level 0 at most).
  const Plane& at_least(int64_t long_side) {
    int64_t k = 0;
    while (std::max(level(k + 1).height, level(k + 1).width) >= long_side && level(k + 1).width > 1) ++k;
    return level(k);
  }
  int64_t height() const { return levels_[0].height; }
  int64_t width() const { return levels_[0].width; }

 private:
  std::vector<Plane> levels_;
};

// The per-level images of the refinement: the wide structure plane (cached
// per level) and the telephoto's, resampled to the wide level's density.
class LevelImages {
 public:
  LevelImages(Pyramid& wide, Pyramid& tele) : wide_(wide), tele_(tele) {}
  const WideLevel& wide(int64_t k) {
    auto it = wide_levels_.find(k);
    if (it != wide_levels_.end()) return it->second;
    const Plane& lum = wide_.level(k);
    WideLevel w;
    w.level.image = structure(lum, kStructureRadius);
    w.level.kx = double(wide_.width()) / double(lum.width);
    w.level.ky = double(wide_.height()) / double(lum.height);
    gradients(w.level.image, w.gx, w.gy);
    return wide_levels_.emplace(k, std::move(w)).first->second;
  }
  // The telephoto at `scale` telephoto pixels per wide pixel, at wide level k's density.
  LevelPlane tele(int64_t k, double scale) {
    const WideLevel& w = wide(k);
    const double factor = scale * std::sqrt(w.level.kx * w.level.ky);  // telephoto pixels per level pixel
    int64_t m = 0;
    while (std::ldexp(1.0, int(m + 1)) <= factor && tele_.level(m + 1).width > 16) ++m;
    const Plane& source = tele_.level(m);
    const int64_t h = std::max<int64_t>(8, std::llround(double(tele_.height()) / factor));
    const int64_t wd = std::max<int64_t>(8, std::llround(double(tele_.width()) / factor));
    LevelPlane t;
    t.image = structure(resize_plane(source, std::min(h, source.height), std::min(wd, source.width)), kStructureRadius);
    t.kx = double(tele_.width()) / double(t.image.width);
    t.ky = double(tele_.height()) / double(t.image.height);
    return t;
  }

 private:
  Pyramid& wide_;
  Pyramid& tele_;
  std::map<int64_t, WideLevel> wide_levels_;
};

// The pyramid level (of the wide image) where the view's long side is about `pixels`.
int64_t level_for_view(double view_long_side, double pixels) {
  return std::max<int64_t>(0, int64_t(std::floor(std::log2(std::max(1.0, view_long_side / pixels)))));
}

// The confidence an unrelated pair can reach by chance on a view of n wide
// pixels: the ZNCC of band-passed planes (correlation length about 4 px, so
// about n / 16 independent samples) has a chance standard deviation of about
// 4 / sqrt(n); the search takes the best of many places, so the bar is about
// eight of those. The first coarse search (views wholly inside, bare
// luminance) had 25 / sqrt(n): on 24 unrelated photo pairs up to 0.41 on a
// 1300 px view (bar 0.69), 0.29 on 4800 px (bar 0.36), 0.15 above 10^4 px;
// on 128 pairs of dcsr_bench register_unrelated (five seeds) at most 0.85 of
// that bar. The search that also proposes views partly outside, on images
// without their local means, gives chance more and better tries: on 466 such
// pairs (eighteen seeds) up to 1.09 of 25 / sqrt(n), two pairs accepted.
// 32 / sqrt(n) puts that worst case at 0.85 again; on 208 pairs of eight
// fresh seeds, at most 0.72 of it.
double chance_ncc_bar(double view_pixels) { return 32.0 / std::sqrt(std::max(view_pixels, 1.0)); }

struct Hypothesis {
  RefineResult result;
  bool plausible = false;
  int64_t start_level = 0, middle_level = 0;
};

// The image itself when it is float32 on the CPU already (no 150 MB copy of a 12 MP image).
Tensor cpu_float(const Tensor& t) {
  Tensor out = t;
  if (out.dtype() != kFloat32) out = out.to(kFloat32);
  if (!out.is_cpu()) out = out.to(kCPU);
  return out;
}

}  // namespace

std::array<std::array<double, 2>, 4> fov_quad(const Similarity& t, int64_t tele_height, int64_t tele_width) {
  const double w = double(tele_width), h = double(tele_height);
  return {t.to_wide(0, 0), t.to_wide(w, 0), t.to_wide(w, h), t.to_wide(0, h)};
}

Similarity canonical_similarity(int64_t height, int64_t width) {
  return {2.0, 0.0, double(width) / 4.0, double(height) / 4.0};
}

namespace {

// One search for the telephoto's view in the wide image over options' scale and
// angle range: the best transform and its confidence, or none. Never throws
// for a mismatch; the caller decides.
struct Attempt {
  bool found = false;  // a plausible transform (in range, enough of the view inside)
  Similarity tele_to_wide;
  double confidence = -1.0;   // its ZNCC (-1 when nothing was found)
  double required = 0.0;      // the bar it had to reach: max(min_confidence, chance bar)
  double view_pixels_inside = 0.0;
  bool accepted() const { return found && confidence >= required; }
};

// `stage` reports each stage's time (DCSR_REGISTER_TIMING).
Attempt search_view(Pyramid& wide_pyramid, Pyramid& tele_pyramid, const RegisterOptions& options,
                    const std::function<void(const char*)>& stage) {
  const int64_t Hw = wide_pyramid.height(), Ww = wide_pyramid.width();
  const int64_t Ht = tele_pyramid.height(), Wt = tele_pyramid.width();
  // 1. Coarse hypotheses.
  CoarseOptions coarse;
  coarse.min_scale = options.min_scale;
  coarse.max_scale = options.max_scale;
  coarse.max_angle_deg = options.max_angle_deg;
  // The largest search image the coarse stage makes (the largest scale's
  // view's: long side template_size / template_fraction * max_scale * wide /
  // telephoto long sides), doubled: the wide pyramid level it resamples from
  // (not the 12 MP image).
  const int64_t coarse_wide_long_side = std::min<int64_t>(
      1024, 2 * int64_t(std::ceil(double(coarse.template_size) / coarse.template_fraction * options.max_scale *
                                  double(std::max(Hw, Ww)) / double(std::max(Ht, Wt)))));
  const std::vector<Candidate> candidates =
      coarse_search(wide_pyramid.at_least(coarse_wide_long_side), Hw, Ww, tele_pyramid.at_least(256), Ht, Wt, coarse);
  stage("coarse search");
  // 2. Each hypothesis refined down to a middle level, where they are compared.
  LevelImages images(wide_pyramid, tele_pyramid);
  RefineOptions refine;
  const double view_long_px = double(std::max(Ht, Wt));
  auto plausible = [&](const RefineResult& r) {
    const Similarity s = r.params.to_similarity(double(Wt), double(Ht));
    return s.scale >= options.min_scale / 1.05 && s.scale <= options.max_scale * 1.05 &&
           std::abs(s.angle) <= (options.max_angle_deg + 1.0) * kPi / 180 && r.overlap >= options.min_overlap;
  };
  auto refine_down = [&](LinearSimilarity p, int64_t from, int64_t to) {
    RefineResult r;
    r.params = p;
    for (int64_t k = from; k >= to; --k) {
      const double scale = r.params.to_similarity(double(Wt), double(Ht)).scale;
      r = refine_level(images.wide(k), images.tele(k, scale), double(Wt), double(Ht), r.params, refine);
    }
    return r;
  };
  // Every hypothesis gets a few iterations where the view is about 48 px
  // long; the two that match best there go on to the middle level.
  std::vector<Hypothesis> tracks;
  for (const Candidate& c : candidates) {
    LinearSimilarity p;
    p.a = std::cos(c.angle) / c.scale;
    p.b = std::sin(c.angle) / c.scale;
    p.cx = c.centre_x;
    p.cy = c.centre_y;
    const int64_t start = level_for_view(view_long_px / c.scale, 48);
    Hypothesis h;
    h.result = refine_down(p, start, start);
    h.start_level = start;
    h.plausible = plausible(h.result);
    if (h.plausible) tracks.push_back(h);
  }
  // Hypotheses are compared by their ZNCC over what chance gives on a view of
  // their size (chance_ncc_bar): a small wrong view can match by chance as
  // well as a large true one whose ZNCC parallax holds down (a dualfocal pair
  // whose true 58000 px view ends at 0.303 had a wrong 4700 px one at 0.305).
  auto evidence = [&](const RefineResult& r) {
    const double scale = r.params.to_similarity(double(Wt), double(Ht)).scale;
    return r.ncc / chance_ncc_bar(r.overlap * double(Wt) * double(Ht) / (scale * scale));
  };
  std::sort(tracks.begin(), tracks.end(),
            [&](const Hypothesis& x, const Hypothesis& y) { return evidence(x.result) > evidence(y.result); });
  if (tracks.size() > 2) tracks.resize(2);
  Hypothesis best;
  for (Hypothesis& h : tracks) {
    const double view = view_long_px / h.result.params.to_similarity(double(Wt), double(Ht)).scale;
    const int64_t middle = std::min(h.start_level, level_for_view(view, 192));
    if (middle < h.start_level) h.result = refine_down(h.result.params, h.start_level - 1, middle);
    h.middle_level = middle;
    h.plausible = plausible(h.result);
    if (h.plausible && (!best.plausible || evidence(h.result) > evidence(best.result))) best = h;
  }
  stage("hypotheses refined");
  // 3. The best one down to the finest level needed.
  Attempt out;
  out.required = options.min_confidence;
  struct StageAtEnd {
    std::function<void()> fn;
    ~StageAtEnd() { fn(); }
  } at_end{[&] { stage("finest levels"); }};
  if (best.plausible) {
    const Similarity mid = best.result.params.to_similarity(double(Wt), double(Ht));
    const double view_pixels = double(Wt) * double(Ht) / (mid.scale * mid.scale);
    const int64_t middle = best.middle_level;
    int64_t finest = 0;
    while (view_pixels / std::pow(4.0, double(finest)) > double(options.max_refine_pixels)) ++finest;
    finest = std::min(finest, middle);
    RefineResult fine = middle > finest ? refine_down(best.result.params, middle - 1, finest) : best.result;
    if (plausible(fine)) {
      out.found = true;
      out.confidence = fine.ncc;
      out.tele_to_wide = fine.params.to_similarity(double(Wt), double(Ht));
      const double scale = out.tele_to_wide.scale;
      out.view_pixels_inside = fine.overlap * double(Wt) * double(Ht) / (scale * scale);
      out.required = std::max(out.required, chance_ncc_bar(out.view_pixels_inside));
    }
  }
  return out;
}

// How near an attempt came to its bar (1: on it); -1 when nothing was found.
double share_of_bar(const Attempt& a) { return a.found ? a.confidence / a.required : -1.0; }

// The search over the whole zoom range, in two passes: zooms up to
// options.long_zoom_from first, and the longer ones only when nothing below
// matched. Searched together, the long zooms' views (a few dozen wide pixels
// on a small wide image, searched at nearly full resolution over many more
// places) reach high NCCs by chance and crowd the true view out of the
// hypotheses: 1 of the 60 pairs of dcsr_bench register_accuracy (4-5x) was
// refused so, and the search took 50% longer. Pairs in the first range get
// exactly the hypotheses they had when it was the whole range.
Attempt search_zoom_range(Pyramid& wide, Pyramid& tele, const RegisterOptions& options,
                          const std::function<void(const char*)>& stage) {
  if (options.max_scale <= options.long_zoom_from) return search_view(wide, tele, options, stage);
  RegisterOptions first = options, longer = options;
  first.max_scale = options.long_zoom_from;
  longer.min_scale = std::max(options.min_scale, options.long_zoom_from);
  const Attempt ordinary = search_view(wide, tele, first, stage);
  if (ordinary.accepted()) return ordinary;
  const Attempt long_zoom = search_view(wide, tele, longer, stage);
  // Refused by both: the one nearer its bar is reported.
  return long_zoom.accepted() || share_of_bar(long_zoom) > share_of_bar(ordinary) ? long_zoom : ordinary;
}

// The plane turned clockwise by `turns` quarter turns (1, 2 or 3): exact, a
// permutation of its pixels.
Plane turned_clockwise(const Plane& p, int turns) {
  const bool sideways = turns % 2 == 1;
  Plane out(sideways ? p.width : p.height, sideways ? p.height : p.width);
  for (int64_t y = 0; y < p.height; ++y)
    for (int64_t x = 0; x < p.width; ++x) {
      int64_t xr = x, yr = y;
      if (turns == 1) xr = p.height - 1 - y, yr = x;
      if (turns == 2) xr = p.width - 1 - x, yr = p.height - 1 - y;
      if (turns == 3) xr = y, yr = p.width - 1 - x;
      out.row(yr)[xr] = p.row(y)[x];
    }
  return out;
}

// A transform found for the telephoto turned by `turns` quarter turns
// clockwise (turned_clockwise of an Ht x Wt telephoto) as a transform of the
// telephoto itself: telephoto point -> turned point -> wide point.
Similarity unturned(const Similarity& of_turned, int turns, int64_t Ht, int64_t Wt) {
  const auto turn = [&](double x, double y) -> std::array<double, 2> {
    if (turns == 1) return {double(Ht) - y, x};
    if (turns == 2) return {double(Wt) - x, double(Ht) - y};
    return {y, double(Wt) - x};
  };
  const auto at = [&](double x, double y) {
    const auto t = turn(x, y);
    return of_turned.to_wide(t[0], t[1]);
  };
  const auto origin = at(0, 0), unit_x = at(1, 0);
  const double dx = unit_x[0] - origin[0], dy = unit_x[1] - origin[1];  // (cos a, sin a) / scale
  return {1.0 / std::hypot(dx, dy), std::atan2(dy, dx), origin[0], origin[1]};
}

// Why a pair was refused, in its owner's terms. Two common mistakes are
// recognised by searching again, which only a refused pair pays for: the two
// photos given the other way round (the wide image found inside the
// telephoto), and two photos at about the same zoom. Otherwise the message
// names the confidence, the bar, what was searched and the way out.
std::string refusal_message(Pyramid& wide, Pyramid& tele, const RegisterOptions& options, const Attempt& refused) {
  const auto quiet = [](const char*) {};
  std::ostringstream msg;
  msg.precision(3);
  const Attempt swapped = search_zoom_range(tele, wide, options, quiet);
  if (swapped.accepted()) {
    msg << std::fixed << std::setprecision(2) << "register: the two photos look swapped: the wide image's view lies inside the telephoto (at "
        << swapped.tele_to_wide.scale << "x, confidence " << swapped.confidence
        << "); give the photo with the wider view as the wide image and the closer one as the telephoto";
    return msg.str();
  }
  RegisterOptions same_zoom = options;  // the telephoto's density within min_scale of the wide image's
  same_zoom.min_scale = 1.0 / options.min_scale;
  same_zoom.max_scale = options.min_scale;
  const Attempt same = search_view(wide, tele, same_zoom, quiet);
  if (same.accepted() && same.tele_to_wide.scale < options.min_scale) {
    msg << std::fixed << std::setprecision(2) << "register: the two photos show the scene at about the same zoom (the telephoto at "
        << same.tele_to_wide.scale << "x the wide image's pixel density, confidence " << same.confidence
        << "); the telephoto must be a closer view, at least " << options.min_scale << "x";
    return msg.str();
  }
  msg << "register: the telephoto does not match the wide image (confidence " << std::max(refused.confidence, -1.0)
      << " < " << refused.required << " required";
  if (refused.required > options.min_confidence)
    msg << " for a view of " << std::llround(refused.view_pixels_inside) << " wide pixels";
  msg << "; searched: zoom " << options.min_scale << "x-" << options.max_scale << "x, rotation up to "
      << options.max_angle_deg << " degrees" << (options.quarter_turns ? " (also of a quarter or half turn)" : "")
      << ", at least " << std::llround(100 * options.min_overlap)
      << "% of the view inside the wide image); check the pair, or pass --registration none to use the telephoto "
         "as it is";
  return msg.str();
}

}  // namespace

namespace {

void check_size(const char* which, int64_t height, int64_t width) {
  DCSR_CHECK(height >= 32 && width >= 32, "register: the ", which, " image is ", width, "x", height,
             "; registration needs at least 32x32 pixels");
}

// DCSR_REGISTER_TIMING: each stage's wall and CPU time on stderr.
class StageTimer {
 public:
  void operator()(const char* name) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    const std::clock_t cpu = std::clock();
    std::fprintf(stderr, "register: %s %.1f ms wall, %.1f ms cpu\n", name,
                 std::chrono::duration<double>(now - wall_).count() * 1e3, double(cpu - cpu_) * 1e3 / CLOCKS_PER_SEC);
    wall_ = now;
    cpu_ = cpu;
  }

 private:
  bool enabled_ = std::getenv("DCSR_REGISTER_TIMING") != nullptr;
  std::chrono::steady_clock::time_point wall_ = std::chrono::steady_clock::now();
  std::clock_t cpu_ = std::clock();
};

// register_pair on the two images' luminance.
Registration register_luminance(Plane wide_luma, Plane tele_luma, const RegisterOptions& options, StageTimer& timer) {
  const std::function<void(const char*)> stage = [&](const char* name) { timer(name); };
  const int64_t Ht = tele_luma.height, Wt = tele_luma.width;
  Pyramid wide_pyramid(std::move(wide_luma));
  Pyramid tele_pyramid(std::move(tele_luma));
  Attempt best = search_zoom_range(wide_pyramid, tele_pyramid, options, stage);
  // Not found upright: the telephoto turned by a quarter or half turn (a
  // photo whose EXIF orientation was lost, or a phone held the other way),
  // searched only now, so upright pairs pay nothing.
  for (int turns = 1; turns <= 3 && !best.accepted() && options.quarter_turns; ++turns) {
    Pyramid turned(turned_clockwise(tele_pyramid.level(0), turns));
    const auto quiet = [](const char*) {};
    Attempt found = search_zoom_range(wide_pyramid, turned, options, quiet);
    if (found.found) found.tele_to_wide = unturned(found.tele_to_wide, turns, Ht, Wt);
    // Three more orientations are three more tries for chance: on 744
    // unrelated pairs (dcsr_bench register_unrelated, 31 seeds) the turned
    // searches reached 1.13 of the bar, the upright one 0.91. A turned match
    // must clear kTurnedBarFactor times the bar (those 1.13 are then 0.75).
    found.required *= kTurnedBarFactor;
    // Refused every way: the attempt nearest its bar is the one reported.
    if (found.accepted() || share_of_bar(found) > share_of_bar(best)) best = found;
  }
  if (!best.accepted()) throw Error(refusal_message(wide_pyramid, tele_pyramid, options, best));
  Registration reg;
  reg.tele_to_wide = best.tele_to_wide;
  reg.confidence = best.confidence;
  reg.fov_quad = fov_quad(reg.tele_to_wide, Ht, Wt);
  const int64_t Hw = wide_pyramid.height(), Ww = wide_pyramid.width();
  if (Hw == Ht && Ww == Wt && std::abs(reg.tele_to_wide.angle) <= options.identity_deg * kPi / 180) {
    const auto canonical = fov_quad(canonical_similarity(Hw, Ww), Ht, Wt);
    double worst = 0;
    for (size_t i = 0; i < 4; ++i)
      worst = std::max(worst, std::hypot(reg.fov_quad[i][0] - canonical[i][0], reg.fov_quad[i][1] - canonical[i][1]));
    if (worst <= options.identity_px) {
      // Already canonical: report the exact layout, which callers then keep as it is.
      reg.identity = true;
      reg.tele_to_wide = canonical_similarity(Hw, Ww);
      reg.fov_quad = canonical;
    }
  }
  return reg;
}

}  // namespace

Registration register_pair(const Tensor& wide, const Tensor& tele, const RegisterOptions& options) {
  for (const Tensor* t : {&wide, &tele}) {
    const char* which = t == &wide ? "wide" : "telephoto";
    DCSR_CHECK(t->defined() && t->dim() == 4 && t->size(0) == 1 && t->size(1) == 3, "register: the ", which,
               " image must be RGB (1, 3, H, W), got ", t->defined() ? shape_str(t->shape()) : std::string("nothing"));
    check_size(which, t->size(2), t->size(3));
  }
  StageTimer timer;
  Plane wide_luma = luminance(cpu_float(wide)), tele_luma = luminance(cpu_float(tele));
  timer("luminance");
  return register_luminance(std::move(wide_luma), std::move(tele_luma), options, timer);
}

Registration register_pair(const CompactImage& wide, const CompactImage& tele, const RegisterOptions& options) {
  check_size("wide", wide.height(), wide.width());
  check_size("telephoto", tele.height(), tele.width());
  StageTimer timer;
  Plane wide_luma = luminance(wide), tele_luma = luminance(tele);
  timer("luminance");
  return register_luminance(std::move(wide_luma), std::move(tele_luma), options, timer);
}

}  // namespace dcsr
