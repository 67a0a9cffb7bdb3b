// One-channel float images for registration (luminance and the band-passed,
// locally normalised "structure" images the matching compares), with the
// resampling and sampling they need. Plain arrays: registration works on
// single planes at sizes from 16 px to 12 MP and reads them pixel by pixel.
//
// Coordinates follow registration.h: pixel (row r, column c) covers
// [c, c + 1) x [r, r + 1); sample_bilinear takes such continuous coordinates.
#pragma once
#include <cstdint>
#include <vector>

#include "io/image_io.h"
#include "tensor/tensor.h"

namespace dcsr::registration {

struct Plane {
  int64_t height = 0, width = 0;
  std::vector<float> data;  // row-major, height * width
  Plane() = default;
  Plane(int64_t h, int64_t w) : height(h), width(w), data(size_t(h * w), 0.0f) {}
  float* row(int64_t y) { return data.data() + y * width; }
  const float* row(int64_t y) const { return data.data() + y * width; }
};

// Rec. 601 luma of an RGB image (1, 3, H, W) float32 on the CPU.
Plane luminance(const Tensor& rgb);
// The same of an image as read, from its 8-bit samples where it has them
// (bit for bit luminance(image.to_tensor()), without the float32 copy).
Plane luminance(const CompactImage& image);

// Antialiased bicubic resize (resize_antialias: MATLAB's imresize) to h x w.
// Continuous coordinates scale by exactly width / w along x and height / h along y.
Plane resize_plane(const Plane& p, int64_t h, int64_t w);

// Mean over the (2 radius + 1)^2 window, the window cut at the image's edges.
Plane box_blur(const Plane& p, int64_t radius);

// The band-passed, locally normalised image that registration matches:
//   b = box_blur(p, 1) (noise), d = b - box_blur(b, radius) (the band),
//   s = d / sqrt(box_blur(d^2, radius) + eps), eps = 0.05 * mean(d^2) + 1e-8.
// Local gain, offset and (approximately, being local) gamma differences cancel.
Plane structure(const Plane& p, int64_t radius);

// Central-difference gradients (per pixel; one-sided at the edges).
void gradients(const Plane& p, Plane& gx, Plane& gy);

// Bilinear sample at continuous coordinates (x, y); the caller keeps
// 0.5 <= x <= width - 0.5 and 0.5 <= y <= height - 0.5.
inline float sample_bilinear(const Plane& p, double x, double y) {
  const double fx = x - 0.5, fy = y - 0.5;
  int64_t x0 = int64_t(fx), y0 = int64_t(fy);
  if (x0 >= p.width - 1) x0 = p.width - 2;
  if (y0 >= p.height - 1) y0 = p.height - 2;
  const float ax = float(fx - double(x0)), ay = float(fy - double(y0));
  const float* r0 = p.row(y0) + x0;
  const float* r1 = r0 + p.width;
  const float top = r0[0] + ax * (r0[1] - r0[0]), bottom = r1[0] + ax * (r1[1] - r1[0]);
  return top + ay * (bottom - top);
}

// A plane as a (1, 1, H, W) float32 tensor and back (for images and tests).
Tensor plane_to_tensor(const Plane& p);

}  // namespace dcsr::registration
