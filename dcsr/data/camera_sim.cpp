#include "dcsr/data/camera_sim.h"

#include <algorithm>
#include <cmath>

#include "autograd/grad_mode.h"
#include "autograd/ops/image.h"
#include "runtime/threads.h"

namespace dcsr {

CameraSimParams draw_camera_sim(Generator& gen) {
  CameraSimParams p;
  p.zoom = gen.uniform(1.85, 2.15);
  // What a registration leaves: smaller than the classic simulation's +-2 deg, +-3 %, +-4 px.
  p.angle_deg = gen.uniform(-1.0, 1.0);
  p.scale = gen.uniform(0.98, 1.02);
  p.ty = gen.uniform(-3.0, 3.0);
  p.tx = gen.uniform(-3.0, 3.0);
  if (gen.uniform01() < 0.7) p.parallax = draw_displacement_field(gen, 4, gen.uniform(0.5, 3.0));
  p.blur_sigma = gen.uniform(0.2, 0.6);
  if (gen.uniform01() < 0.5)
    p.vignette = {gen.uniform(0.1, 0.4), gen.uniform(-0.05, 0.05), gen.uniform(-0.05, 0.05)};
  p.noise.shot = gen.uniform(0.0, 4e-4);  // sigma up to 0.02 at full scale
  p.noise.read = gen.uniform(0.5, 2.0) / 255.0;
  if (gen.uniform01() < 0.8) {
    for (double& g : p.colour.wb) g = gen.uniform(0.85, 1.15);
    for (int64_t r = 0; r < 3; ++r) {  // off-diagonal mixing up to 4 %, rows summing to 1
      double off = 0.0;
      for (int64_t c = 0; c < 3; ++c)
        if (c != r) off += p.colour.mix[size_t(r)][size_t(c)] = gen.uniform(-0.04, 0.04);
      p.colour.mix[size_t(r)][size_t(r)] = 1.0 - off;
    }
    p.colour.exposure = gen.uniform(0.8, 1.25);
    p.colour.gamma = gen.uniform(0.85, 1.15);
  }
  if (gen.uniform01() < 0.5) p.jpeg_quality = int(gen.randint(60, 96));
  return p;
}

namespace {

// Step 1 of camera_sim.h: the telephoto in its own frame, h d x w d.
Tensor render_native(const Tensor& hr, const CameraSimParams& p, int64_t density) {
  const int64_t H = hr.size(2), W = hr.size(3), h = H / 2, w = W / 2;
  const int64_t oh = h * density, ow = w * density;
  Tensor out = empty({1, 3, oh, ow});
  const float* src = hr.data<float>();
  float* dst = out.data<float>();
  const double theta = p.angle_deg * M_PI / 180.0, k = 2.0 / p.zoom * p.scale;
  const double cs = std::cos(theta) * k, sn = std::sin(theta) * k;
  const double cy = double(h) - 0.5, cx = double(w) - 0.5;                  // HR centre
  const double vy = (double(h) - 1.0) / 2.0, vx = (double(w) - 1.0) / 2.0;  // frame centre, Ref/x2 units
  const double d = double(density);
  parallel_for(oh, 8, [&](int64_t begin, int64_t end) {
    for (int64_t R = begin; R < end; ++R)
      for (int64_t C = 0; C < ow; ++C) {
        const double r = (double(R) + 0.5) / d - 0.5 - vy, c = (double(C) + 0.5) / d - 0.5 - vx;
        const std::array<double, 2> f = p.parallax.at((double(R) + 0.5) / double(oh), (double(C) + 0.5) / double(ow));
        const double y = cy + cs * r - sn * c + p.ty + f[0], x = cx + sn * r + cs * c + p.tx + f[1];
        for (int64_t ch = 0; ch < 3; ++ch) dst[(ch * oh + R) * ow + C] = float(sample_bicubic(src + ch * H * W, H, W, y, x));
      }
  });
  return out;
}

// Step 3: resampled by z/2 about the frame's centre into the canonical layout, clamped to [0, 1].
Tensor normalise_zoom(const Tensor& native, double zoom, int64_t density) {
  const int64_t oh = native.size(2), ow = native.size(3);
  const double d = double(density), vy = (double(oh) / d - 1.0) / 2.0, vx = (double(ow) / d - 1.0) / 2.0;
  const double k = zoom / 2.0;
  Tensor out = empty({1, 3, oh, ow});
  const float* src = native.data<float>();
  float* dst = out.data<float>();
  parallel_for(oh, 8, [&](int64_t begin, int64_t end) {
    for (int64_t R = begin; R < end; ++R)
      for (int64_t C = 0; C < ow; ++C) {
        const double r = (double(R) + 0.5) / d - 0.5 - vy, c = (double(C) + 0.5) / d - 0.5 - vx;
        const double y = (k * r + vy + 0.5) * d - 0.5, x = (k * c + vx + 0.5) * d - 0.5;
        for (int64_t ch = 0; ch < 3; ++ch) {
          const double v = sample_bicubic(src + ch * oh * ow, oh, ow, y, x);
          dst[(ch * oh + R) * ow + C] = float(std::clamp(v, 0.0, 1.0));
        }
      }
  });
  return out;
}

}  // namespace

Tensor render_camera_telephoto(const Tensor& hr, const CameraSimParams& p, int64_t density, Generator& gen) {
  DCSR_CHECK(density == 1 || density == 2, "render_camera_telephoto: density ", density, " must be 1 or 2");
  DCSR_CHECK(p.zoom >= 1.0 && p.zoom <= 4.0, "render_camera_telephoto: zoom ", p.zoom, " is outside [1, 4]");
  Tensor tele = render_native(hr, p, density);
  gaussian_blur_inplace(tele, p.blur_sigma * double(density));
  apply_vignette(tele, p.vignette);
  apply_noise(tele, p.noise, gen);
  apply_colour(tele, p.colour);
  jpeg_roundtrip(tele, p.jpeg_quality);
  return normalise_zoom(tele, p.zoom, density);
}

SimulatedPair simulate_camera_pair(const Tensor& photo, const CameraSimParams& params, Generator& gen) {
  NoGradGuard no_grad;
  SimulatedPair out;
  out.hr = crop_to_multiple_of_8(photo);
  out.lr_x1 = out.hr;
  out.lr_x2 = resize_antialias(out.hr, out.hr.size(2) / 2, out.hr.size(3) / 2).to(kFloat32).to(kCPU).clone();
  float* lr = out.lr_x2.data<float>();
  for (int64_t i = 0; i < out.lr_x2.numel(); ++i) lr[i] = std::clamp(lr[i], 0.0f, 1.0f);
  out.ref_x2 = render_camera_telephoto(out.hr, params, 1, gen);
  out.ref_x1 = render_camera_telephoto(out.hr, params, 2, gen);
  return out;
}

nlohmann::json camera_sim_to_json(const CameraSimParams& p) {
  return {{"zoom", p.zoom},
          {"angle_deg", p.angle_deg},
          {"scale", p.scale},
          {"translation", {p.ty, p.tx}},
          {"parallax", to_json(p.parallax)},
          {"blur_sigma", p.blur_sigma},
          {"vignette", to_json(p.vignette)},
          {"noise", to_json(p.noise)},
          {"colour", to_json(p.colour)},
          {"jpeg_quality", p.jpeg_quality}};
}

}  // namespace dcsr
