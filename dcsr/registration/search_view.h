// The search behind register_pair (register.h): where the telephoto's view
// lies in the wide image over a range of zooms, on luminance pyramids, with
// its confidence and the bar chance sets for it. register.cpp decides what to
// search (upright, turned, the diagnoses of a refusal) and what to report.
#pragma once
#include <algorithm>
#include <cstdint>
#include <functional>
#include <vector>

#include "dcsr/registration/plane.h"
#include "dcsr/registration/register.h"

namespace dcsr::registration {

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

// The confidence an unrelated pair can reach by chance on a view of n wide
// pixels (search_view.cpp says how it was calibrated).
double chance_ncc_bar(double view_pixels);

// One search's outcome: the best transform and its confidence, or none.
struct Attempt {
  bool found = false;  // a plausible transform (in range, enough of the view inside)
  Similarity tele_to_wide;
  double confidence = -1.0;   // its ZNCC (-1 when nothing was found)
  double required = 0.0;      // the bar it had to reach: max(min_confidence, chance bar)
  double view_pixels_inside = 0.0;
  bool accepted() const { return found && confidence >= required; }
};

// How near an attempt came to its bar (1: on it); -1 when nothing was found.
inline double share_of_bar(const Attempt& a) { return a.found ? a.confidence / a.required : -1.0; }

// The angles one search tries, in degrees: above_deg < |angle| <= up_to_deg
// (above_deg 0: from upright). The refinement may end up to 1 degree past
// up_to_deg.
struct AngleBand {
  double above_deg = 0.0, up_to_deg = 5.0;
};

// How one search proposes and refines its hypotheses. The default is the
// search every pass makes; parallax() is the one a search that found nothing
// makes once more (register.cpp), for a scene with parallax (a close-up: a
// near layer shifted against the far one). There the coarse search can rank
// a wrong scale of the true view first and drop the true scale as its
// duplicate, and the 48-px level, which cannot tell the layers apart, can
// trade scale for the layers' shift (a 2.21x pose refined to 2.30x, the
// truth 2.15x, from where the finer levels do not return).
struct SearchVariant {
  // Other poses of the best views proposed too (CoarseOptions::neighbours_of, neighbour_poses).
  int64_t neighbours_of = 0, neighbour_poses = 0;
  // Scale and angle held at the 48-px level (RefineOptions::translation_only).
  bool hold_pose_at_start = false;
  // The hypotheses that go on from the 48-px level to the middle one.
  size_t continuing = 2;
  // How far past its band a transform may end (a 5.5-degree tilt found
  // upright). None for parallax(): its wider search can settle on a
  // compromise at the band's edge for a view tilted beyond it (a pair tilted
  // by 8 degrees, searched upright, came out at 5.75 degrees and 5.5 px off,
  // confidence 0.29).
  double angle_slack_deg = 1.0;

  static SearchVariant parallax() {
    SearchVariant v;
    v.neighbours_of = 2, v.neighbour_poses = 8;
    v.hold_pose_at_start = true;
    v.continuing = 6;
    v.angle_slack_deg = 0.0;
    return v;
  }
};

// One search for the telephoto's view in the wide image over options' scale
// range and the angles of `band` (coarse NCC search, then Gauss-Newton
// refinement of the best hypotheses). Never throws for a mismatch; the caller
// decides. `stage` reports each stage's time (DCSR_REGISTER_TIMING).
Attempt search_view(Pyramid& wide, Pyramid& tele, const RegisterOptions& options, const AngleBand& band,
                    const std::function<void(const char*)>& stage, const SearchVariant& variant = {});

// The search over the whole zoom range, in two passes: zooms up to
// options.long_zoom_from first, and the longer ones only when nothing below
// matched. Searched together, the long zooms' views (a few dozen wide pixels
// on a small wide image, searched at nearly full resolution over many more
// places) reach high NCCs by chance and crowd the true view out of the
// hypotheses: 1 of the 60 pairs of dcsr_bench register_accuracy (4-5x) was
// refused so, and the search took 50% longer. Pairs in the first range get
// exactly the hypotheses they had when it was the whole range.
Attempt search_zoom_range(Pyramid& wide, Pyramid& tele, const RegisterOptions& options, const AngleBand& band,
                          const std::function<void(const char*)>& stage, const SearchVariant& variant = {});

}  // namespace dcsr::registration
