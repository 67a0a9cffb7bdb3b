// Image ops: argument checks, the forward kernel call and the backward
// formula of each op side by side. The backward formulas call dedicated
// backward kernels (the adjoints of the forward kernels), so they are device
// independent but not differentiable twice.
#include "autograd/ops/image.h"

#include <atomic>
#include <cmath>
#include <string>

#include "autograd/ops.h"
#include "kernels/kernels.h"

namespace dcsr {

namespace {

std::atomic<int64_t> workspace_limit{int64_t(256) << 20};

void check_image(const Tensor& x, const char* op, const char* what = "input") {
  check_floating(x, op, what);
  DCSR_CHECK(x.dim() == 4, op, ": ", what, " must be 4-D (N, C, H, W), got ", shape_str(x.shape()));
}

void check_same_type(const Tensor& a, const Tensor& b, const char* op, const char* what_a, const char* what_b) {
  DCSR_CHECK(a.dtype() == b.dtype(), op, ": ", what_a, " is ", dtype_name(a.dtype()), " but ", what_b, " is ",
             dtype_name(b.dtype()));
  check_same_device({a, b}, op);
}

// Windows of size k moved with stride s over size + 2*padding positions.
int64_t windows(int64_t size, int64_t kernel, int64_t stride, int64_t padding) {
  return (size + 2 * padding - kernel) / stride + 1;
}

}  // namespace

void set_conv_workspace_limit(int64_t bytes) {
  DCSR_CHECK(bytes > 0, "set_conv_workspace_limit: ", bytes, " is not a positive byte count");
  workspace_limit = bytes;
}

int64_t conv_workspace_limit() { return workspace_limit; }

// ---------------------------------------------------------------- conv2d

namespace {

// The checks of a conv's arguments (`op` names the op in messages; residual
// may be undefined; extra_channels: a second input's, after x's): returns the
// output's shape (N, Cout, Ho, Wo), and resolves padding < 0 to k / 2.
Shape conv_output_shape(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias,
                        const Tensor& residual, int64_t stride, int64_t& padding, int64_t groups,
                        int64_t extra_channels = 0) {
  check_image(x, op);
  check_floating(weight, op, "weight");
  check_same_type(x, weight, op, "input", "weight");
  DCSR_CHECK(weight.dim() == 4 && weight.size(2) == weight.size(3) && weight.size(2) >= 1, op, ": weight ",
             shape_str(weight.shape()), " must be (Cout, Cin/groups, k, k)");
  const int64_t N = x.size(0), Cin = x.size(1) + extra_channels, H = x.size(2), W = x.size(3);
  const int64_t Cout = weight.size(0), k = weight.size(2);
  DCSR_CHECK(groups >= 1, op, ": groups ", groups, " must be positive");
  DCSR_CHECK(Cin % groups == 0, op, ": groups ", groups, " does not divide the input channels ", Cin,
             " of input ", shape_str(x.shape()));
  DCSR_CHECK(Cout % groups == 0, op, ": groups ", groups, " does not divide the output channels of weight ",
             shape_str(weight.shape()));
  DCSR_CHECK(weight.size(1) * groups == Cin, op, ": weight ", shape_str(weight.shape()),
             " does not match input channels ", Cin, groups > 1 ? " with groups " : "",
             groups > 1 ? std::to_string(groups) : std::string());
  if (bias.defined()) {
    check_floating(bias, op, "bias");
    check_same_type(x, bias, op, "input", "bias");
    DCSR_CHECK(bias.dim() == 1 && bias.size(0) == Cout, op, ": bias ", shape_str(bias.shape()),
               " does not match the ", Cout, " output channels of weight ", shape_str(weight.shape()));
  }
  DCSR_CHECK(stride >= 1, op, ": stride ", stride, " must be positive");
  if (padding < 0) padding = k / 2;
  DCSR_CHECK(H + 2 * padding >= k && W + 2 * padding >= k, op, ": kernel ", k, " is larger than input ",
             shape_str(x.shape()), " padded by ", padding);
  const int64_t Ho = windows(H, k, stride, padding), Wo = windows(W, k, stride, padding);

  if (residual.defined()) {
    check_same_type(x, residual, op, "input", "residual");
    DCSR_CHECK(residual.shape() == Shape({N, Cout, Ho, Wo}), op, ": residual ", shape_str(residual.shape()),
               " must have the output's shape (", N, ", ", Cout, ", ", Ho, ", ", Wo, ")");
  }
  return {N, Cout, Ho, Wo};
}

// conv2d, conv2d_leaky_relu and conv2d_residual: act((conv(x) + bias) + residual)
// with act(v) = v > 0 ? v : slope * v; `op` names the op in messages and
// history; residual may be undefined; slope 1 is no activation.
Tensor convolve(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& residual,
                int64_t stride, int64_t padding, int64_t groups, double slope) {
  Tensor y = empty(conv_output_shape(op, x, weight, bias, residual, stride, padding, groups), x.dtype(), x.device());
  kernels::conv2d_forward(x, weight, bias, residual, y, stride, padding, groups, conv_workspace_limit(), slope);

  const bool need_x = x.requires_grad(), need_w = weight.requires_grad();
  const bool need_b = bias.defined() && bias.requires_grad();
  TensorList inputs{x, weight};
  if (bias.defined()) inputs.push_back(bias);
  if (residual.defined()) inputs.push_back(residual);
  // With an activation, its gradient comes from the output's sign (the same
  // as the pre-activation's for slope >= 0), so the pre-activation is never stored.
  Tensor activated = slope != 1.0 ? y.detach() : Tensor();
  return autograd::record(
      op, inputs, y,
      [x = x.detach(), w = weight.detach(), activated, has_bias = bias.defined(), has_residual = residual.defined(),
       need_x, need_w, need_b, stride, padding, groups, slope](const Tensor& grad_y) {
        Tensor gy = grad_y;
        if (activated.defined()) {
          gy = empty_like(grad_y);
          kernels::binary(kernels::BinaryOp::LeakyReluBackward, activated, grad_y, gy, slope);
        }
        TensorList grads(2 + size_t(has_bias) + size_t(has_residual));
        if (has_residual) grads.back() = gy;  // the residual's gradient: the sum's
        const int64_t limit = conv_workspace_limit();
        if (need_x) {
          grads[0] = empty_like(x);
          kernels::conv2d_backward_input(gy, w, grads[0], stride, padding, groups, limit);
        }
        if (need_w) {
          Tensor gw = empty_like(w), gb = need_b ? empty({w.size(0)}, w.dtype(), w.device()) : Tensor();
          kernels::conv2d_backward_weight(gy, x, gw, gb, stride, padding, groups, limit);
          grads[1] = gw;
          if (need_b) grads[2] = gb;
        } else if (need_b) {
          grads[2] = sum(gy, {0, 2, 3});  // only the bias: a sum over batch and pixels
        }
        return grads;
      });
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding,
              int64_t groups) {
  return convolve("conv2d", x, weight, bias, Tensor(), stride, padding, groups, 1.0);
}

Tensor conv2d_leaky_relu(const Tensor& x, const Tensor& weight, const Tensor& bias, double slope, int64_t stride,
                         int64_t padding) {
  DCSR_CHECK(slope >= 0.0 && slope < 1.0, "conv2d_leaky_relu: slope ", slope, " must be in [0, 1)");
  return convolve("conv2d_leaky_relu", x, weight, bias, Tensor(), stride, padding, 1, slope);
}

Tensor conv2d_residual(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& residual,
                       double slope) {
  DCSR_CHECK(residual.defined(), "conv2d_residual: the residual is undefined");
  DCSR_CHECK(slope >= 0.0 && slope <= 1.0, "conv2d_residual: slope ", slope, " must be in [0, 1]");
  return convolve("conv2d_residual", x, weight, bias, residual, 1, -1, 1, slope);
}

Tensor conv2d_leaky_relu_concat(const Tensor& a, const Tensor& b, const Tensor& weight, const Tensor& bias,
                                double slope, int64_t stride, int64_t padding) {
  const char* op = "conv2d_leaky_relu_concat";
  DCSR_CHECK(slope >= 0.0 && slope < 1.0, op, ": slope ", slope, " must be in [0, 1)");
  // With a graph to record, the two ops, whose backward formulas it takes.
  if (autograd::needs_grad({a, b, weight, bias}))
    return conv2d_leaky_relu(concat({a, b}, 1), weight, bias, slope, stride, padding);
  check_image(a, op, "first input");
  check_image(b, op, "second input");
  check_same_type(a, b, op, "first input", "second input");
  DCSR_CHECK(a.size(0) == b.size(0) && a.size(2) == b.size(2) && a.size(3) == b.size(3), op, ": inputs ",
             shape_str(a.shape()), " and ", shape_str(b.shape()), " differ in batch or size");
  Tensor y = empty(conv_output_shape(op, a, weight, bias, Tensor(), stride, padding, 1, b.size(1)), a.dtype(),
                   a.device());
  kernels::conv2d_concat_forward(a, b, weight, bias, y, stride, padding, conv_workspace_limit(), slope);
  return y;
}

Tensor conv2d_leaky_relu_max_pool2(const Tensor& x, const Tensor& weight, const Tensor& bias, double slope,
                                   int64_t padding) {
  const char* op = "conv2d_leaky_relu_max_pool2";
  DCSR_CHECK(slope >= 0.0 && slope < 1.0, op, ": slope ", slope, " must be in [0, 1)");
  // With a graph to record, the two ops, whose backward formulas it takes.
  if (autograd::needs_grad({x, weight, bias})) return max_pool2d(conv2d_leaky_relu(x, weight, bias, slope, 1, padding), 2);
  const Shape full = conv_output_shape(op, x, weight, bias, Tensor(), 1, padding, 1);
  DCSR_CHECK(full[2] >= 2 && full[3] >= 2, op, ": the conv's output ", shape_str(full),
             " is smaller than the 2 x 2 pool");
  Tensor y = empty({full[0], full[1], full[2] / 2, full[3] / 2}, x.dtype(), x.device());
  kernels::conv2d_max_pool2_forward(x, weight, bias, y, padding, conv_workspace_limit(), slope);
  return y;
}

// ---------------------------------------------------------------- resampling

Tensor bicubic_resize(const Tensor& x, int64_t out_h, int64_t out_w, bool align_corners) {
  check_image(x, "bicubic_resize");
  DCSR_CHECK(out_h >= 1 && out_w >= 1, "bicubic_resize: output size ", out_h, " x ", out_w,
             " must be positive (input ", shape_str(x.shape()), ")");
  DCSR_CHECK(x.size(2) >= 1 && x.size(3) >= 1, "bicubic_resize: empty input ", shape_str(x.shape()));
  Tensor y = empty({x.size(0), x.size(1), out_h, out_w}, x.dtype(), x.device());
  kernels::bicubic_forward(x, y, align_corners);
  return autograd::record("bicubic_resize", {x}, y, [x_shape = x.shape(), align_corners](const Tensor& gy) {
    Tensor gx = empty(x_shape, gy.dtype(), gy.device());
    kernels::bicubic_backward(gy, gx, align_corners);
    return TensorList{gx};
  });
}

Tensor bicubic_scale(const Tensor& x, double scale, bool align_corners) {
  check_image(x, "bicubic_scale");
  DCSR_CHECK(scale > 0 && std::isfinite(scale), "bicubic_scale: scale ", scale, " must be positive");
  // torch 1.4: size = floor(in * scale) in double; the kernel then samples
  // with the ratio in/out of the sizes, not 1/scale (dcsr-spec §1).
  const int64_t out_h = int64_t(std::floor(double(x.size(2)) * scale));
  const int64_t out_w = int64_t(std::floor(double(x.size(3)) * scale));
  DCSR_CHECK(out_h >= 1 && out_w >= 1, "bicubic_scale: scale ", scale, " makes input ", shape_str(x.shape()),
             " empty (", out_h, " x ", out_w, ")");
  return bicubic_resize(x, out_h, out_w, align_corners);
}

Tensor resize_antialias(const Tensor& x, int64_t out_h, int64_t out_w) {
  check_image(x, "resize_antialias");
  DCSR_CHECK(out_h >= 1 && out_w >= 1, "resize_antialias: output size ", out_h, " x ", out_w,
             " must be positive (input ", shape_str(x.shape()), ")");
  DCSR_CHECK(x.size(2) >= 1 && x.size(3) >= 1, "resize_antialias: empty input ", shape_str(x.shape()));
  Tensor y = empty({x.size(0), x.size(1), out_h, out_w}, x.dtype(), x.device());
  kernels::resize_antialias(x, y);
  return y;  // not differentiable: no history recorded
}

// ---------------------------------------------------------------- pooling

namespace {
Shape pooled_shape(const Tensor& x, int64_t kernel, const char* op) {
  check_image(x, op);
  DCSR_CHECK(kernel >= 1, op, ": kernel ", kernel, " must be positive");
  DCSR_CHECK(x.size(2) >= kernel && x.size(3) >= kernel, op, ": kernel ", kernel, " is larger than input ",
             shape_str(x.shape()));
  return {x.size(0), x.size(1), x.size(2) / kernel, x.size(3) / kernel};
}
}  // namespace

Tensor avg_pool2d(const Tensor& x, int64_t kernel) {
  Tensor y = empty(pooled_shape(x, kernel, "avg_pool2d"), x.dtype(), x.device());
  kernels::avg_pool2d_forward(x, y, kernel);
  return autograd::record("avg_pool2d", {x}, y, [x_shape = x.shape(), kernel](const Tensor& gy) {
    Tensor gx = empty(x_shape, gy.dtype(), gy.device());
    kernels::avg_pool2d_backward(gy, gx, kernel);
    return TensorList{gx};
  });
}

Tensor max_pool2d(const Tensor& x, int64_t kernel) {
  const Shape shape = pooled_shape(x, kernel, "max_pool2d");
  Tensor y = empty(shape, x.dtype(), x.device());
  // The argmax indices only feed the backward: without a graph (inference)
  // the kernel gets an undefined tensor and writes the values alone, which
  // saves the int64 map, twice the bytes of the output.
  if (!autograd::needs_grad({x})) {
    Tensor no_indices;
    kernels::max_pool2d_forward(x, y, no_indices, kernel);
    return y;
  }
  Tensor indices = empty(shape, kInt64, x.device());
  kernels::max_pool2d_forward(x, y, indices, kernel);
  return autograd::record("max_pool2d", {x}, y, [x_shape = x.shape(), indices](const Tensor& gy) {
    Tensor gx = empty(x_shape, gy.dtype(), gy.device());
    kernels::max_pool2d_backward(gy, indices, gx);
    return TensorList{gx};
  });
}

// ---------------------------------------------------------------- unfold / fold

namespace {
void check_window(int64_t kernel, int64_t stride, int64_t padding, const char* op) {
  DCSR_CHECK(kernel >= 1 && stride >= 1 && padding >= 0, op, ": kernel ", kernel, ", stride ", stride,
             ", padding ", padding, " (kernel and stride must be positive, padding >= 0)");
}
}  // namespace

Tensor unfold(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
  check_image(x, "unfold");
  check_window(kernel, stride, padding, "unfold");
  const int64_t H = x.size(2), W = x.size(3);
  DCSR_CHECK(H + 2 * padding >= kernel && W + 2 * padding >= kernel, "unfold: kernel ", kernel,
             " is larger than input ", shape_str(x.shape()), " padded by ", padding);
  const int64_t L = windows(H, kernel, stride, padding) * windows(W, kernel, stride, padding);
  Tensor cols = empty({x.size(0), x.size(1) * kernel * kernel, L}, x.dtype(), x.device());
  kernels::unfold(x, cols, kernel, stride, padding);
  return autograd::record("unfold", {x}, cols, [x_shape = x.shape(), kernel, stride, padding](const Tensor& g) {
    Tensor gx = empty(x_shape, g.dtype(), g.device());
    kernels::fold(g, gx, kernel, stride, padding);  // fold is unfold's adjoint
    return TensorList{gx};
  });
}

Tensor fold(const Tensor& cols, int64_t out_h, int64_t out_w, int64_t kernel, int64_t stride, int64_t padding) {
  check_floating(cols, "fold", "cols");
  DCSR_CHECK(cols.dim() == 3, "fold: cols must be 3-D (N, C*k*k, L), got ", shape_str(cols.shape()));
  check_window(kernel, stride, padding, "fold");
  const int64_t kk = kernel * kernel;
  DCSR_CHECK(cols.size(1) % kk == 0, "fold: cols ", shape_str(cols.shape()), " rows are not a multiple of ",
             kernel, " x ", kernel);
  DCSR_CHECK(out_h >= 1 && out_w >= 1 && out_h + 2 * padding >= kernel && out_w + 2 * padding >= kernel,
             "fold: output size ", out_h, " x ", out_w, " padded by ", padding, " cannot hold kernel ", kernel);
  const int64_t L = windows(out_h, kernel, stride, padding) * windows(out_w, kernel, stride, padding);
  DCSR_CHECK(cols.size(2) == L, "fold: cols ", shape_str(cols.shape()), " has ", cols.size(2), " columns but a ",
             out_h, " x ", out_w, " output with kernel ", kernel, ", stride ", stride, ", padding ", padding,
             " has ", L, " windows");
  Tensor out = empty({cols.size(0), cols.size(1) / kk, out_h, out_w}, cols.dtype(), cols.device());
  kernels::fold(cols, out, kernel, stride, padding);
  return autograd::record("fold", {cols}, out, [cols_shape = cols.shape(), kernel, stride, padding](const Tensor& g) {
    Tensor gcols = empty(cols_shape, g.dtype(), g.device());
    kernels::unfold(g, gcols, kernel, stride, padding);  // unfold is fold's adjoint
    return TensorList{gcols};
  });
}

// ---------------------------------------------------------------- §9.1 blur

namespace {
// The 1-D factor of the reference's blur kernel: scipy's gaussian_filter
// (sigma 1, truncate 4 -> taps at -4..4 with weights phi(t) = exp(-t^2/2),
// normalised) applied to the 3-sample impulse [0, 1, 0] in mode 'reflect'
// (half-sample symmetric, the edge repeated: ... c b a | a b c | c b a ...).
// Folding the 9 taps onto the 3 samples through that mirror:
//   edge   = phi(1) + phi(2) + phi(4)     (taps landing on the impulse from a border sample)
//   centre = phi(0) + 2 phi(3)
// over the normalisation phi(0) + 2 (phi(1) + ... + phi(4)):
// [0.2960955, 0.4078090, 0.2960955]. The 2-D kernel is the outer product.
std::array<double, 3> blur_kernel_1d() {
  double phi[5], norm = 0;
  for (int t = 0; t <= 4; ++t) {
    phi[t] = std::exp(-0.5 * t * t);
    norm += t == 0 ? phi[t] : 2 * phi[t];
  }
  const double edge = (phi[1] + phi[2] + phi[4]) / norm, centre = (phi[0] + 2 * phi[3]) / norm;
  return {edge, centre, edge};
}
}  // namespace

Tensor gaussian_blur3(const Tensor& x) {
  check_image(x, "gaussian_blur3");
  DCSR_CHECK(x.size(2) >= 3 && x.size(3) >= 3, "gaussian_blur3: input ", shape_str(x.shape()),
             " must be at least 3 x 3 for reflection padding 2");
  const int64_t C = x.size(1);
  const std::array<double, 3> k1 = blur_kernel_1d();
  std::vector<double> w(size_t(C * 9));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < 3; ++j) w[size_t(c * 9 + i * 3 + j)] = k1[size_t(i)] * k1[size_t(j)];
  Tensor weight = from_vector(w, {C, 1, 3, 3}, x.dtype(), x.device());
  return conv2d(pad2d(x, {2, 2, 2, 2}, PadMode::Reflect), weight, Tensor(), 1, 0, C);
}

}  // namespace dcsr
