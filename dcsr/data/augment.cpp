#include "dcsr/data/augment.h"

#include <stb_image.h>
#include <stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "runtime/threads.h"
#include "tensor/error.h"

namespace dcsr {

namespace {

// Keys cubic kernel with a = -0.5 (interpolates and reproduces linear ramps).
inline double keys(double t) {
  t = std::abs(t);
  if (t <= 1.0) return (1.5 * t - 2.5) * t * t + 1.0;
  if (t < 2.0) return ((-0.5 * t + 2.5) * t - 4.0) * t + 2.0;
  return 0.0;
}

// The uniform cubic B-spline's four weights at fraction t in [0, 1).
inline std::array<double, 4> bspline_weights(double t) {
  const double u = 1.0 - t;
  return {u * u * u / 6.0, (3.0 * t * t * t - 6.0 * t * t + 4.0) / 6.0,
          (-3.0 * t * t * t + 3.0 * t * t + 3.0 * t + 1.0) / 6.0, t * t * t / 6.0};
}

void check_image(const Tensor& img, const char* what) {
  DCSR_CHECK(img.dim() == 4 && img.size(0) == 1 && img.size(1) == 3 && img.dtype() == kFloat32 && img.is_cpu(),
             what, ": expected a CPU float32 image (1, 3, H, W), got ", shape_str(img.shape()));
}

}  // namespace

double sample_bicubic(const float* plane, int64_t h, int64_t w, double y, double x) {
  const int64_t iy = int64_t(std::floor(y)), ix = int64_t(std::floor(x));
  double wy[4], wx[4];
  for (int k = 0; k < 4; ++k) wy[k] = keys(y - double(iy - 1 + k)), wx[k] = keys(x - double(ix - 1 + k));
  double s = 0.0;
  for (int a = 0; a < 4; ++a) {
    const int64_t yy = std::clamp<int64_t>(iy - 1 + a, 0, h - 1);
    double row = 0.0;
    for (int b = 0; b < 4; ++b) row += wx[b] * double(plane[yy * w + std::clamp<int64_t>(ix - 1 + b, 0, w - 1)]);
    s += wy[a] * row;
  }
  return s;
}

void gaussian_blur_inplace(Tensor& img, double sigma) {
  if (sigma <= 0.0) return;
  const int64_t radius = int64_t(std::ceil(3.0 * sigma)), h = img.size(2), w = img.size(3);
  std::vector<double> k(size_t(2 * radius + 1));
  double sum = 0.0;
  for (int64_t i = -radius; i <= radius; ++i) sum += k[size_t(i + radius)] = std::exp(-0.5 * double(i * i) / (sigma * sigma));
  for (double& v : k) v /= sum;
  float* data = img.data<float>();
  for (int64_t c = 0; c < img.size(1); ++c) {
    float* plane = data + c * h * w;
    std::vector<float> tmp(size_t(h * w));
    parallel_for(h, 8, [&](int64_t begin, int64_t end) {  // along rows
      for (int64_t y = begin; y < end; ++y)
        for (int64_t x = 0; x < w; ++x) {
          double s = 0.0;
          for (int64_t i = -radius; i <= radius; ++i)
            s += k[size_t(i + radius)] * plane[y * w + std::clamp<int64_t>(x + i, 0, w - 1)];
          tmp[size_t(y * w + x)] = float(s);
        }
    });
    parallel_for(h, 8, [&](int64_t begin, int64_t end) {  // along columns
      for (int64_t y = begin; y < end; ++y)
        for (int64_t x = 0; x < w; ++x) {
          double s = 0.0;
          for (int64_t i = -radius; i <= radius; ++i)
            s += k[size_t(i + radius)] * tmp[size_t(std::clamp<int64_t>(y + i, 0, h - 1) * w + x)];
          plane[y * w + x] = float(s);
        }
    });
  }
}

void apply_vignette(Tensor& img, const Vignette& v) {
  check_image(img, "apply_vignette");
  if (v.strength == 0.0) return;
  const int64_t h = img.size(2), w = img.size(3);
  const double cy = (0.5 + v.centre_dy) * double(h) - 0.5, cx = (0.5 + v.centre_dx) * double(w) - 0.5;
  const double half_diag2 = 0.25 * double(h * h + w * w);
  float* d = img.data<float>();
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      const double rho2 = ((double(y) - cy) * (double(y) - cy) + (double(x) - cx) * (double(x) - cx)) / half_diag2;
      const double gain = std::max(0.0, 1.0 - v.strength * rho2);
      for (int64_t c = 0; c < 3; ++c) d[(c * h + y) * w + x] = float(double(d[(c * h + y) * w + x]) * gain);
    }
}

void apply_colour(Tensor& img, const ColourShift& cs) {
  check_image(img, "apply_colour");
  const int64_t n = img.size(2) * img.size(3);
  float* d = img.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    const double in[3] = {cs.wb[0] * d[i], cs.wb[1] * d[n + i], cs.wb[2] * d[2 * n + i]};
    for (int64_t c = 0; c < 3; ++c) {
      const double v = cs.exposure * (cs.mix[c][0] * in[0] + cs.mix[c][1] * in[1] + cs.mix[c][2] * in[2]);
      d[c * n + i] = float(std::pow(std::clamp(v, 0.0, 1.0), cs.gamma));
    }
  }
}

void apply_noise(Tensor& img, const SensorNoise& ns, Generator& gen) {
  check_image(img, "apply_noise");
  float* d = img.data<float>();
  for (int64_t i = 0; i < img.numel(); ++i) {
    const double v = double(d[i]);
    const double sigma = std::sqrt(ns.shot * std::max(0.0, v) + ns.read * ns.read);
    d[i] = float(std::clamp(v + sigma * gen.normal(), 0.0, 1.0));
  }
}

void jpeg_roundtrip(Tensor& img, int quality) {
  check_image(img, "jpeg_roundtrip");
  if (quality == 0) return;
  DCSR_CHECK(quality >= 1 && quality <= 100, "jpeg_roundtrip: quality ", quality, " is outside 1..100");
  const int64_t h = img.size(2), w = img.size(3), n = h * w;
  float* d = img.data<float>();
  std::vector<uint8_t> rgb(size_t(3 * n));  // interleaved, as stb wants
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < 3; ++c)
      rgb[size_t(3 * i + c)] = uint8_t(std::lround(std::clamp(double(d[c * n + i]), 0.0, 1.0) * 255.0));
  std::vector<uint8_t> file;
  auto append = [](void* ctx, void* bytes, int size) {
    auto* out = static_cast<std::vector<uint8_t>*>(ctx);
    out->insert(out->end(), static_cast<uint8_t*>(bytes), static_cast<uint8_t*>(bytes) + size);
  };
  DCSR_CHECK(stbi_write_jpg_to_func(append, &file, int(w), int(h), 3, rgb.data(), quality) != 0,
             "jpeg_roundtrip: stb_image_write could not encode a ", w, "x", h, " image");
  int dw = 0, dh = 0, dn = 0;
  std::unique_ptr<uint8_t, void (*)(void*)> decoded(
      stbi_load_from_memory(file.data(), int(file.size()), &dw, &dh, &dn, 3), stbi_image_free);
  DCSR_CHECK(decoded && dw == w && dh == h, "jpeg_roundtrip: the encoded ", w, "x", h, " JPEG does not decode");
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < 3; ++c) d[c * n + i] = float(decoded.get()[3 * i + c]) / 255.0f;
}

std::array<double, 2> DisplacementField::at(double fy, double fx) const {
  if (grid_h == 0 || grid_w == 0) return {0.0, 0.0};
  const double ty = std::clamp(fy, 0.0, 1.0) * double(grid_h - 1), tx = std::clamp(fx, 0.0, 1.0) * double(grid_w - 1);
  const int64_t iy = std::min<int64_t>(int64_t(ty), grid_h - 1), ix = std::min<int64_t>(int64_t(tx), grid_w - 1);
  const std::array<double, 4> wy = bspline_weights(ty - double(iy)), wx = bspline_weights(tx - double(ix));
  double sy = 0.0, sx = 0.0;
  for (int a = 0; a < 4; ++a)
    for (int b = 0; b < 4; ++b) {
      const int64_t gy = std::clamp<int64_t>(iy - 1 + a, 0, grid_h - 1), gx = std::clamp<int64_t>(ix - 1 + b, 0, grid_w - 1);
      sy += wy[size_t(a)] * wx[size_t(b)] * dy[size_t(gy * grid_w + gx)];
      sx += wy[size_t(a)] * wx[size_t(b)] * dx[size_t(gy * grid_w + gx)];
    }
  return {sy, sx};
}

double DisplacementField::max_abs() const {
  double m = 0.0;
  for (double v : dy) m = std::max(m, std::abs(v));
  for (double v : dx) m = std::max(m, std::abs(v));
  return m;
}

DisplacementField draw_displacement_field(Generator& gen, int64_t grid, double amplitude) {
  DCSR_CHECK(grid >= 2, "draw_displacement_field: grid ", grid, " must be at least 2");
  DisplacementField f;
  f.grid_h = f.grid_w = grid;
  for (int64_t i = 0; i < grid * grid; ++i) {
    f.dy.push_back(gen.uniform(-amplitude, amplitude));
    f.dx.push_back(gen.uniform(-amplitude, amplitude));
  }
  return f;
}

nlohmann::json to_json(const Vignette& v) {
  return {{"strength", v.strength}, {"centre_offset", {v.centre_dy, v.centre_dx}}};
}

nlohmann::json to_json(const ColourShift& c) {
  return {{"white_balance", c.wb}, {"colour_matrix", c.mix}, {"exposure", c.exposure}, {"gamma", c.gamma}};
}

nlohmann::json to_json(const SensorNoise& n) { return {{"shot", n.shot}, {"read", n.read}}; }

nlohmann::json to_json(const DisplacementField& f) {
  return {{"grid", {f.grid_h, f.grid_w}}, {"dy", f.dy}, {"dx", f.dx}};
}

}  // namespace dcsr
