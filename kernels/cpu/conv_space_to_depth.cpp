// 5x5 stride-2 convolutions through their pixel phases (conv_space_to_depth.h).
#include "kernels/cpu/conv_space_to_depth.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "kernels/cpu/cpu_common.h"
#include "kernels/cpu/winograd.h"

namespace dcsr::kernels::cpu {

bool space_to_depth_applies(const ConvShape& s) {
  return s.k == 5 && s.stride == 2 && s.pad == 2 && s.groups == 1 && s.Ho > 0 && s.Wo > 0;
}

ConvShape space_to_depth_shape(const ConvShape& s) {
  const int64_t h2 = (s.H + 1) / 2, w2 = (s.W + 1) / 2;  // = Ho, Wo for padding 2
  return ConvShape{s.N, 4 * s.Cin, h2, w2, s.Cout, 3, 1, 1, 1, s.Ho, s.Wo};
}

namespace {

// The rearranged weights of recent calls, by the original weights' address
// (winograd::WeightsCache): the same pointer for the same weights from call
// to call, so that packed_weights, keyed by the address it is given, finds
// their transform (a fresh buffer every call could land at another address
// and miss it). 64 -> 32 channels: 295 KB.
constexpr size_t kPhaseWeightsCacheBytes = size_t(16) << 20;

// w'[co][ci * 4 + 2 ry + rx][ty + 1][tx + 1] = w[co][ci][2 ty + ry + 2][2 tx + rx + 2], 0 where that tap is past 4.
std::shared_ptr<const std::vector<float>> phase_weights(const ConvShape& s, const float* w) {
  static winograd::WeightsCache cache(kPhaseWeightsCacheBytes);
  const int64_t phase_channels = 4 * s.Cin;
  return cache.get(w, s.Cout * s.Cin * 25, {s.Cout, s.Cin}, s.Cout * phase_channels * 9, [&](float* wp) {
    std::fill(wp, wp + s.Cout * phase_channels * 9, 0.0f);
    for (int64_t co = 0; co < s.Cout; ++co)
      for (int64_t ci = 0; ci < s.Cin; ++ci)
        for (int64_t a = 0; a < 5; ++a)
          for (int64_t c = 0; c < 5; ++c) {
            // a - 2 = 2 ty + ry with ry in {0, 1}: ty = floor((a - 2) / 2) = a / 2 - 1 (and so for c).
            const int64_t ty = a / 2 - 1, ry = a - 2 - 2 * ty, tx = c / 2 - 1, rx = c - 2 - 2 * tx;
            const int64_t channel = ci * 4 + 2 * ry + rx;
            wp[((co * phase_channels + channel) * 3 + ty + 1) * 3 + tx + 1] = w[((co * s.Cin + ci) * 5 + a) * 5 + c];
          }
  });
}

}  // namespace

bool space_to_depth_forward(const ConvShape& s, const float* x, const float* w, const float* b, float* y,
                            int64_t limit, const Epilogue& epilogue, int m, CpuIsa isa,
                            const SecondInput* second) {
  const ConvShape t = space_to_depth_shape(s);
  if (t.H != s.Ho || t.W != s.Wo) return false;  // an output size other than padding 2's
  const int64_t weight_bytes = t.Cout * t.Cin * 9 * int64_t(sizeof(float));
  if (weight_bytes >= limit) return false;
  // The phase planes x'[n][ci * 4 + 2 ry + rx][i][j] = x[n][ci][2i + ry][2j + rx] (0 past the edge) are not
  // written out: the Winograd driver stages each input window from x (PhaseInput). Written out
  // (28 MB for 64 channels at 332 x 332, then read back by the input transform), they took 2.8 of the 11.4 ms
  // of a 64 -> 32 conv at 332 x 332 (perf, 2 threads, Zen 4).
  const std::shared_ptr<const std::vector<float>> wp = phase_weights(s, w);
  const PhaseInput phases{s.H, s.W};
  return winograd_forward(t, x, wp->data(), b, y, limit - weight_bytes, epilogue, m, isa, &phases, second);
}

}  // namespace dcsr::kernels::cpu
