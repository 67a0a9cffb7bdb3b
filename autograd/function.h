// Recording an op in the autograd graph. The op pattern (see README, "How to
// add an op"):
//
//   Tensor exp(const Tensor& x) {                              // x: any shape
//     Tensor y = empty_like(x);
//     kernels::unary(UnaryOp::Exp, x, y);                       // forward kernel
//     return autograd::record("exp", {x}, y, [y = y.detach()](const Tensor& gy) {
//       return TensorList{mul(gy, y)};                          // d exp(x) = exp(x) dx
//     });
//   }
//
// The backward lambda is device independent: it is written with ops (or with
// dedicated backward kernels behind kernels.h), never with raw loops. Capture
// saved tensors detached, so the graph holds no reference cycles.
#pragma once
#include <functional>

#include "autograd/grad_mode.h"
#include "autograd/node.h"

namespace dcsr::autograd {

// True when grad mode is on and some input requires grad.
bool needs_grad(const TensorList& inputs);

// Multi-output form: attaches one node to every floating output (integer
// outputs, like argmax indices, are never differentiable). Returns `outputs`.
TensorList record(const char* name, const TensorList& inputs, TensorList outputs, Node::BackwardFn fn);

// Single-output form: `fn` maps the output gradient to the input gradients.
Tensor record(const char* name, const TensorList& inputs, Tensor output,
              std::function<TensorList(const Tensor& grad)> fn);

}  // namespace dcsr::autograd
