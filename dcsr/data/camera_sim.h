// The "camera" simulation of `dcsr prepare` (the default; `--sim classic` is
// the older one of prepare.h): a telephoto closer to a real phone's, so that a
// model trained on it meets on real pairs what it met in training.
//
// The wide side is exactly the protocol's (prepare.h): HR = the photo cropped
// to a multiple of 8 (2h x 2w), LR/x2 = resize_antialias(HR) (h x w), LR/x1 = HR.
//
// The telephoto, per density d (1 for Ref/x2, h x w; 2 for Ref/x1, 2h x 2w):
//   1. Rendered at its own zoom z (drawn around 2) from the HR, bicubic:
//      its frame (h d x w d) shows the central 1/z of the view, so native
//      pixel (R, C), at offset (r, c) = ((R + 1/2)/d - 1/2, ...) - ((h-1)/2, (w-1)/2)
//      from the frame's centre in Ref/x2 units, shows HR position
//        (h - 1/2, w - 1/2) + (2/z) scale Rot(angle) (r, c) + (ty, tx) + field(fy, fx)
//      with fy, fx the pixel's frame fractions. The similarity (angle,
//      scale, ty, tx) is the residual error of a registration; field is a
//      smooth displacement field (augment.h, HR pixels) as parallax makes.
//   2. Degraded in its own frame, in a camera's order: lens blur (Gaussian,
//      sigma d * blur_sigma), vignetting, sensor noise, colour (white balance,
//      colour matrix, exposure, gamma), JPEG at a random quality.
//   3. Normalised as real pairs are (dcsr/registration/normalise.h): resampled
//      by z/2 about the frame's centre (bicubic, border replicated) to the
//      canonical layout, the central half of the view at twice the LR's
//      density: canonical offset (r, c) reads native offset (z/2)(r, c). For
//      z > 2 the telephoto sees less than the central half, and the canonical
//      frame's outer z/2 - 1 fraction repeats its border.
// At z = 2 with no residual similarity, no field and no degradation this is
// exactly the classic simulation's unperturbed geometry.
//
// Each photo draws its own mix (draw_camera_sim; ranges there and in
// docs/app.md); every drawn value goes to prepare.json (camera_sim_to_json).
#pragma once
#include <nlohmann/json.hpp>

#include "dcsr/data/augment.h"
#include "dcsr/data/prepare.h"

namespace dcsr {

struct CameraSimParams {
  double zoom = 2;                                   // the telephoto's zoom over the wide
  double angle_deg = 0, scale = 1, ty = 0, tx = 0;   // residual similarity (HR pixels)
  DisplacementField parallax;                        // HR pixels; 0 x 0 grid = none
  double blur_sigma = 0;                             // lens blur, Ref/x2 pixels
  Vignette vignette;                                 // strength 0 = none
  SensorNoise noise;
  ColourShift colour;                                // identity = none
  int jpeg_quality = 0;                              // 0 = no JPEG
};

// Draws one photo's mix from `gen` in the order of the struct's fields.
CameraSimParams draw_camera_sim(Generator& gen);

// photo: (1, 3, H, W) float32 with H, W >= 32. The noise is drawn from `gen`
// (Ref/x2's first, then Ref/x1's).
SimulatedPair simulate_camera_pair(const Tensor& photo, const CameraSimParams& params, Generator& gen);

// One telephoto at density d (1 or 2) from an HR of 2h x 2w: steps 1-3 above.
Tensor render_camera_telephoto(const Tensor& hr, const CameraSimParams& params, int64_t density, Generator& gen);

nlohmann::json camera_sim_to_json(const CameraSimParams& p);

}  // namespace dcsr
