// The degradations of `dcsr prepare`'s camera simulation (dcsr/data/camera_sim.h),
// one function each, so each can be tested alone. Each is a pure function of
// its parameters (the noise also of a Generator, drawn serially in pixel
// order), so a seed reproduces a pair byte for byte whatever the thread count.
//
// Images: (1, 3, H, W) float32 CPU tensors with values in [0, 1], changed in place.
// Pixel coordinates: pixel centres at integers (row y, column x).
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace dcsr {

// Bicubic sample (Keys, a = -0.5) of one h x w plane at (y, x), border replicated.
double sample_bicubic(const float* plane, int64_t h, int64_t w, double y, double x);

// Separable Gaussian blur, radius ceil(3 sigma), border replicated; sigma <= 0 does nothing.
void gaussian_blur_inplace(Tensor& img, double sigma);

// Vignetting: v *= 1 - strength * rho^2, rho the distance from the optical
// centre (the frame's centre moved by (centre_dy, centre_dx) fractions of the
// frame's height and width) over the frame's half-diagonal. strength 0 = none.
struct Vignette {
  double strength = 0, centre_dy = 0, centre_dx = 0;
};
void apply_vignette(Tensor& img, const Vignette& v);

// The telephoto's own colour: per pixel, out = clamp(exposure * mix * (wb .* v), 0, 1) ^ gamma,
// wb the white-balance gains, mix a 3x3 colour matrix whose rows sum to 1
// (so it leaves greys grey), exposure a global gain. The default is the identity.
struct ColourShift {
  std::array<double, 3> wb = {1, 1, 1};
  std::array<std::array<double, 3>, 3> mix = {{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}};
  double exposure = 1, gamma = 1;
};
void apply_colour(Tensor& img, const ColourShift& c);

// Sensor noise, signal dependent: v + sqrt(shot * v + read^2) * N(0, 1), then
// clamped to [0, 1]. Drawn from `gen` serially (channel, row, column order).
struct SensorNoise {
  double shot = 0, read = 0;
};
void apply_noise(Tensor& img, const SensorNoise& n, Generator& gen);

// Encodes the image (rounded to 8 bits) as a baseline JPEG with
// stb_image_write at `quality` (1..100) and decodes it again with stb_image.
// quality 0 does nothing.
void jpeg_roundtrip(Tensor& img, int quality);

// A smooth random displacement field, as parallax makes: control
// displacements on a grid_h x grid_w grid spread evenly over the frame
// (corners included), interpolated with the uniform cubic B-spline (clamped
// at the grid's ends). The B-spline's weights are non-negative and sum to 1,
// so |dy|, |dx| never exceed the largest control value, and the field's
// slope is at most 2 * max|control| * (grid - 1) per frame length.
struct DisplacementField {
  int64_t grid_h = 0, grid_w = 0;  // 0 x 0: no displacement
  std::vector<double> dy, dx;      // control values in pixels, row-major grid_h x grid_w
  // The displacement {dy, dx} at frame fractions (fy, fx) in [0, 1].
  std::array<double, 2> at(double fy, double fx) const;
  double max_abs() const;  // the largest |control value|
};
// Controls drawn uniformly in [-amplitude, amplitude] for each axis.
DisplacementField draw_displacement_field(Generator& gen, int64_t grid, double amplitude);

nlohmann::json to_json(const Vignette& v);
nlohmann::json to_json(const ColourShift& c);
nlohmann::json to_json(const SensorNoise& n);
nlohmann::json to_json(const DisplacementField& f);

}  // namespace dcsr
