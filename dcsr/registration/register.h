// Automatic registration of a phone's wide + telephoto pair: where the
// telephoto's view lies in the wide image (registration.h's Similarity,
// telephoto -> wide pixels).
//
// How (coarse to fine, on luminance):
//  1. coarse_search (coarse_search.h): NCC of the telephoto's centred part
//     against the wide image over log-spaced scales in [min_scale, max_scale],
//     angles every 2.5 degrees in +-max_angle_deg and every translation, on
//     strongly downscaled images (antialiased, without their local means);
//     a few distinct hypotheses, views partly outside the wide image too.
//     Zooms above long_zoom_from are searched only when none below matched;
//     angles up to max_tilt_deg, and the telephoto turned by quarter turns,
//     only when nothing upright matched; then, when nothing matched at all, a
//     search for a scene with parallax (a close-up's near layer shifted
//     against the far one).
//  2. refine_level (refine.h): robust Gauss-Newton on the 4 parameters over a
//     pyramid of structure() planes (band-passed, locally normalised
//     luminance, so colour, gain and gamma differences cancel). Every
//     hypothesis is refined to a middle level; the best one (the highest
//     ZNCC relative to the chance bar below for its view) continues down to
//     the finest level the accuracy needs (the view at most
//     max_refine_pixels there: a 12 MP pair is not refined at full size).
//
// Confidence: the zero-mean normalised cross-correlation (ZNCC, in [-1, 1]) of
// the two structure planes over the overlap at the final transform, on the
// finest level used. Matching views score about 0.5-0.99; unrelated images
// about 0, but up to ~0.4 on views of only ~1000 wide pixels (a few random
// structures line up). So a pair is refused below
//   max(min_confidence, 32 / sqrt(n)),  n = wide pixels of the view inside the wide image
// (32 / sqrt(n): about eight times the chance standard deviation of a ZNCC over
// about n / 16 independent samples, calibrated on unrelated photo pairs:
// register.cpp; 0.32 at n = 10^4, 0.018 at a 12 MP 2x view).
#pragma once
#include "dcsr/registration/registration.h"
#include "io/image_io.h"
#include "tensor/tensor.h"

namespace dcsr {

struct RegisterOptions {
  double min_scale = 1.2, max_scale = 16.0;  // telephoto pixels per wide pixel
  // Zooms above this are searched only when none up to it matched (register.cpp search_zoom_range).
  double long_zoom_from = 8.0;
  double max_angle_deg = 5.0;
  // When nothing matches within max_angle_deg, angles beyond it up to this
  // are searched (two photos taken one after the other, the phone tilted in
  // between); at most max_angle_deg: not searched.
  double max_tilt_deg = 15.0;
  // When nothing matches upright or tilted, the telephoto is searched again
  // turned by 90, 180 and 270 degrees (within max_angle_deg of those).
  bool quarter_turns = true;
  // When nothing matches upright, tilted or turned, the search runs once more
  // for a scene with parallax (search_view.h SearchVariant::parallax()).
  bool parallax = true;
  // Below this confidence (or the chance bar above, when higher) the pair is
  // refused: an Error naming the value, the threshold and `--registration none`.
  double min_confidence = 0.25;
  // At least this fraction of the telephoto's view must lie inside the wide image.
  double min_overlap = 0.5;
  // The finest refinement level is the first whose view has at most this many pixels.
  int64_t max_refine_pixels = 1000000;
  // `identity` when the pixel sizes are equal and the corners are within this
  // many wide pixels of the canonical layout's, the angle within identity_deg.
  double identity_px = 0.05, identity_deg = 0.01;
};

// wide, tele: RGB (1, 3, H, W) float32 on the CPU, values in [0, 1], any sizes.
// Throws dcsr::Error for bad input and for a pair whose best confidence is
// below its bar; the message says so when the two photos look swapped (the
// wide image's view found inside the telephoto) or show the same zoom.
Registration register_pair(const Tensor& wide, const Tensor& tele, const RegisterOptions& options = {});
// The same from the images as read: only their luminance is made (float32,
// 4 bytes a pixel), not float32 RGB (12): for a 48 MP telephoto 195 MB
// instead of 780.
Registration register_pair(const CompactImage& wide, const CompactImage& tele, const RegisterOptions& options = {});

// Whether `tele_to_wide` is the canonical DCSR layout of the pair (its
// `identity`): the same pixel size, the angle within options.identity_deg
// and every corner within options.identity_px of the canonical one's.
bool is_canonical_layout(const Similarity& tele_to_wide, int64_t wide_height, int64_t wide_width,
                         int64_t tele_height, int64_t tele_width, const RegisterOptions& options = {});

// The four corners of a telephoto of tele_height x tele_width mapped into the
// wide image (Registration::fov_quad's order).
std::array<std::array<double, 2>, 4> fov_quad(const Similarity& tele_to_wide, int64_t tele_height, int64_t tele_width);

// The canonical DCSR layout for an H x W pair: scale 2, angle 0, (W/4, H/4).
Similarity canonical_similarity(int64_t height, int64_t width);

}  // namespace dcsr
