// Matching inputs that the exact reduced-precision paths must get right bit
// for bit (tests/test_match_int16.cpp on the CPU, tests/test_cuda_dcsr.cpp's
// TF32 path on the GPU): random columns, odd depths and sizes, near-ties
// below any reduced precision, keys one ulp apart, exact duplicates, flat
// regions that overflow candidate lists, zero columns, columns of very
// different norms, a NaN.
#pragma once
#include <cmath>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "tensor/random.h"

namespace dcsr::test {

// (N, D, L) float32 columns of a seeded normal, scaled to unit length.
inline std::vector<float> unit_columns(int64_t N, int64_t D, int64_t L, uint64_t seed) {
  Generator gen(seed);
  std::vector<float> v = normal({N, D, L}, gen).to_vector<float>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < L; ++i) {
      double s = 0;
      for (int64_t d = 0; d < D; ++d) s += double(v[size_t((n * D + d) * L + i)]) * v[size_t((n * D + d) * L + i)];
      for (int64_t d = 0; d < D; ++d) v[size_t((n * D + d) * L + i)] = float(v[size_t((n * D + d) * L + i)] / std::sqrt(s));
    }
  return v;
}

// Sets column i of (1, D, L) v to `col`.
inline void set_column(std::vector<float>& v, int64_t D, int64_t L, int64_t i, const std::vector<float>& col) {
  for (int64_t d = 0; d < D; ++d) v[size_t(d * L + i)] = col[size_t(d)];
}

struct MatchInput {
  std::string name;
  Tensor q, k;
  bool expect_fallback = false;  // some query's candidates overflow the int16 path's list
  bool expect_decline = false;   // the CPU's exact paths decline the image
};

inline std::vector<MatchInput> match_inputs() {
  std::vector<MatchInput> all;
  auto add = [&](const std::string& name, int64_t N, int64_t D, int64_t Nq, int64_t Nk, const std::vector<float>& q,
                 const std::vector<float>& k) {
    all.push_back({name, from_vector(q, {N, D, Nq}, kFloat32), from_vector(k, {N, D, Nk}, kFloat32)});
    return &all.back();
  };
  // Random unit columns at the descriptors' depth, two images, partial
  // panels on both sides (333 = 20 x 16 + 13 = 5 x 64 + 13 queries,
  // 1001 = 166 x 6 + 5 keys).
  add("random 144-D", 2, 144, 333, 1001, unit_columns(2, 144, 333, 1), unit_columns(2, 144, 1001, 2));
  // Odd depths (an odd D pads one zero row), a single query, a single key.
  add("D 9", 1, 9, 17, 7, unit_columns(1, 9, 17, 3), unit_columns(1, 9, 7, 4));
  add("D 15, one key", 1, 15, 40, 1, unit_columns(1, 15, 40, 5), unit_columns(1, 15, 1, 6));
  add("D 1, one query", 1, 1, 1, 5, {0.5f}, {-1.0f, 0.25f, 3.0f, 3.0f, -2.0f});

  const int64_t D = 144, Nq = 70, Nk = 900;
  const std::vector<float> proto = unit_columns(1, D, 1, 7);
  Generator gen(8);
  std::vector<float> noise = normal({Nk * D}, gen).to_vector<float>();
  {
    // Near-ties below the int16 resolution: keys = proto + eps * noise with
    // eps from 1e-7 to 1e-4, scattered over the key range; queries = proto
    // and proto + smaller noise. The order among these keys is decided only
    // by the float32 chains.
    std::vector<float> k = unit_columns(1, D, Nk, 9), q = unit_columns(1, D, Nq, 10);
    for (int64_t j = 3; j < Nk; j += 29) {
      const double eps = std::pow(10.0, -7.0 + 3.0 * double(j % 7) / 6.0);
      std::vector<float> col(proto);
      for (int64_t d = 0; d < D; ++d) col[size_t(d)] += float(eps * noise[size_t(j * D + d)]);
      set_column(k, D, Nk, j, col);
    }
    for (int64_t i = 0; i < Nq; i += 3) {
      std::vector<float> col(proto);
      for (int64_t d = 0; d < D; ++d) col[size_t(d)] += float(1e-6 * noise[size_t(i * D + d)]);
      set_column(q, D, Nq, i, col);
    }
    add("near-ties 1e-7 to 1e-4", 1, D, Nq, Nk, q, k);
  }
  {
    // Keys one ulp apart in one component, and exact duplicates across
    // panels and row blocks (the first must win).
    std::vector<float> k = unit_columns(1, D, Nk, 11), q = unit_columns(1, D, Nq, 12);
    const std::vector<int64_t> at = {5, 6, 11, 383, 384, 385, 600, 899};
    for (size_t s = 0; s < at.size(); ++s) {
      std::vector<float> col(proto);
      const size_t d = size_t(s * 17 % D);
      if (s % 3 == 1) col[d] = std::nextafter(col[d], 2.0f);
      if (s % 3 == 2) col[d] = std::nextafter(col[d], -2.0f);
      set_column(k, D, Nk, at[s], col);
    }
    for (int64_t i : {0, 1, 33, 69}) set_column(q, D, Nq, i, proto);
    add("ulp neighbours and duplicates", 1, D, Nq, Nk, q, k);
  }
  {
    // A flat region: 200 identical keys and queries equal to them, so every
    // one is a candidate: the lists overflow and the float32 sweep takes them.
    std::vector<float> k = unit_columns(1, D, Nk, 13), q = unit_columns(1, D, Nq, 14);
    for (int64_t j = 100; j < 300; ++j) set_column(k, D, Nk, j, proto);
    for (int64_t i = 0; i < Nq; i += 2) set_column(q, D, Nq, i, proto);
    add("flat region", 1, D, Nq, Nk, q, k)->expect_fallback = true;
  }
  {
    // Zero queries (every key ties at 0) and zero keys, and columns scaled
    // from 1e-3 to 1e3 (the op is max_j <k_j, q_i> on whatever it gets).
    std::vector<float> k = unit_columns(1, D, Nk, 15), q = unit_columns(1, D, Nq, 16);
    const std::vector<float> zero(size_t(D), 0.0f);
    for (int64_t i : {2, 3, 50}) set_column(q, D, Nq, i, zero);
    for (int64_t j : {0, 10, 700}) set_column(k, D, Nk, j, zero);
    for (int64_t j = 0; j < Nk; ++j)
      for (int64_t d = 0; d < D; ++d) k[size_t(d * Nk + j)] *= float(std::pow(10.0, double(j % 7) - 3.0));
    for (int64_t i = 0; i < Nq; ++i)
      for (int64_t d = 0; d < D; ++d) q[size_t(d * Nq + i)] *= float(std::pow(10.0, double(i % 5) - 2.0));
    add("zero columns, norms 1e-3 to 1e3", 1, D, Nq, Nk, q, k)->expect_fallback = true;
  }
  {
    // Two keys whose int16 rounding errors are about as large as the bound E
    // of one score allows, in opposite directions, on a near-tie: q = (1, 0)
    // (exact at its scale, 32767); k0 = (0.5, 1), scale 32767, whose first
    // component lands on a half step (16383.5) and rounds up a half step;
    // k1 = (0.5 + 2^-20, 1 + 21 * 2^-23), scale 32766.92, whose first
    // component (16383.49 steps) rounds down almost a half step. The float32
    // scores put k1 ahead (0.50000095 > 0.5), the int16 scores k0, by 2.93e-5
    // = 1.9 E (E = 1.56e-5): k1 stays a candidate only in the bound's full
    // 2 E window (kernels/cpu/max_cosine_int16.cpp).
    add("rounding errors of opposite signs on a near-tie", 1, 2, 1, 2, {1.0f, 0.0f},
        {0.5f, 0.5f + 0x1p-20f, 1.0f, 1.0f + 21 * 0x1p-23f});
  }
  {
    // A NaN: the path declines (its bound needs finite inputs).
    std::vector<float> k = unit_columns(1, 16, 50, 17), q = unit_columns(1, 16, 20, 18);
    q[5] = std::nanf("");
    add("a NaN query element", 1, 16, 20, 50, q, k)->expect_decline = true;
  }
  return all;
}

}  // namespace dcsr::test
