// Synthetic telephotos with a known registration, for the tests of what
// follows the registration (test_normalise.cpp, test_sr_batch.cpp).
#pragma once
#include <cstdint>
#include <functional>

#include "dcsr/registration/register.h"
#include "tensor/tensor.h"

namespace dcsr::test {

// A picture defined in continuous wide (LR) coordinates: f(x, y, channel).
using Scene = std::function<double(double x, double y, int64_t c)>;

// The (1, 3, th, tw) telephoto of `scene` through t: pixel (v, u) shows the
// scene at the wide position of its centre (point sampling).
inline Tensor tele_of(const Scene& scene, const Similarity& t, int64_t th, int64_t tw) {
  Tensor tele = empty({1, 3, th, tw});
  float* d = tele.data<float>();
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t v = 0; v < th; ++v)
      for (int64_t u = 0; u < tw; ++u) {
        const auto w = t.to_wide(double(u) + 0.5, double(v) + 0.5);
        d[(c * th + v) * tw + u] = float(scene(w[0], w[1], c));
      }
  return tele;
}

// The registration that t would be, for a th x tw telephoto, at `confidence`.
inline Registration registration_of(const Similarity& t, int64_t th, int64_t tw, double confidence = 1.0) {
  Registration r;
  r.tele_to_wide = t;
  r.confidence = confidence;
  r.fov_quad = fov_quad(t, th, tw);
  return r;
}

}  // namespace dcsr::test
