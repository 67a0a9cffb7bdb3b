// Helpers shared by the tests: a gradcheck wrapper, tolerance comparisons that
// report how much of the tolerance was used, the PyTorch goldens; and, from
// tests/op_inputs.h, inputs that stay away from kinks and ties and guards
// for the ops' global limits.
#pragma once
#include "catch.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <numeric>
#include <string>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "runtime/device.h"
#include "runtime/switches.h"
#include "tensor/random.h"
#include "tensor/serialize.h"
#include "op_inputs.h"

// [cuda] tests call this first. Without a GPU the test prints the marker that
// ctest's SKIP_REGULAR_EXPRESSION (CMakeLists.txt) turns into "Skipped".
#define DCSR_SKIP_WITHOUT_GPU()                                                        \
  do {                                                                                 \
    if (!::dcsr::runtime::cuda_available()) {                                          \
      WARN("SKIPPED: no GPU (" << ::dcsr::runtime::cuda_unavailable_reason() << ")"); \
      return;                                                                          \
    }                                                                                  \
  } while (0)

namespace dcsr::test {

// A float32 tensor's bit patterns, so that NaN and -0 compare as what they are
// (the exact matching paths are checked bit for bit with it).
inline std::vector<uint32_t> float_bits(const Tensor& t) {
  std::vector<float> v = t.to_vector<float>();
  std::vector<uint32_t> b(v.size());
  std::memcpy(b.data(), v.data(), v.size() * sizeof(float));
  return b;
}

// How many values of two float32 tensors differ in their bits; -1 when the
// shapes differ. A count prints briefly where a failing vector comparison
// would print every value.
inline int64_t count_bit_differences(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return -1;
  const std::vector<uint32_t> x = float_bits(a), y = float_bits(b);
  int64_t differ = 0;
  for (size_t i = 0; i < x.size(); ++i) differ += x[i] != y[i];
  return differ;
}

inline void require_gradcheck(const TensorFunction& fn, const TensorList& inputs, GradcheckOptions options = {}) {
  GradcheckReport report = gradcheck(fn, inputs, options);
  INFO(report.summary());
  CHECK(report.elements_checked > 0);
  REQUIRE(report.ok);
}

// |actual - expected| <= atol + rtol |expected| element-wise; prints the share
// of the tolerance used.
inline void require_close(const Tensor& actual, const std::vector<double>& expected, double atol = 1e-12,
                          double rtol = 0.0, const std::string& what = "") {
  std::vector<double> got = actual.to_vector<double>();
  REQUIRE(got.size() == expected.size());
  if (got.empty()) return;  // nothing to compare (and no worst element to name)
  double worst = 0.0;
  size_t worst_index = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    double share = std::abs(got[i] - expected[i]) / (atol + rtol * std::abs(expected[i]));
    if (!(share <= worst)) worst = share, worst_index = i;
  }
  INFO(what << " worst element " << worst_index << ": got " << got[worst_index] << " expected "
            << expected[worst_index] << " (" << worst * 100.0 << "% of tolerance)");
  if (!what.empty()) WARN(what << ": " << worst * 100.0 << "% of tolerance used");
  REQUIRE(worst <= 1.0);
}

inline void require_close(const Tensor& actual, const Tensor& expected, double atol = 1e-12, double rtol = 0.0,
                          const std::string& what = "") {
  REQUIRE(actual.shape() == expected.shape());
  require_close(actual, expected.to_vector<double>(), atol, rtol, what);
}

// The tensors of tests/golden/<name>.bin, written by the scripts of
// tests/reference/ (tests/reference/README.md lists them).
inline std::map<std::string, Tensor> golden(const std::string& name) {
  return load_tensors(std::string(DCSR_SOURCE_DIR) + "/tests/golden/" + name + ".bin");
}

}  // namespace dcsr::test
