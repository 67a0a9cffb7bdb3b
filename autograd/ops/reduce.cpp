#include "autograd/ops/reduce.h"

#include <algorithm>

#include "autograd/ops.h"
#include "kernels/kernels.h"

namespace dcsr {

namespace {
std::vector<int64_t> normalise_dims(const std::vector<int64_t>& dims, int64_t ndim, const char* op) {
  std::vector<int64_t> out;
  for (int64_t d : dims) out.push_back(wrap_dim(d, ndim, op));
  std::sort(out.begin(), out.end());
  DCSR_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), op, ": a dim is repeated");
  return out;
}

Shape keepdim_shape(const Shape& shape, const std::vector<int64_t>& dims) {
  Shape out = shape;
  for (int64_t d : dims) out[size_t(d)] = 1;
  return out;
}

Shape dropped_shape(const Shape& shape, const std::vector<int64_t>& dims) {
  Shape out;
  for (size_t d = 0; d < shape.size(); ++d)
    if (!std::binary_search(dims.begin(), dims.end(), int64_t(d))) out.push_back(shape[d]);
  return out;
}

ValuesIndices extreme(const Tensor& x, int64_t dim, bool keepdim, bool take_min) {
  const char* name = take_min ? "min" : "max";
  check_floating(x, name, "input");
  dim = wrap_dim(dim, x.dim(), name);
  Shape kept = keepdim_shape(x.shape(), {dim});
  Tensor values = empty(kept, x.dtype(), x.device());
  Tensor indices = empty(kept, kInt64, x.device());
  kernels::max_along(x, dim, take_min, values, indices);
  Shape result_shape = keepdim ? kept : dropped_shape(x.shape(), {dim});
  Tensor v = values.reshape(result_shape), i = indices.reshape(result_shape);
  // The gradient goes to the selected element only (scatter into zeros).
  TensorList outputs = autograd::record(
      name, {x}, {v, i}, [shape = x.shape(), dtype = x.dtype(), indices, kept, dim](const TensorList& grads) {
        Tensor grad_in = zeros(shape, dtype, indices.device());
        kernels::scatter_add(grad_in, dim, indices, grads[0].reshape(kept));
        return TensorList{grad_in};
      });
  return {outputs[0], outputs[1]};
}
}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  check_floating(x, "sum", "input");
  std::vector<int64_t> dims = normalise_dims(dims_in, x.dim(), "sum");
  Shape kept = keepdim_shape(x.shape(), dims);
  Tensor out = empty(kept, x.dtype(), x.device());
  kernels::sum(x, dims, out);
  if (!keepdim) out = out.detach().reshape(dropped_shape(x.shape(), dims));
  // d sum = the output gradient broadcast back over the reduced dims.
  return autograd::record("sum", {x}, out, [shape = x.shape(), kept](const Tensor& g) {
    return TensorList{expand(g.reshape(kept), shape)};
  });
}

Tensor sum(const Tensor& x) {
  std::vector<int64_t> all(size_t(x.dim()));
  for (int64_t d = 0; d < x.dim(); ++d) all[size_t(d)] = d;
  return sum(x, all, false);
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  int64_t count = 1;
  for (int64_t d : normalise_dims(dims, x.dim(), "mean")) count *= x.shape()[size_t(d)];
  DCSR_CHECK(count > 0, "mean: reduction over an empty dim of ", shape_str(x.shape()));
  return mul(sum(x, dims, keepdim), 1.0 / double(count));
}

Tensor mean(const Tensor& x) {
  DCSR_CHECK(x.numel() > 0, "mean: empty tensor");
  return mul(sum(x), 1.0 / double(x.numel()));
}

ValuesIndices max(const Tensor& x, int64_t dim, bool keepdim) { return extreme(x, dim, keepdim, false); }
ValuesIndices min(const Tensor& x, int64_t dim, bool keepdim) { return extreme(x, dim, keepdim, true); }

Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  // Dims that g has in front of `shape`, plus dims where shape has size 1.
  const int64_t lead = g.dim() - int64_t(shape.size());
  DCSR_CHECK(lead >= 0, "sum_to: cannot reduce ", shape_str(g.shape()), " to ", shape_str(shape));
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < g.dim(); ++d) {
    if (d < lead) dims.push_back(d);
    else if (shape[size_t(d - lead)] == 1 && g.shape()[size_t(d)] != 1) dims.push_back(d);
    else
      DCSR_CHECK(shape[size_t(d - lead)] == g.shape()[size_t(d)], "sum_to: cannot reduce ", shape_str(g.shape()),
                 " to ", shape_str(shape));
  }
  return sum(g, dims, true).reshape(shape);
}

Tensor expand(const Tensor& x, const Shape& shape) {
  check_floating(x, "expand", "input");
  DCSR_CHECK(broadcast_shape(x.shape(), shape, "expand") == shape, "expand: ", shape_str(x.shape()),
             " cannot be broadcast to ", shape_str(shape));
  // The broadcasting add kernel does the copy: out = x + 0.
  Tensor out = empty(shape, x.dtype(), x.device());
  kernels::binary(kernels::BinaryOp::Add, x, zeros({}, x.dtype(), x.device()), out);
  return autograd::record("expand", {x}, out, [from = x.shape()](const Tensor& g) { return TensorList{sum_to(g, from)}; });
}

}  // namespace dcsr
