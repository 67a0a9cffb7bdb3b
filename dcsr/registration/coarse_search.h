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
  double min_scale = 1.2, max_scale = 8.0;
  double scale_step = 1.07;      // ratio between consecutive candidate scales
  double max_angle_deg = 5.0;    // angles searched: -max .. +max
  double angle_step_deg = 2.5;
  int64_t template_size = 20;    // long side of the telephoto template, in search pixels
  double template_fraction = 0.7;  // the centred part of the view used as the template
  int64_t max_candidates = 6;    // distinct hypotheses handed to the refinement
};

// One hypothesis: scale and angle of registration.h's Similarity and the wide
// position (full-resolution continuous coordinates) of the telephoto's centre.
struct Candidate {
  double scale = 0, angle = 0, centre_x = 0, centre_y = 0;
  double ncc = -1;  // the template's NCC at that place
};

// wide: the wide image's luminance downscaled by any factor (full width
// wide_width); tele: the telephoto's luminance downscaled likewise (full size
// tele_height x tele_width). Returns up to max_candidates hypotheses, best NCC
// first, no two of them describing nearly the same view.
std::vector<Candidate> coarse_search(const Plane& wide, int64_t wide_height, int64_t wide_width, const Plane& tele,
                                     int64_t tele_height, int64_t tele_width, const CoarseOptions& options);

}  // namespace dcsr::registration
