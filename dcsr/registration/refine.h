// The fine stage of registration: Gauss-Newton (forward-additive Lucas-Kanade)
// on the four parameters of a similarity, at one level of an image pyramid,
// with Huber weights against outliers (parallax, occlusions, clipped
// highlights). The images compared are structure() planes (plane.h), so gain,
// colour and gamma differences between the cameras do not bias the fit.
//
// The similarity is written linearly, around the telephoto's centre c_t:
//   x_w = [a -b; b a] (x_t - c_t) + (cx, cy),  a = cos(angle) / scale, b = sin(angle) / scale
// in full-resolution pixel coordinates; a level only decides where samples are
// taken, so parameters carry over unchanged from level to level.
#pragma once
#include <cstdint>

#include "dcsr/registration/plane.h"
#include "dcsr/registration/registration.h"

namespace dcsr::registration {

struct LinearSimilarity {
  double a = 0.5, b = 0.0, cx = 0.0, cy = 0.0;
  static LinearSimilarity from(const Similarity& s, double tele_width, double tele_height);
  Similarity to_similarity(double tele_width, double tele_height) const;
};

// A structure plane at one pyramid level and its size factors: kx, ky are
// full-resolution pixels per level pixel along x and y.
struct LevelPlane {
  Plane image;
  double kx = 1.0, ky = 1.0;
};

// The wide level also carries its gradients (per level pixel).
struct WideLevel {
  LevelPlane level;
  Plane gx, gy;
};

struct RefineOptions {
  int64_t max_iterations = 20;
  double huber = 1.345;          // Huber threshold in robust standard deviations (1.4826 MAD)
  int64_t max_samples = 250000;  // telephoto samples per iteration (a regular subgrid beyond this)
  double converged_px = 0.002;   // stop when no corner moves more than this, in level pixels
  bool translation_only = false;  // scale and angle held: only (cx, cy) move
};

struct RefineResult {
  LinearSimilarity params;
  double ncc = -1.0;      // ZNCC of the two structure planes over the overlap at `params`
  double overlap = 0.0;   // the fraction of the telephoto's samples that land inside the wide image
  int64_t iterations = 0;
};

// The median magnitude of a refinement's residuals, for its Huber threshold:
// over the n values whose valid flag is set, their count and the
// (count / 2)-th smallest |value| (0-based; 0 when count is 0), exactly what
// std::nth_element finds among those magnitudes. Found with three histogram
// passes over the magnitudes' bits (non-negative floats order as their bit
// patterns do), each on all threads: the selection was serial, and every
// Gauss-Newton iteration runs one.
struct MedianMagnitude {
  int64_t count = 0;
  float value = 0.0f;
};
MedianMagnitude median_magnitude(const float* values, const uint8_t* valid, int64_t n);

// Refines `start` on one level. tele_width/height: the telephoto's full size.
RefineResult refine_level(const WideLevel& wide, const LevelPlane& tele, double tele_width, double tele_height,
                          const LinearSimilarity& start, const RefineOptions& options);

// ZNCC and overlap only, without iterating.
RefineResult score_level(const WideLevel& wide, const LevelPlane& tele, double tele_width, double tele_height,
                         const LinearSimilarity& params, const RefineOptions& options);

}  // namespace dcsr::registration
