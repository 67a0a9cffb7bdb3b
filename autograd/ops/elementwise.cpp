// Elementwise ops: forward kernel call and backward formula side by side.
#include "autograd/ops/elementwise.h"

#include "autograd/ops.h"
#include "kernels/kernels.h"

namespace dcsr {

using kernels::BinaryOp;
using kernels::UnaryOp;

namespace {
Tensor binary_kernel(BinaryOp op, const Tensor& a, const Tensor& b, double alpha = 0.0) {
  const char* name = kernels::binary_op_name(op);
  check_floating(a, name, "first operand");
  check_floating(b, name, "second operand");
  DCSR_CHECK(a.dtype() == b.dtype(), name, ": dtypes differ (", dtype_name(a.dtype()), " and ",
             dtype_name(b.dtype()), ")");
  check_same_device({a, b}, name);
  Tensor out = empty(broadcast_shape(a.shape(), b.shape(), name), a.dtype(), a.device());
  kernels::binary(op, a, b, out, alpha);
  return out;
}

Tensor unary_kernel(UnaryOp op, const Tensor& x, double alpha = 0.0, double beta = 0.0) {
  check_floating(x, kernels::unary_op_name(op), "input");
  Tensor out = empty_like(x);
  kernels::unary(op, x, out, alpha, beta);
  return out;
}
}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_kernel(BinaryOp::Add, a, b);
  return autograd::record("add", {a, b}, out, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
    return TensorList{sum_to(g, sa), sum_to(g, sb)};
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_kernel(BinaryOp::Sub, a, b);
  return autograd::record("sub", {a, b}, out, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
    return TensorList{sum_to(g, sa), sum_to(neg(g), sb)};
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_kernel(BinaryOp::Mul, a, b);
  bool need_a = a.requires_grad(), need_b = b.requires_grad();
  return autograd::record("mul", {a, b}, out, [a = a.detach(), b = b.detach(), need_a, need_b](const Tensor& g) {
    return TensorList{need_a ? sum_to(mul(g, b), a.shape()) : Tensor(),
                      need_b ? sum_to(mul(g, a), b.shape()) : Tensor()};
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_kernel(BinaryOp::Div, a, b);
  bool need_b = b.requires_grad();
  return autograd::record("div", {a, b}, out,
                          [sa = a.shape(), b = b.detach(), y = out.detach(), need_b](const Tensor& g) {
                            Tensor ga = div(g, b);  // d(a/b)/da = 1/b
                            // d(a/b)/db = -a/b^2 = -(a/b)/b
                            Tensor gb = need_b ? sum_to(neg(mul(ga, y)), b.shape()) : Tensor();
                            return TensorList{sum_to(ga, sa), gb};
                          });
}

Tensor add(const Tensor& x, double scalar) {
  Tensor out = unary_kernel(UnaryOp::AddScalar, x, scalar);
  return autograd::record("add_scalar", {x}, out, [](const Tensor& g) { return TensorList{g}; });
}

Tensor mul(const Tensor& x, double scalar) {
  Tensor out = unary_kernel(UnaryOp::MulScalar, x, scalar);
  return autograd::record("mul_scalar", {x}, out, [scalar](const Tensor& g) { return TensorList{mul(g, scalar)}; });
}

Tensor neg(const Tensor& x) {
  Tensor out = unary_kernel(UnaryOp::Neg, x);
  return autograd::record("neg", {x}, out, [](const Tensor& g) { return TensorList{neg(g)}; });
}

Tensor exp(const Tensor& x) {
  Tensor out = unary_kernel(UnaryOp::Exp, x);
  return autograd::record("exp", {x}, out, [y = out.detach()](const Tensor& g) { return TensorList{mul(g, y)}; });
}

Tensor log(const Tensor& x) {
  Tensor out = unary_kernel(UnaryOp::Log, x);
  return autograd::record("log", {x}, out, [x = x.detach()](const Tensor& g) { return TensorList{div(g, x)}; });
}

Tensor abs(const Tensor& x) {
  Tensor out = unary_kernel(UnaryOp::Abs, x);
  return autograd::record("abs", {x}, out, [x = x.detach()](const Tensor& g) {
    return TensorList{mul(g, unary_kernel(UnaryOp::Sign, x))};
  });
}

Tensor sqrt(const Tensor& x) {
  Tensor out = unary_kernel(UnaryOp::Sqrt, x);
  // d sqrt(x) = dx / (2 sqrt(x))
  return autograd::record("sqrt", {x}, out,
                          [y = out.detach()](const Tensor& g) { return TensorList{mul(div(g, y), 0.5)}; });
}

Tensor pow(const Tensor& x, double exponent) {
  Tensor out = unary_kernel(UnaryOp::PowScalar, x, exponent);
  // d x^p = p x^(p-1) dx
  return autograd::record("pow", {x}, out, [x = x.detach(), exponent](const Tensor& g) {
    if (exponent == 0.0) return TensorList{zeros_like(g)};  // x^0 is constant (p x^(p-1) is 0 * inf at x = 0)
    return TensorList{mul(g, mul(unary_kernel(UnaryOp::PowScalar, x, exponent - 1.0), exponent))};
  });
}

Tensor clamp(const Tensor& x, double low, double high) {
  DCSR_CHECK(low <= high, "clamp: low ", low, " > high ", high);
  Tensor out = unary_kernel(UnaryOp::Clamp, x, low, high);
  return autograd::record("clamp", {x}, out, [x = x.detach(), low, high](const Tensor& g) {
    return TensorList{mul(g, unary_kernel(UnaryOp::InRange, x, low, high))};
  });
}

Tensor relu(const Tensor& x) {
  Tensor out = unary_kernel(UnaryOp::Relu, x);
  return autograd::record("relu", {x}, out, [x = x.detach()](const Tensor& g) {
    return TensorList{binary_kernel(BinaryOp::LeakyReluBackward, x, g, 0.0)};
  });
}

Tensor leaky_relu(const Tensor& x, double negative_slope) {
  Tensor out = unary_kernel(UnaryOp::LeakyRelu, x, negative_slope);
  return autograd::record("leaky_relu", {x}, out, [x = x.detach(), negative_slope](const Tensor& g) {
    return TensorList{binary_kernel(BinaryOp::LeakyReluBackward, x, g, negative_slope)};
  });
}

Tensor sigmoid(const Tensor& x) {
  Tensor out = unary_kernel(UnaryOp::Sigmoid, x);
  // d sigmoid = y (1 - y) dx
  return autograd::record("sigmoid", {x}, out, [y = out.detach()](const Tensor& g) {
    return TensorList{mul(g, mul(y, add(neg(y), 1.0)))};
  });
}

}  // namespace dcsr
