// Synthetic registration pairs (synthetic_pair.h).
#include "dcsr/registration/synthetic_pair.h"

#include <stb_image.h>
#include <stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "autograd/grad_mode.h"
#include "autograd/ops/image.h"
#include "autograd/ops/shape.h"
#include "dcsr/registration/resample.h"
#include "runtime/threads.h"
#include "tensor/error.h"

namespace dcsr::registration {

namespace {

constexpr double kPi = 3.14159265358979323846;

// Separable Gaussian blur of each plane, edges repeated.
void gaussian_blur(float* data, int64_t planes, int64_t h, int64_t w, double sigma) {
  if (sigma <= 0.05) return;
  const int64_t radius = int64_t(std::ceil(3 * sigma));
  std::vector<float> kernel(size_t(2 * radius + 1));
  double total = 0;
  for (int64_t i = -radius; i <= radius; ++i) total += kernel[size_t(i + radius)] = float(std::exp(-0.5 * double(i * i) / (sigma * sigma)));
  for (float& k : kernel) k = float(k / total);
  std::vector<float> tmp(size_t(h * w));
  for (int64_t c = 0; c < planes; ++c) {
    float* p = data + c * h * w;
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) {
        double s = 0;
        for (int64_t k = -radius; k <= radius; ++k) s += kernel[size_t(k + radius)] * p[y * w + std::clamp<int64_t>(x + k, 0, w - 1)];
        tmp[size_t(y * w + x)] = float(s);
      }
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) {
        double s = 0;
        for (int64_t k = -radius; k <= radius; ++k) s += kernel[size_t(k + radius)] * tmp[size_t(std::clamp<int64_t>(y + k, 0, h - 1) * w + x)];
        p[y * w + x] = float(s);
      }
  }
}

// JPEG round trip through stb_image_write and stb_image.
void jpeg_round_trip(float* data, int64_t h, int64_t w, int quality) {
  std::vector<uint8_t> pixels(size_t(3 * h * w));
  for (int64_t i = 0; i < h * w; ++i)
    for (int64_t c = 0; c < 3; ++c)
      pixels[size_t(3 * i + c)] = uint8_t(std::lround(std::clamp(data[c * h * w + i], 0.0f, 1.0f) * 255.0f));
  std::string bytes;
  auto append = [](void* context, void* chunk, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(chunk), size_t(size));
  };
  DCSR_CHECK(stbi_write_jpg_to_func(append, &bytes, int(w), int(h), 3, pixels.data(), quality), "synthetic pair: JPEG encoding failed");
  int dw = 0, dh = 0, dc = 0;
  uint8_t* decoded = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()), int(bytes.size()), &dw, &dh, &dc, 3);
  DCSR_CHECK(decoded && dw == w && dh == h, "synthetic pair: JPEG decoding failed");
  for (int64_t i = 0; i < h * w; ++i)
    for (int64_t c = 0; c < 3; ++c) data[c * h * w + i] = float(decoded[3 * i + c]) / 255.0f;
  stbi_image_free(decoded);
}

}  // namespace

CameraLook random_look(Generator& gen) {
  CameraLook look;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) look.colour[size_t(3 * r + c)] = r == c ? gen.uniform(0.85, 1.15) : gen.uniform(0.0, 0.05);
  look.gain = gen.uniform(0.75, 1.25);
  look.gamma = gen.uniform(0.75, 1.35);
  look.blur_sigma = gen.uniform(0.0, 1.2);
  look.noise = gen.uniform(0.003, 0.02);
  look.jpeg_quality = int(gen.randint(60, 96));
  return look;
}

Tensor apply_look(const Tensor& image, const CameraLook& look, Generator& gen) {
  Tensor out = image.clone();
  const int64_t h = out.size(2), w = out.size(3), n = h * w;
  float* d = out.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    const double r = d[i], g = d[n + i], b = d[2 * n + i];
    for (int64_t c = 0; c < 3; ++c) {
      const double* m = look.colour.data() + 3 * c;
      const double v = std::clamp(look.gain * (m[0] * r + m[1] * g + m[2] * b), 0.0, 1.0);
      d[c * n + i] = float(std::pow(v, look.gamma));
    }
  }
  gaussian_blur(d, 3, h, w, look.blur_sigma);
  if (look.noise > 0)
    for (int64_t i = 0; i < 3 * n; ++i) d[i] = std::clamp(float(d[i] + look.noise * gen.normal()), 0.0f, 1.0f);
  if (look.jpeg_quality > 0) jpeg_round_trip(d, h, w, look.jpeg_quality);
  return out;
}

SyntheticPair make_synthetic_pair(const Tensor& photo, int64_t wide_height, int64_t wide_width, int64_t tele_height,
                                  int64_t tele_width, double scale, double angle_deg, double centre_x, double centre_y,
                                  const CameraLook& tele_look, const CameraLook& wide_look, uint64_t seed) {
  NoGradGuard no_grad;
  DCSR_CHECK(photo.dim() == 4 && photo.size(1) == 3 && photo.dtype() == kFloat32, "synthetic pair: photo must be (1, 3, H, W) float32");
  const int64_t Hp = photo.size(2), Wp = photo.size(3);
  SyntheticPair pair;
  pair.truth.scale = scale;
  pair.truth.angle = angle_deg * kPi / 180;
  const double c = std::cos(pair.truth.angle) / scale, s = std::sin(pair.truth.angle) / scale;
  const double ctx = 0.5 * double(tele_width), cty = 0.5 * double(tele_height);
  pair.truth.tx = centre_x - (c * ctx - s * cty);
  pair.truth.ty = centre_y - (s * ctx + c * cty);
  // Each telephoto pixel straight from the photo through the Keys kernel,
  // stretched to antialias where the photo is denser than the telephoto: one
  // resampling, so that a rotated view is as sharp as a straight one (a real
  // camera's would be; a render from a pre-shrunk photo would interpolate a
  // second time and blur the rotated view only).
  const double sx = double(Wp) / double(wide_width), sy = double(Hp) / double(wide_height);  // photo px per wide px
  const double stretch = std::max(1.0, sx / scale);
  Tensor tele = empty({1, 3, tele_height, tele_width});
  const float* src = photo.data<float>();
  float* dst = tele.data<float>();
  parallel_for(tele_height, 8, [&](int64_t y0, int64_t y1) {
    Taps tx, ty;
    for (int64_t y = y0; y < y1; ++y)
      for (int64_t x = 0; x < tele_width; ++x) {
        const auto p = pair.truth.to_wide(double(x) + 0.5, double(y) + 0.5);
        make_taps(p[0] * sx, stretch, tx);
        make_taps(p[1] * sy, stretch, ty);
        for (int64_t ch = 0; ch < 3; ++ch)
          dst[(ch * tele_height + y) * tele_width + x] =
              std::clamp(float(sample_taps(src + ch * Hp * Wp, Hp, Wp, tx, ty)), 0.0f, 1.0f);
      }
  });
  Generator gen(seed);
  pair.tele = apply_look(tele, tele_look, gen);
  pair.wide = apply_look(resize_antialias(photo, wide_height, wide_width), wide_look, gen);
  return pair;
}

SyntheticPair crop_wide(const SyntheticPair& pair, int64_t top, int64_t left, int64_t height, int64_t width) {
  DCSR_CHECK(top >= 0 && left >= 0 && height > 0 && width > 0 && top + height <= pair.wide.size(2) &&
                 left + width <= pair.wide.size(3),
             "crop_wide: rows ", top, "+", height, ", columns ", left, "+", width, " leave the wide image ",
             shape_str(pair.wide.shape()));
  SyntheticPair out = pair;
  out.wide = narrow(narrow(pair.wide, 2, top, height), 3, left, width);
  out.truth.tx -= double(left);
  out.truth.ty -= double(top);
  return out;
}

}  // namespace dcsr::registration
