// Registration's single-plane images: luma, resize, box blur, structure, gradients.
#include "dcsr/registration/plane.h"

#include <cmath>
#include <cstring>

#include "autograd/grad_mode.h"
#include "autograd/ops/image.h"
#include "runtime/threads.h"
#include "tensor/error.h"

namespace dcsr::registration {

Plane luminance(const Tensor& rgb) {
  DCSR_CHECK(rgb.defined() && rgb.dim() == 4 && rgb.size(0) == 1 && rgb.size(1) == 3 && rgb.dtype() == kFloat32 &&
                 rgb.is_cpu(),
             "registration: expected an RGB image (1, 3, H, W) float32 on the CPU");
  Plane out(rgb.size(2), rgb.size(3));  // tensors are always contiguous
  const int64_t n = out.height * out.width;
  const float* r = rgb.data<float>();
  const float *g = r + n, *b = g + n;
  float* o = out.data.data();
  parallel_for(n, 1 << 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) o[i] = 0.299f * r[i] + 0.587f * g[i] + 0.114f * b[i];
  });
  return out;
}

Plane luminance(const CompactImage& image) {
  if (!image.is_u8()) return luminance(image.f32);
  Plane out(image.height(), image.width());
  const int64_t n = out.height * out.width;
  const uint8_t* r = image.u8.data.data();
  const uint8_t *g = r + n, *b = g + n;
  float* o = out.data.data();
  // u8_value: read_image's value, so the sums are luminance(to_tensor())'s
  // (the same expression as there, written out: a shared template was tried
  // and its two instantiations were contracted into FMAs differently).
  parallel_for(n, 1 << 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      o[i] = 0.299f * u8_value(r[i]) + 0.587f * u8_value(g[i]) + 0.114f * u8_value(b[i]);
  });
  return out;
}

Tensor plane_to_tensor(const Plane& p) {
  Tensor t = empty({1, 1, p.height, p.width});
  std::memcpy(t.data<float>(), p.data.data(), p.data.size() * sizeof(float));
  return t;
}

Plane resize_plane(const Plane& p, int64_t h, int64_t w) {
  DCSR_CHECK(h >= 1 && w >= 1, "registration: cannot resize to ", h, "x", w);
  if (h == p.height && w == p.width) return p;
  NoGradGuard no_grad;
  const Tensor in = from_blob(p.data.data(), {1, 1, p.height, p.width}, kFloat32);
  const Tensor out = resize_antialias(in, h, w);
  Plane r(h, w);
  std::memcpy(r.data.data(), out.data<float>(), r.data.size() * sizeof(float));
  return r;
}

Plane box_blur(const Plane& p, int64_t radius) {
  const int64_t H = p.height, W = p.width;
  Plane horizontal(H, W), out(H, W);
  // Along rows: a running sum over the window cut at the edges.
  parallel_for(H, 16, [&](int64_t y0, int64_t y1) {
    for (int64_t y = y0; y < y1; ++y) {
      const float* in = p.row(y);
      float* o = horizontal.row(y);
      double sum = 0;
      for (int64_t x = 0; x < std::min(radius, W); ++x) sum += in[x];
      for (int64_t x = 0; x < W; ++x) {
        if (x + radius < W) sum += in[x + radius];
        if (x - radius - 1 >= 0) sum -= in[x - radius - 1];
        const int64_t count = std::min(W - 1, x + radius) - std::max<int64_t>(0, x - radius) + 1;
        o[x] = float(sum / double(count));
      }
    }
  });
  // Along columns, a block of columns at a time so the rows stream.
  parallel_for(W, 64, [&](int64_t x0, int64_t x1) {
    std::vector<double> sum(size_t(x1 - x0), 0.0);
    for (int64_t y = 0; y < std::min(radius, H); ++y)
      for (int64_t x = x0; x < x1; ++x) sum[size_t(x - x0)] += horizontal.row(y)[x];
    for (int64_t y = 0; y < H; ++y) {
      const float* add = y + radius < H ? horizontal.row(y + radius) : nullptr;
      const float* sub = y - radius - 1 >= 0 ? horizontal.row(y - radius - 1) : nullptr;
      const double count = double(std::min(H - 1, y + radius) - std::max<int64_t>(0, y - radius) + 1);
      float* o = out.row(y);
      for (int64_t x = x0; x < x1; ++x) {
        double& s = sum[size_t(x - x0)];
        if (add) s += add[x];
        if (sub) s -= sub[x];
        o[x] = float(s / count);
      }
    }
  });
  return out;
}

Plane structure(const Plane& p, int64_t radius) {
  const Plane b = box_blur(p, 1);
  const Plane local_mean = box_blur(b, radius);
  Plane band(p.height, p.width), energy_in(p.height, p.width);
  const int64_t n = p.height * p.width;
  parallel_for(n, 1 << 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float d = b.data[size_t(i)] - local_mean.data[size_t(i)];
      band.data[size_t(i)] = d;
      energy_in.data[size_t(i)] = d * d;
    }
  });
  double total = 0;  // in index order, on one thread: the same sum on any thread count
  for (int64_t i = 0; i < n; ++i) total += double(band.data[size_t(i)]) * double(band.data[size_t(i)]);
  const float eps = float(0.05 * total / double(std::max<int64_t>(n, 1)) + 1e-8);
  const Plane energy = box_blur(energy_in, radius);
  parallel_for(n, 1 << 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) band.data[size_t(i)] /= std::sqrt(energy.data[size_t(i)] + eps);
  });
  return band;
}

void gradients(const Plane& p, Plane& gx, Plane& gy) {
  const int64_t H = p.height, W = p.width;
  gx = Plane(H, W);
  gy = Plane(H, W);
  if (H < 2 || W < 2) return;
  parallel_for(H, 16, [&](int64_t y0, int64_t y1) {
    for (int64_t y = y0; y < y1; ++y) {
      const float* r = p.row(y);
      const float* up = p.row(y > 0 ? y - 1 : y);
      const float* down = p.row(y < H - 1 ? y + 1 : y);
      const float dy_scale = (y > 0 && y < H - 1) ? 0.5f : 1.0f;
      float *ox = gx.row(y), *oy = gy.row(y);
      ox[0] = r[1] - r[0];
      for (int64_t x = 1; x < W - 1; ++x) ox[x] = 0.5f * (r[x + 1] - r[x - 1]);
      ox[W - 1] = r[W - 1] - r[W - 2];
      for (int64_t x = 0; x < W; ++x) oy[x] = dy_scale * (down[x] - up[x]);
    }
  });
}

}  // namespace dcsr::registration
