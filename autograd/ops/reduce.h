// Reductions.
#pragma once
#include <vector>

#include "tensor/tensor.h"

namespace dcsr {

// Sum / mean of all elements: shape ().
Tensor sum(const Tensor& x);
Tensor mean(const Tensor& x);
// Over the given dims (negative allowed, any order, no repeats).
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);

struct ValuesIndices {
  Tensor values;   // differentiable
  Tensor indices;  // int64, not differentiable
};
// Max / min along `dim`; the index is the FIRST among equal extremes (PyTorch).
ValuesIndices max(const Tensor& x, int64_t dim, bool keepdim = false);
ValuesIndices min(const Tensor& x, int64_t dim, bool keepdim = false);

// Sums `g` down to `shape` (the inverse of broadcasting `shape` up to g's
// shape). Returns g itself when the shapes are equal.
Tensor sum_to(const Tensor& g, const Shape& shape);
// Broadcasts x (numpy rules) to `shape`, copying. Differentiable.
Tensor expand(const Tensor& x, const Shape& shape);

}  // namespace dcsr
