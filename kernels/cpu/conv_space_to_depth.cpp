// 5x5 stride-2 convolutions through their pixel phases (conv_space_to_depth.h).
#include "kernels/cpu/conv_space_to_depth.h"

#include <algorithm>

#include "kernels/cpu/cpu_common.h"
#include "kernels/cpu/winograd.h"
#include "tensor/tensor.h"

namespace dcsr::kernels::cpu {

bool space_to_depth_applies(const ConvShape& s) {
  return s.k == 5 && s.stride == 2 && s.pad == 2 && s.groups == 1 && s.Ho > 0 && s.Wo > 0;
}

ConvShape space_to_depth_shape(const ConvShape& s) {
  const int64_t h2 = (s.H + 1) / 2, w2 = (s.W + 1) / 2;  // = Ho, Wo for padding 2
  return ConvShape{s.N, 4 * s.Cin, h2, w2, s.Cout, 3, 1, 1, 1, s.Ho, s.Wo};
}

bool space_to_depth_forward(const ConvShape& s, const float* x, const float* w, const float* b, float* y,
                            int64_t limit, const Epilogue& epilogue, int m, CpuIsa isa) {
  const ConvShape t = space_to_depth_shape(s);
  if (t.H != s.Ho || t.W != s.Wo) return false;  // an output size other than padding 2's
  const int64_t plane = t.H * t.W, phase_floats = t.N * t.Cin * plane, weight_floats = t.Cout * t.Cin * 9;
  const int64_t own_bytes = (phase_floats + weight_floats) * int64_t(sizeof(float));
  if (own_bytes >= limit) return false;
  // The weights: w'[co][ci * 4 + 2 ry + rx][ty + 1][tx + 1] = w[co][ci][2 ty + ry + 2][2 tx + rx + 2].
  Tensor w_storage = zeros({weight_floats}, kFloat32);
  float* wp = w_storage.data<float>();
  for (int64_t co = 0; co < s.Cout; ++co)
    for (int64_t ci = 0; ci < s.Cin; ++ci)
      for (int64_t a = 0; a < 5; ++a)
        for (int64_t c = 0; c < 5; ++c) {
          // a - 2 = 2 ty + ry with ry in {0, 1}: ty = floor((a - 2) / 2) = a / 2 - 1 (and so for c).
          const int64_t ty = a / 2 - 1, ry = a - 2 - 2 * ty, tx = c / 2 - 1, rx = c - 2 - 2 * tx;
          const int64_t channel = ci * 4 + 2 * ry + rx;
          wp[((co * t.Cin + channel) * 3 + ty + 1) * 3 + tx + 1] = w[((co * s.Cin + ci) * 5 + a) * 5 + c];
        }
  // The phase planes: x'[n][ci * 4 + 2 ry + rx][i][j] = x[n][ci][2i + ry][2j + rx], 0 past the edge.
  Tensor phases = empty({phase_floats}, kFloat32);
  float* xp = phases.data<float>();
  parallel_for(t.N * t.Cin, 1, [&](int64_t begin, int64_t end) {
    for (int64_t q = begin; q < end; ++q) {
      const int64_t n = q / t.Cin, channel = q % t.Cin, ci = channel / 4, ry = (channel / 2) % 2, rx = channel % 2;
      const float* src = x + (n * s.Cin + ci) * s.H * s.W;
      float* dst = xp + q * plane;
      for (int64_t i = 0; i < t.H; ++i, dst += t.W) {
        const int64_t row = 2 * i + ry;
        if (row >= s.H) {
          std::fill(dst, dst + t.W, 0.0f);
          continue;
        }
        const float* r = src + row * s.W + rx;
        const int64_t inside = (s.W - rx + 1) / 2;  // columns 2j + rx < W
        for (int64_t j = 0; j < inside; ++j) dst[j] = r[2 * j];
        std::fill(dst + inside, dst + t.W, 0.0f);
      }
    }
  });
  return winograd_forward(t, xp, wp, b, y, limit - own_bytes, epilogue, m, isa);
}

}  // namespace dcsr::kernels::cpu
