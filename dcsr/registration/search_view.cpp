// The search behind register_pair: coarse hypotheses refined on pyramids (search_view.h).
#include "dcsr/registration/search_view.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "dcsr/registration/coarse_search.h"
#include "dcsr/registration/refine.h"
#include "runtime/scope_exit.h"
#include "runtime/threads.h"

namespace dcsr::registration {

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr int64_t kStructureRadius = 3;  // structure() window, in level pixels

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
  // Makes every telephoto level tele() may ask for (it stops at the first one
  // at most 16 px wide), so that tele() calls on several threads only read.
  void prepare_tele_levels() {
    int64_t m = 0;
    while (tele_.level(m + 1).width > 16) ++m;
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

struct Hypothesis {
  RefineResult result;
  bool plausible = false;
  int64_t start_level = 0, middle_level = 0;
};

}  // namespace

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

Attempt search_view(Pyramid& wide_pyramid, Pyramid& tele_pyramid, const RegisterOptions& options,
                    const AngleBand& band, const std::function<void(const char*)>& stage,
                    const SearchVariant& variant) {
  const int64_t Hw = wide_pyramid.height(), Ww = wide_pyramid.width();
  const int64_t Ht = tele_pyramid.height(), Wt = tele_pyramid.width();
  // 1. Coarse hypotheses.
  CoarseOptions coarse;
  coarse.min_scale = options.min_scale;
  coarse.max_scale = options.max_scale;
  coarse.max_angle_deg = band.up_to_deg;
  coarse.min_angle_deg = band.above_deg;
  coarse.neighbours_of = variant.neighbours_of;
  coarse.neighbour_poses = variant.neighbour_poses;
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
  RefineOptions start_refine = refine;  // the 48-px level's
  start_refine.translation_only = variant.hold_pose_at_start;
  const double view_long_px = double(std::max(Ht, Wt));
  auto plausible = [&](const RefineResult& r) {
    const Similarity s = r.params.to_similarity(double(Wt), double(Ht));
    return s.scale >= options.min_scale / 1.05 && s.scale <= options.max_scale * 1.05 &&
           std::abs(s.angle) <= (band.up_to_deg + variant.angle_slack_deg) * kPi / 180 && r.overlap >= options.min_overlap;
  };
  auto refine_down = [&](LinearSimilarity p, int64_t from, int64_t to, const RefineOptions& options) {
    RefineResult r;
    r.params = p;
    for (int64_t k = from; k >= to; --k) {
      const double scale = r.params.to_similarity(double(Wt), double(Ht)).scale;
      r = refine_level(images.wide(k), images.tele(k, scale), double(Wt), double(Ht), r.params, options);
    }
    return r;
  };
  // Every hypothesis gets a few iterations where the view is about 48 px
  // long; the two that match best there go on to the middle level. The
  // hypotheses are jobs on whichever thread is free (at 48 px their loops are
  // too small to split over threads). The wide and telephoto levels they need
  // are made first (the jobs only read LevelImages' cache and the pyramids),
  // and they are kept in the candidates' order: the same tracks on any thread
  // count.
  auto start_level = [&](const Candidate& c) { return level_for_view(view_long_px / c.scale, 48); };
  for (const Candidate& c : candidates) images.wide(start_level(c));
  images.prepare_tele_levels();
  std::vector<Hypothesis> started(candidates.size());
  const int64_t jobs = int64_t(candidates.size());
  parallel_jobs(jobs, [&](int64_t k) {
    const Candidate& c = candidates[size_t(k)];
    LinearSimilarity p;
    p.a = std::cos(c.angle) / c.scale;
    p.b = std::sin(c.angle) / c.scale;
    p.cx = c.centre_x;
    p.cy = c.centre_y;
    Hypothesis& h = started[size_t(k)];
    h.start_level = start_level(c);
    h.result = refine_down(p, h.start_level, h.start_level, start_refine);
    h.plausible = plausible(h.result);
  });
  std::vector<Hypothesis> tracks;
  for (const Hypothesis& h : started)
    if (h.plausible) tracks.push_back(h);
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
  if (tracks.size() > variant.continuing) tracks.resize(variant.continuing);
  Hypothesis best;
  for (Hypothesis& h : tracks) {
    const double view = view_long_px / h.result.params.to_similarity(double(Wt), double(Ht)).scale;
    const int64_t middle = std::min(h.start_level, level_for_view(view, 192));
    if (middle < h.start_level) h.result = refine_down(h.result.params, h.start_level - 1, middle, refine);
    h.middle_level = middle;
    h.plausible = plausible(h.result);
    if (h.plausible && (!best.plausible || evidence(h.result) > evidence(best.result))) best = h;
  }
  stage("hypotheses refined");
  // 3. The best one down to the finest level needed.
  Attempt out;
  out.required = options.min_confidence;
  const ScopeExit at_end([&] { stage("finest levels"); });
  if (best.plausible) {
    const Similarity mid = best.result.params.to_similarity(double(Wt), double(Ht));
    const double view_pixels = double(Wt) * double(Ht) / (mid.scale * mid.scale);
    const int64_t middle = best.middle_level;
    int64_t finest = 0;
    while (view_pixels / std::pow(4.0, double(finest)) > double(options.max_refine_pixels)) ++finest;
    finest = std::min(finest, middle);
    RefineResult fine = middle > finest ? refine_down(best.result.params, middle - 1, finest, refine) : best.result;
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

Attempt search_zoom_range(Pyramid& wide, Pyramid& tele, const RegisterOptions& options, const AngleBand& band,
                          const std::function<void(const char*)>& stage, const SearchVariant& variant) {
  if (options.max_scale <= options.long_zoom_from) return search_view(wide, tele, options, band, stage, variant);
  RegisterOptions first = options, longer = options;
  first.max_scale = options.long_zoom_from;
  longer.min_scale = std::max(options.min_scale, options.long_zoom_from);
  const Attempt ordinary = search_view(wide, tele, first, band, stage, variant);
  if (ordinary.accepted()) return ordinary;
  const Attempt long_zoom = search_view(wide, tele, longer, band, stage, variant);
  // Refused by both: the one nearer its bar is reported.
  return long_zoom.accepted() || share_of_bar(long_zoom) > share_of_bar(ordinary) ? long_zoom : ordinary;
}

}  // namespace dcsr::registration
