// The coarse stage of registration: where, at which zoom and at which small
// angle the telephoto's view best matches the wide image, found by an
// exhaustive search of normalised cross-correlation (NCC) on strongly
// downscaled luminance. Each candidate scale gets its own working resolution,
// chosen so that the telephoto's template is about `template_size` px long:
// the cost stays similar at every scale (a 1.2x view is searched on a small
// wide image, an 8x view on a larger one).
#pragma once
#include <vector>

#include "dcsr/registration/plane.h"

namespace dcsr::registration {

struct CoarseOptions {
  double min_scale = 1.2, max_scale = 16.0;
  double scale_step = 1.07;      // ratio between consecutive candidate scales
  double max_angle_deg = 5.0;    // angles searched: -max .. +max,
  double min_angle_deg = 0.0;    // leaving out those within +-min (searched by an earlier pass)
  double angle_step_deg = 2.5;
  int64_t template_size = 20;    // long side of the telephoto template, in search pixels
  double template_fraction = 0.7;  // the centred part of the view used as the template
  // Both images lose their local mean over (2 r + 1)^2 search pixels before
  // matching, so the NCC follows edges and texture: on the bare luminance a
  // small view fits the smooth gradients of a sky or a wall almost anywhere.
  int64_t local_mean_radius = 4;
  // Places where the template hangs over the wide image's edges are searched
  // too, down to this share of it inside (a view partly outside the wide image:
  // a cropped wide photo, or a telephoto shot aimed near the wide one's edge).
  double min_template_overlap = 0.5;
  int64_t max_candidates = 6;    // distinct hypotheses handed to the refinement, wholly inside
  int64_t max_partial_candidates = 10;  // and partly outside the wide image
  int64_t partial_peaks_per_pose = 3;   // peaks partly outside kept per (scale, angle)
  // Other poses of the best views: for each of the first `neighbours_of`
  // hypotheses wholly inside, the best places of up to `neighbour_poses`
  // other (scale, angle) pairs that describe the same view (another scale
  // within 25%, the centre within a quarter of the view's width), best NCC
  // first. Otherwise they are dropped as its duplicates. 0: none.
  int64_t neighbours_of = 0;
  int64_t neighbour_poses = 0;
};

// One hypothesis: scale and angle of registration.h's Similarity and the wide
// position (full-resolution continuous coordinates) of the telephoto's centre.
struct Candidate {
  double scale = 0, angle = 0, centre_x = 0, centre_y = 0;
  // The template's NCC at that place (over the part inside the wide image,
  // times the square root of that part's share when it is not all of it).
  double ncc = -1;
  bool partly_outside = false;  // the template hangs over the wide image's edge
};

// wide: the wide image's luminance downscaled by any factor (full width
// wide_width); tele: the telephoto's luminance downscaled likewise (full size
// tele_height x tele_width). Returns up to max_candidates hypotheses wholly
// inside, best NCC first, then up to max_partial_candidates partly outside, no
// two of them describing nearly the same view.
std::vector<Candidate> coarse_search(const Plane& wide, int64_t wide_height, int64_t wide_width, const Plane& tele,
                                     int64_t tele_height, int64_t tele_width, const CoarseOptions& options);

}  // namespace dcsr::registration
