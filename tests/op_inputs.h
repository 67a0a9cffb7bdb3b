// Inputs for op tests and benches, without Catch2 (apps/bench uses them too):
// leaves that stay away from kinks and ties, in any floating dtype, and guards
// that set one of the ops' global limits for a scope.
//
// Every generator draws from its own seeded Generator, so a case gets the same
// values each run; float32 inputs are drawn directly in float32 where the
// uniform() call allows it (as the [cuda] parity tests always did), else drawn
// in double and rounded.
#pragma once
#include <algorithm>
#include <cmath>
#include <vector>

#include "autograd/ops.h"
#include "runtime/switches.h"
#include "tensor/random.h"

namespace dcsr::test {

// A leaf of `dtype` that requires grad, values uniform in [low, high).
inline Tensor uniform_leaf(const Shape& shape, uint64_t seed, DType dtype, double low = -1.0, double high = 1.0) {
  Generator gen(seed);
  return uniform(shape, gen, low, high, dtype).requires_grad_();
}

// A float64 leaf that requires grad, values uniform in [low, high).
inline Tensor leaf(const Shape& shape, uint64_t seed, double low = -1.0, double high = 1.0) {
  return uniform_leaf(shape, seed, kFloat64, low, high);
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

// leaf() / leaf_away_from() / leaf_distinct() in `dtype` (the float64 values rounded).
inline Tensor in_dtype(const Tensor& leaf64, DType dtype) {
  return dtype == kFloat64 ? leaf64 : leaf64.detach().to(dtype).requires_grad_();
}
inline Tensor away_leaf(const Shape& shape, uint64_t seed, DType dtype, const std::vector<double>& kinks,
                        double margin = 0.05, double low = -1.0, double high = 1.0) {
  return in_dtype(leaf_away_from(shape, seed, kinks, margin, low, high), dtype);
}
inline Tensor distinct_leaf(const Shape& shape, uint64_t seed, DType dtype) {
  return in_dtype(leaf_distinct(shape, seed), dtype);
}

// An int64 tensor, values uniform in [low, high) (indices; ties() below).
inline Tensor int_tensor(const Shape& shape, uint64_t seed, int64_t low, int64_t high) {
  Generator gen(seed);
  std::vector<int64_t> v(size_t(shape_numel(shape)));
  for (int64_t& x : v) x = gen.randint(low, high);
  return from_vector(v, shape);
}

// A leaf of `dtype` with values from {0, 1, ..., levels - 1}: many exact ties
// (for first-index rules; not for gradchecks).
inline Tensor ties_leaf(const Shape& shape, uint64_t seed, DType dtype, int64_t levels) {
  return int_tensor(shape, seed, 0, levels).to(dtype).requires_grad_();
}

// Restores the matching tile limit when a test that changes it leaves (also
// on failure), so that later tests see the default.
struct TileLimitGuard {
  int64_t saved = match_tile_limit();
  TileLimitGuard() = default;
  explicit TileLimitGuard(int64_t bytes) { set_match_tile_limit(bytes); }
  ~TileLimitGuard() { set_match_tile_limit(saved); }
};

// Sets the conv workspace limit for a test's scope and restores it when the
// test leaves (also on failure).
struct WorkspaceLimit {
  int64_t saved = conv_workspace_limit();
  explicit WorkspaceLimit(int64_t bytes) { set_conv_workspace_limit(bytes); }
  ~WorkspaceLimit() { set_conv_workspace_limit(saved); }
};

// Sets the CUDA conv forward's path (runtime/switches.h) for a test's
// scope and restores it when the test leaves.
struct ConvPathScope {
  runtime::CudaConvPath saved = runtime::cuda_conv_path();
  explicit ConvPathScope(runtime::CudaConvPath path) { runtime::set_cuda_conv_path(path); }
  ~ConvPathScope() { runtime::set_cuda_conv_path(saved); }
};

}  // namespace dcsr::test
