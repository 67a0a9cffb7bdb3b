// Synthetic wide + telephoto pairs with a known transform, made from one
// photo: what the registration's tests and its accuracy benchmark measure
// against. The wide image is the photo downscaled (antialiased); the telephoto
// is the photo resampled once through a known Similarity (Keys' cubic,
// stretched to antialias where it shrinks: resample.h) and then seen "through
// a different camera": a colour matrix, gain, gamma, blur, noise and JPEG
// compression.
#pragma once
#include <array>
#include <cstdint>

#include "dcsr/registration/registration.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace dcsr::registration {

// How a camera renders: out = (gain * colour * in)^gamma (clamped to [0, 1]),
// then a Gaussian blur of blur_sigma pixels, Gaussian noise of standard
// deviation `noise`, and JPEG at jpeg_quality (0: none).
struct CameraLook {
  std::array<double, 9> colour{1, 0, 0, 0, 1, 0, 0, 0, 1};  // row-major 3x3 on (R, G, B)
  double gain = 1.0, gamma = 1.0, blur_sigma = 0.0, noise = 0.0;
  int jpeg_quality = 0;
};

// A different camera at random: per-channel gains 0.85-1.15 with 0-5% cross-talk,
// gain 0.75-1.25, gamma 0.75-1.35, blur 0-1.2 px, noise 0.003-0.02, JPEG 60-95.
CameraLook random_look(Generator& gen);

struct SyntheticPair {
  Tensor wide, tele;   // (1, 3, H, W) float32 in [0, 1]
  Similarity truth;    // telephoto -> wide pixels
};

// photo: (1, 3, Hp, Wp) float32. The wide image is wide_height x wide_width
// (the photo's whole view); the telephoto tele_height x tele_width with its
// centre at (centre_x, centre_y) wide pixels, `scale` telephoto pixels per wide
// pixel, rotated by angle_deg. Pixels outside the photo repeat its edge.
SyntheticPair make_synthetic_pair(const Tensor& photo, int64_t wide_height, int64_t wide_width, int64_t tele_height,
                                  int64_t tele_width, double scale, double angle_deg, double centre_x, double centre_y,
                                  const CameraLook& tele_look, const CameraLook& wide_look, uint64_t seed);

// The pair with its wide image cut to rows [top, top + height) and columns
// [left, left + width), the telephoto unchanged: where the cut crosses the
// view, the view lies partly outside the wide image (a cropped wide photo, or a
// telephoto aimed near the wide one's edge). The truth moves with the origin.
SyntheticPair crop_wide(const SyntheticPair& pair, int64_t top, int64_t left, int64_t height, int64_t width);

// Applies a CameraLook to an image (1, 3, H, W) float32 (noise drawn from `gen`).
Tensor apply_look(const Tensor& image, const CameraLook& look, Generator& gen);

}  // namespace dcsr::registration
