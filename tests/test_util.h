// Helpers shared by the tests: inputs that stay away from kinks and ties, a
// gradcheck wrapper, tolerance comparisons that report how much of the
// tolerance was used, the PyTorch goldens, and guards for the ops' global
// limits.
#pragma once
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <string>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "runtime/device.h"
#include "runtime/switches.h"
#include "tensor/random.h"
#include "tensor/serialize.h"

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

// A float64 leaf that requires grad, values uniform in [low, high).
inline Tensor leaf(const Shape& shape, uint64_t seed, double low = -1.0, double high = 1.0) {
  Generator gen(seed);
  return uniform(shape, gen, low, high, kFloat64).requires_grad_();
}

// Like leaf(), but every value is at least `margin` away from each kink, so
// that central differences never straddle one.
inline Tensor leaf_away_from(const Shape& shape, uint64_t seed, const std::vector<double>& kinks,
                             double margin = 0.05, double low = -1.0, double high = 1.0) {
  Generator gen(seed);
  std::vector<double> values(size_t(shape_numel(shape)));
  for (double& v : values) {
    bool near;
    do {
      v = gen.uniform(low, high);
      near = false;
      for (double k : kinks) near = near || std::abs(v - k) < margin;
    } while (near);
  }
  return from_vector(values, shape).requires_grad_();
}

// Distinct values 0.1 apart in random order (no ties for max/min/argmax).
inline Tensor leaf_distinct(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  std::vector<double> values(size_t(shape_numel(shape)));
  for (size_t i = 0; i < values.size(); ++i) values[i] = 0.1 * double(i) - 0.05 * double(values.size());
  for (size_t i = values.size(); i > 1; --i) std::swap(values[i - 1], values[size_t(gen.randint(0, int64_t(i)))]);
  return from_vector(values, shape).requires_grad_();
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

// Restores the matching tile limit when a test that changes it leaves (also
// on failure), so that later tests see the default.
struct TileLimitGuard {
  int64_t saved = match_tile_limit();
  ~TileLimitGuard() { set_match_tile_limit(saved); }
};

// Sets the conv workspace limit for a test's scope and restores it when the
// test leaves (also on failure).
struct WorkspaceLimit {
  int64_t saved = conv_workspace_limit();
  explicit WorkspaceLimit(int64_t bytes) { set_conv_workspace_limit(bytes); }
  ~WorkspaceLimit() { set_conv_workspace_limit(saved); }
};

// Sets the CUDA conv forward's path (runtime/device.h) for a test's
// scope and restores it when the test leaves.
struct ConvPathScope {
  runtime::CudaConvPath saved = runtime::cuda_conv_path();
  explicit ConvPathScope(runtime::CudaConvPath path) { runtime::set_cuda_conv_path(path); }
  ~ConvPathScope() { runtime::set_cuda_conv_path(saved); }
};

}  // namespace dcsr::test
