// Feature-map pairs for the exact patch matching paths, shared by the CPU
// map sweep's tests (test_match_patches.cpp) and the CUDA map path's
// (test_cuda_dcsr.cpp): random maps of odd sizes and channel counts, and
// adversarial ones (duplicates, ulp neighbours, flat and zero regions, large
// and tiny values), each with what the CPU path is expected to report.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace dcsr::test {

// (N, C, H, W) float32 from a seeded normal, times `scale`; `relu` clamps at 0
// as the matching extractor's last layer does.
inline std::vector<float> normal_map(int64_t N, int64_t C, int64_t H, int64_t W, uint64_t seed, double scale,
                                     bool relu) {
  Generator gen(seed);
  std::vector<float> v = normal({N, C, H, W}, gen).to_vector<float>();
  for (float& x : v) x = float((relu ? std::max(0.0f, x) : x) * scale);
  return v;
}

struct PatchMatchCase {
  std::string name;
  Tensor query, key;
  bool expect_fallback = false;  // some query goes to the float32 sweep (its candidate list overflowed)
  bool expect_zero = false;      // some query patch is all zeros (answered without a sweep)
  bool expect_decline = false;   // the path declines the images
};

inline std::vector<PatchMatchCase> patch_match_cases() {
  std::vector<PatchMatchCase> all;
  auto make = [](const std::vector<float>& v, int64_t N, int64_t C, int64_t H, int64_t W) {
    return from_vector(v, {N, C, H, W}, kFloat32);
  };
  {  // Two images, 16 channels, sizes that fill no band and no column block exactly.
    all.push_back({"random, 2 images, C 16", make(normal_map(2, 16, 37, 75, 1, 1.0, true), 2, 16, 37, 75),
                   make(normal_map(2, 16, 29, 41, 2, 1.0, true), 2, 16, 29, 41)});
  }
  for (int64_t C : {1, 3, 20}) {  // channel chunks below, at and past one chunk
    all.push_back({"random, C " + std::to_string(C), make(normal_map(1, C, 18, 66, 3, 1.0, false), 1, C, 18, 66),
                   make(normal_map(1, C, 21, 19, 4, 1.0, false), 1, C, 21, 19)});
  }
  all.push_back({"40 query columns (three lane vectors)", make(normal_map(1, 16, 7, 40, 15, 1.0, true), 1, 16, 7, 40),
                 make(normal_map(1, 16, 12, 9, 16, 1.0, true), 1, 16, 12, 9)});
  all.push_back({"smallest maps (2 x 2 against 2 x 3)", make(normal_map(1, 16, 2, 2, 5, 1.0, false), 1, 16, 2, 2),
                 make(normal_map(1, 16, 2, 3, 6, 1.0, false), 1, 16, 2, 3)});
  {  // The key map repeats a 5 x 7 patch of itself: exact ties, the first index wins;
     // a copy perturbed by one ulp at one pixel: near-ties of one ulp's size.
    const int64_t C = 16, H = 20, W = 28;
    std::vector<float> k = normal_map(1, C, H, W, 7, 1.0, true);
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < 5; ++y)
        for (int64_t x = 0; x < 7; ++x) {
          const float v = k[size_t((c * H + y + 2) * W + x + 3)];
          k[size_t((c * H + y + 12) * W + x + 3)] = v;
          k[size_t((c * H + y + 12) * W + x + 15)] = (y == 2 && x == 3) ? std::nextafter(v, 10.0f) : v;
        }
    std::vector<float> q = normal_map(1, C, 9, 17, 8, 1.0, true);
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < 5; ++y)
        for (int64_t x = 0; x < 7; ++x)
          q[size_t((c * 9 + y + 2) * 17 + x + 5)] = k[size_t((c * H + y + 2) * W + x + 3)];
    all.push_back({"duplicated and ulp-perturbed regions", make(q, 1, C, 9, 17), make(k, 1, C, H, W)});
  }
  {  // A flat region (every pixel the same vector) and a zero region in both maps.
    const int64_t C = 16, H = 24, W = 30;
    std::vector<float> q = normal_map(1, C, H, W, 9, 1.0, true), k = normal_map(1, C, H, W, 10, 1.0, true);
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 4; y < 16; ++y)
        for (int64_t x = 4; x < 16; ++x) {
          q[size_t((c * H + y) * W + x)] = 0.25f + 0.01f * float(c);
          k[size_t((c * H + y) * W + x)] = 0.25f + 0.01f * float(c);
          q[size_t((c * H + y + 6) * W + x + 12)] = 0.0f;
          k[size_t((c * H + y + 8) * W + x + 10)] = 0.0f;
        }
    PatchMatchCase flat{"flat and zero regions", make(q, 1, C, H, W), make(k, 1, C, H, W)};
    flat.expect_fallback = true;
    flat.expect_zero = true;
    all.push_back(flat);
  }
  {  // Zero regions alone, in the query (with negative zeros among them) and the key: no list overflows.
    const int64_t C = 16, H = 21, W = 26;
    std::vector<float> q = normal_map(1, C, H, W, 17, 1.0, false), k = normal_map(1, C, 19, 23, 18, 1.0, false);
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < 7; ++y)
        for (int64_t x = 0; x < 9; ++x) {
          q[size_t((c * H + y + 3) * W + x + 10)] = (x + c) % 3 == 0 ? -0.0f : 0.0f;
          q[size_t((c * H + y + 14) * W + x)] = 0.0f;  // at the edge: reflected windows
          k[size_t((c * 19 + y + 5) * 23 + x + 2)] = 0.0f;
        }
    PatchMatchCase zero{"zero regions (some -0), one at the edge", make(q, 1, C, H, W), make(k, 1, C, 19, 23)};
    zero.expect_zero = true;
    all.push_back(zero);
  }
  all.push_back({"large values (x 1e4), 47 query columns (their padding needs a fourth lane vector)",
                 make(normal_map(1, 16, 17, 47, 11, 1e4, false), 1, 16, 17, 47),
                 make(normal_map(1, 16, 19, 21, 12, 1e4, false), 1, 16, 19, 21)});
  {  // Patch norms below 1e-6: the path declines (the bound's relative terms need normal numbers).
    PatchMatchCase tiny{"tiny values (x 1e-9)", make(normal_map(1, 16, 9, 11, 13, 1e-9, false), 1, 16, 9, 11),
              make(normal_map(1, 16, 10, 12, 14, 1e-9, false), 1, 16, 10, 12)};
    tiny.expect_decline = true;
    all.push_back(tiny);
  }
  return all;
}

}  // namespace dcsr::test
