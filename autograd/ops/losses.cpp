// Losses (dcsr-spec §9): mean absolute / squared error and the
// confidence-weighted contextual loss.
#include "autograd/ops.h"
#include "autograd/ops/dcsr_internal.h"
#include "kernels/kernels.h"

namespace dcsr {

namespace {
void check_same_shape(const Tensor& a, const Tensor& b, const char* op) {
  check_floating(a, op, "first input");
  check_floating(b, op, "second input");
  DCSR_CHECK(a.shape() == b.shape() && a.dtype() == b.dtype(), op, ": inputs ", shape_str(a.shape()), " ",
             dtype_name(a.dtype()), " and ", shape_str(b.shape()), " ", dtype_name(b.dtype()), " differ");
  DCSR_CHECK(a.numel() > 0, op, ": empty inputs");
}

// The pairwise part on normalised features, xh (N, C, Nx), yh (N, C, Ny) ->
// cx (N); the kernels describe the formulas, the forward sweeps and the
// derivation of the backward.
Tensor contextual_similarity(const Tensor& xh, const Tensor& yh, double band_width) {
  const int64_t N = xh.size(0), Nx = xh.size(2), Ny = yh.size(2);
  Tensor row_stats = empty({N, 3, Nx}, xh.dtype(), xh.device());
  Tensor row_arg = empty({N, Nx}, kInt64, xh.device());
  Tensor col_stats = empty({N, 3, Ny}, xh.dtype(), xh.device());
  Tensor col_arg = empty({N, Ny}, kInt64, xh.device());
  Tensor cx = empty({N}, xh.dtype(), xh.device());
  const int64_t workspace = match_tile_limit();
  kernels::contextual_forward(xh, yh, band_width, workspace, row_stats, row_arg, col_stats, col_arg, cx);
  return autograd::record("contextual_loss", {xh, yh}, cx,
                          [xh = xh.detach(), yh = yh.detach(), row_stats, row_arg, col_stats, col_arg,
                           cx = cx.detach(), band_width, workspace](const Tensor& g) {
                            Tensor grad_x = empty_like(xh), grad_y = empty_like(yh);
                            kernels::contextual_backward(xh, yh, row_stats, row_arg, col_stats, col_arg, cx, g,
                                                         band_width, workspace, grad_x, grad_y);
                            return TensorList{grad_x, grad_y};
                          });
}
}  // namespace

Tensor l1_loss(const Tensor& a, const Tensor& b) {
  check_same_shape(a, b, "l1_loss");
  return mean(abs(sub(a, b)));
}

Tensor mse_loss(const Tensor& a, const Tensor& b) {
  check_same_shape(a, b, "mse_loss");
  Tensor diff = sub(a, b);
  return mean(mul(diff, diff));
}

Tensor contextual_loss(const Tensor& x, const Tensor& y, double band_width) {
  // §9.2 step 1's centre: the mean of y over the batch and all positions (so
  // y's gradient also flows through mu).
  DCSR_CHECK(y.dim() == 4, "contextual_loss: y ", shape_str(y.shape()), " must be (N, C, Hy, Wy)");
  return contextual_loss(x, y, mean(y, {0, 2, 3}, true), band_width);
}

Tensor contextual_loss(const Tensor& x, const Tensor& y, const Tensor& mu, double band_width) {
  check_floating(x, "contextual_loss", "x");
  check_floating(y, "contextual_loss", "y");
  check_same_device({x, y}, "contextual_loss");
  DCSR_CHECK(x.dim() == 4 && y.dim() == 4 && x.size(0) == y.size(0) && x.size(1) == y.size(1) &&
                 x.dtype() == y.dtype(),
             "contextual_loss: x ", shape_str(x.shape()), " and y ", shape_str(y.shape()),
             " must be (N, C, Hx, Wx) and (N, C, Hy, Wy) of one dtype with the same N and C");
  DCSR_CHECK(x.numel() > 0 && y.numel() > 0, "contextual_loss: empty features");
  DCSR_CHECK(band_width > 0, "contextual_loss: band width ", band_width, " must be positive");
  const int64_t N = x.size(0), C = x.size(1);
  DCSR_CHECK(mu.shape() == Shape({1, C, 1, 1}), "contextual_loss: the centre mu ", shape_str(mu.shape()),
             " must be (1, ", C, ", 1, 1)");
  // §9.2 step 1: centre both by mu, then L2-normalise every feature vector.
  Tensor xh = detail::normalize_columns(sub(x, mu).reshape({N, C, -1}));
  Tensor yh = detail::normalize_columns(sub(y, mu).reshape({N, C, -1}));
  Tensor cx = contextual_similarity(xh, yh, band_width);
  // loss = mean over the batch of -log(cx + 1e-5)
  return mean(neg(log(add(cx, 1e-5))));
}

}  // namespace dcsr
