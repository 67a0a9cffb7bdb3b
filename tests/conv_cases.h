// The CPU conv2d code paths as test cases, listed once: the op table's
// gradchecks (tests/op_rows_image.h) and the forward tests of
// tests/test_ops_image.cpp (naive loop, fused activations, float32) run them.
#pragma once
#include <sstream>
#include <string>
#include <vector>

#include "op_inputs.h"

namespace dcsr::test {

struct ConvCase {
  Shape x;
  int64_t cout, k, stride, padding, groups;
  bool bias;
};

inline std::string describe(const ConvCase& c) {
  std::ostringstream s;
  s << "x " << shape_str(c.x) << " cout " << c.cout << " k " << c.k << " stride " << c.stride << " padding "
    << c.padding << " groups " << c.groups << (c.bias ? " bias" : " no bias");
  return s.str();
}

// Every code path of the CPU kernels: pointwise, im2col + GEMM, grouped,
// depthwise, stride-1 input gradient by the flipped kernel, col2im with and
// without overlapping footprints, padding beyond k - 1.
inline const std::vector<ConvCase>& conv_cases() {
  static const std::vector<ConvCase> cases = {
      {{2, 3, 5, 6}, 4, 1, 1, 0, 1, true},    // pointwise
      {{2, 3, 7, 6}, 4, 3, 1, 1, 1, true},    // the DCSR default
      {{1, 3, 8, 7}, 5, 3, 2, 1, 1, true},    // col2im, overlapping footprints
      {{1, 2, 10, 9}, 3, 5, 2, 2, 1, false},
      {{1, 4, 13, 12}, 3, 5, 4, 2, 1, true},  // stride 4 (8K p_conv geometry)
      {{1, 2, 9, 8}, 3, 7, 1, 3, 1, true},
      {{1, 3, 9, 10}, 2, 3, 4, 1, 1, true},   // stride > kernel: disjoint footprints
      {{1, 4, 6, 5}, 6, 3, 1, 1, 2, true},    // grouped
      {{2, 3, 7, 6}, 3, 3, 1, 1, 3, true},    // depthwise
      {{1, 3, 8, 7}, 3, 3, 2, 1, 3, false},   // depthwise, stride 2
      {{1, 2, 5, 6}, 3, 1, 2, 0, 1, true},    // 1x1 stride 2: im2col path
      {{1, 2, 4, 5}, 3, 1, 1, 1, 1, true},    // padding > k - 1
      {{1, 2, 6, 5}, 2, 3, 1, 0, 1, true},    // valid convolution
  };
  return cases;
}

inline Tensor conv_of(const ConvCase& c, const TensorList& in) {
  return conv2d(in[0], in[1], c.bias ? in[2] : Tensor(), c.stride, c.padding, c.groups);
}

// x, weight and (if the case has one) bias, uniform in [-1, 1), float64 leaves.
inline TensorList conv_inputs(const ConvCase& c, uint64_t seed, DType dtype = kFloat64) {
  TensorList in{uniform_leaf(c.x, seed, dtype), uniform_leaf({c.cout, c.x[1] / c.groups, c.k, c.k}, seed + 1, dtype)};
  if (c.bias) in.push_back(uniform_leaf({c.cout}, seed + 2, dtype));
  return in;
}

}  // namespace dcsr::test
