#include "autograd/ops/shape.h"

#include "autograd/ops.h"
#include "runtime/device.h"

namespace dcsr {

// ---- Tensor members that record autograd history ----

Tensor Tensor::reshape(const Shape& requested) const {
  Shape shape = requested;
  int64_t known = 1, infer = -1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == -1) {
      DCSR_CHECK(infer < 0, "reshape: more than one -1 in ", shape_str(requested));
      infer = int64_t(d);
    } else {
      DCSR_CHECK(shape[d] >= 0, "reshape: negative size in ", shape_str(requested));
      known *= shape[d];
    }
  }
  if (infer >= 0) {
    DCSR_CHECK(known > 0 && numel() % known == 0, "reshape: cannot infer -1 in ", shape_str(requested), " for ",
               numel(), " elements");
    shape[size_t(infer)] = numel() / known;
  }
  DCSR_CHECK(shape_numel(shape) == numel(), "reshape: ", shape_str(this->shape()), " (", numel(),
             " elements) cannot become ", shape_str(shape));
  Tensor view = detach();
  view.impl().shape = shape;
  return autograd::record("reshape", {*this}, view,
                          [from = this->shape()](const Tensor& g) { return TensorList{g.reshape(from)}; });
}

Tensor Tensor::to(Device target) const {
  Tensor out = empty(shape(), dtype(), target);
  runtime::copy_bytes(out.raw_data(), target, raw_data(), device(), nbytes());
  return autograd::record("to_device", {*this}, out,
                          [source = device()](const Tensor& g) { return TensorList{g.to(source)}; });
}

Tensor Tensor::to(DType target) const {
  Tensor out = empty(shape(), target, device());
  kernels::cast(*this, out);
  return autograd::record("to_dtype", {*this}, out,
                          [source = dtype()](const Tensor& g) { return TensorList{g.to(source)}; });
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  runtime::copy_bytes(out.raw_data(), device(), raw_data(), device(), nbytes());
  return autograd::record("clone", {*this}, out, [](const Tensor& g) { return TensorList{g}; });
}

void Tensor::backward(const Tensor& grad, bool retain_graph) const {
  autograd::run_backward({*this}, {grad}, retain_graph);
}

// ---- ops ----

Tensor permute(const Tensor& x, const std::vector<int64_t>& perm_in) {
  DCSR_CHECK(int64_t(perm_in.size()) == x.dim(), "permute: ", perm_in.size(), " dims given for a tensor of shape ",
             shape_str(x.shape()));
  std::vector<int64_t> perm, inverse(perm_in.size(), -1);
  Shape shape;
  for (size_t i = 0; i < perm_in.size(); ++i) {
    int64_t d = wrap_dim(perm_in[i], x.dim(), "permute");
    DCSR_CHECK(inverse[size_t(d)] < 0, "permute: dim ", d, " appears twice");
    inverse[size_t(d)] = int64_t(i);
    perm.push_back(d);
    shape.push_back(x.shape()[size_t(d)]);
  }
  Tensor out = empty(shape, x.dtype(), x.device());
  kernels::permute(x, perm, out);
  return autograd::record("permute", {x}, out, [inverse](const Tensor& g) { return TensorList{permute(g, inverse)}; });
}

Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1) {
  std::vector<int64_t> perm(size_t(x.dim()));
  for (int64_t d = 0; d < x.dim(); ++d) perm[size_t(d)] = d;
  std::swap(perm[size_t(wrap_dim(dim0, x.dim(), "transpose"))], perm[size_t(wrap_dim(dim1, x.dim(), "transpose"))]);
  return permute(x, perm);
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  Shape shape = x.shape();
  shape.insert(shape.begin() + wrap_dim(dim, x.dim() + 1, "unsqueeze"), 1);
  return x.reshape(shape);
}

Tensor squeeze(const Tensor& x, int64_t dim) {
  int64_t d = wrap_dim(dim, x.dim(), "squeeze");
  DCSR_CHECK(x.shape()[size_t(d)] == 1, "squeeze: dim ", d, " of ", shape_str(x.shape()), " is not 1");
  Shape shape = x.shape();
  shape.erase(shape.begin() + d);
  return x.reshape(shape);
}

Tensor concat(const TensorList& tensors, int64_t dim) {
  DCSR_CHECK(!tensors.empty(), "concat: no tensors");
  const Tensor& first = tensors[0];
  dim = wrap_dim(dim, first.dim(), "concat");
  check_same_device(tensors, "concat");
  Shape shape = first.shape();
  shape[size_t(dim)] = 0;
  std::vector<int64_t> sizes;
  for (const Tensor& t : tensors) {
    bool compatible = t.dim() == first.dim() && t.dtype() == first.dtype();
    for (int64_t d = 0; compatible && d < t.dim(); ++d)
      compatible = d == dim || t.shape()[size_t(d)] == first.shape()[size_t(d)];
    DCSR_CHECK(compatible, "concat: ", shape_str(t.shape()), " ", dtype_name(t.dtype()), " does not match ",
               shape_str(first.shape()), " ", dtype_name(first.dtype()), " outside dim ", dim);
    sizes.push_back(t.shape()[size_t(dim)]);
    shape[size_t(dim)] += sizes.back();
  }
  Tensor out = empty(shape, first.dtype(), first.device());
  int64_t offset = 0;
  for (const Tensor& t : tensors) {
    kernels::copy_slice(t, out, dim, 0, offset, t.shape()[size_t(dim)]);
    offset += t.shape()[size_t(dim)];
  }
  return autograd::record("concat", tensors, out, [sizes, dim](const Tensor& g) { return split(g, sizes, dim); });
}

TensorList split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim) {
  dim = wrap_dim(dim, x.dim(), "split");
  int64_t total = 0;
  for (int64_t s : sizes) {
    DCSR_CHECK(s >= 0, "split: negative size ", s);
    total += s;
  }
  DCSR_CHECK(total == x.shape()[size_t(dim)], "split: sizes add up to ", total, " but dim ", dim, " of ",
             shape_str(x.shape()), " is ", x.shape()[size_t(dim)]);
  TensorList pieces;
  int64_t offset = 0;
  for (int64_t s : sizes) {
    Shape shape = x.shape();
    shape[size_t(dim)] = s;
    Tensor piece = empty(shape, x.dtype(), x.device());
    kernels::copy_slice(x, piece, dim, offset, 0, s);
    pieces.push_back(piece);
    offset += s;
  }
  // One node for all pieces: the gradient is assembled in one buffer.
  return autograd::record("split", {x}, pieces, [x_shape = x.shape(), dtype = x.dtype(), device = x.device(),
                                                 sizes, dim](const TensorList& grads) {
    Tensor grad_in = zeros(x_shape, dtype, device);
    int64_t start = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
      if (grads[i].defined()) kernels::copy_slice(grads[i], grad_in, dim, 0, start, sizes[i]);
      start += sizes[i];
    }
    return TensorList{grad_in};
  });
}

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  dim = wrap_dim(dim, x.dim(), "narrow");
  const int64_t size = x.shape()[size_t(dim)];
  DCSR_CHECK(start >= 0 && length >= 0 && start + length <= size, "narrow: [", start, ", ", start + length,
             ") is outside dim ", dim, " of ", shape_str(x.shape()));
  Shape shape = x.shape();
  shape[size_t(dim)] = length;
  Tensor out = empty(shape, x.dtype(), x.device());
  kernels::copy_slice(x, out, dim, start, 0, length);
  return autograd::record("narrow", {x}, out, [x_shape = x.shape(), dim, start, length](const Tensor& g) {
    Tensor grad_in = zeros(x_shape, g.dtype(), g.device());
    kernels::copy_slice(g, grad_in, dim, 0, start, length);
    return TensorList{grad_in};
  });
}

Tensor pad2d(const Tensor& x, const std::array<int64_t, 4>& pads, PadMode mode, double value) {
  check_floating(x, "pad2d", "input");
  DCSR_CHECK(x.dim() >= 2, "pad2d: needs at least 2 dims, got ", shape_str(x.shape()));
  const int64_t H = x.size(-2), W = x.size(-1);
  for (int64_t p : pads) DCSR_CHECK(p >= 0, "pad2d: negative padding ", p);
  if (mode == PadMode::Reflect)
    DCSR_CHECK(pads[0] < W && pads[1] < W && pads[2] < H && pads[3] < H, "pad2d: reflection padding (",
               pads[0], ", ", pads[1], ", ", pads[2], ", ", pads[3], ") must be smaller than the input's ",
               shape_str(x.shape()), " last two dims");
  Shape shape = x.shape();
  shape[shape.size() - 2] = H + pads[2] + pads[3];
  shape[shape.size() - 1] = W + pads[0] + pads[1];
  Tensor out = empty(shape, x.dtype(), x.device());
  kernels::pad2d(x, out, pads, mode, value);
  return autograd::record("pad2d", {x}, out, [x_shape = x.shape(), pads, mode](const Tensor& g) {
    Tensor grad_in = empty(x_shape, g.dtype(), g.device());
    kernels::pad2d_backward(g, grad_in, pads, mode);
    return TensorList{grad_in};
  });
}

Tensor crop2d(const Tensor& x, const std::array<int64_t, 4>& crops) {
  check_floating(x, "crop2d", "input");
  DCSR_CHECK(x.dim() >= 2, "crop2d: needs at least 2 dims, got ", shape_str(x.shape()));
  const int64_t H = x.size(-2), W = x.size(-1);
  for (int64_t c : crops) DCSR_CHECK(c >= 0, "crop2d: negative crop ", c);
  DCSR_CHECK(crops[0] + crops[1] <= W && crops[2] + crops[3] <= H, "crop2d: crops (", crops[0], ", ", crops[1],
             ", ", crops[2], ", ", crops[3], ") exceed the last two dims of ", shape_str(x.shape()));
  Shape shape = x.shape();
  shape[shape.size() - 2] = H - crops[2] - crops[3];
  shape[shape.size() - 1] = W - crops[0] - crops[1];
  Tensor out = empty(shape, x.dtype(), x.device());
  // The crop is the gradient of a zero pad (kernels::crop2d), and the zero pad the crop's.
  kernels::crop2d(x, out, crops);
  return autograd::record("crop2d", {x}, out, [x_shape = x.shape(), crops](const Tensor& g) {
    Tensor grad_in = empty(x_shape, g.dtype(), g.device());
    kernels::pad2d(g, grad_in, crops, PadMode::Constant, 0.0);
    return TensorList{grad_in};
  });
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  dim = wrap_dim(dim, x.dim(), "index_select");
  DCSR_CHECK(index.dtype() == kInt64 && index.dim() == 1, "index_select: index must be a 1-D int64 tensor, got ",
             dtype_name(index.dtype()), " ", shape_str(index.shape()));
  check_same_device({x, index}, "index_select");
  Shape shape = x.shape();
  shape[size_t(dim)] = index.numel();
  Tensor out = empty(shape, x.dtype(), x.device());
  kernels::index_select(x, dim, index, out);
  return autograd::record("index_select", {x}, out, [x_shape = x.shape(), dim, index](const Tensor& g) {
    Tensor grad_in = zeros(x_shape, g.dtype(), g.device());
    kernels::index_add(grad_in, dim, index, g);
    return TensorList{grad_in};
  });
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  dim = wrap_dim(dim, x.dim(), "gather");
  DCSR_CHECK(index.dtype() == kInt64, "gather: index must be int64, got ", dtype_name(index.dtype()));
  check_same_device({x, index}, "gather");
  Tensor out = empty(index.shape(), x.dtype(), x.device());
  kernels::gather(x, dim, index, out);
  return autograd::record("gather", {x}, out, [x_shape = x.shape(), dim, index](const Tensor& g) {
    Tensor grad_in = zeros(x_shape, g.dtype(), g.device());
    kernels::scatter_add(grad_in, dim, index, g);
    return TensorList{grad_in};
  });
}

}  // namespace dcsr
