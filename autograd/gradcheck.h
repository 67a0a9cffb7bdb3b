// Finite-difference gradient check, in the style of torch.autograd.gradcheck.
//
// For f(inputs) -> outputs and a RANDOM upstream gradient r (one per floating
// output), the analytic gradient of L = sum_k <outputs_k, r_k> from backward is
// compared with central differences (L(x + eps) - L(x - eps)) / 2eps for every
// element of every input that requires grad. A random r (not ones) is what lets
// the check see a transposed or shuffled index in a backward formula.
// Everything runs in float64 on the CPU.
#pragma once
#include <functional>
#include <string>

#include "tensor/tensor.h"

namespace dcsr {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;  // |analytic - numeric| <= atol + rtol * |numeric|
  double rtol = 1e-3;
  uint64_t seed = 1234;  // upstream gradient
};

struct GradcheckReport {
  bool ok = true;
  int64_t elements_checked = 0;
  double max_abs_error = 0.0;
  double worst_tolerance_share = 0.0;  // max over elements of error / (atol + rtol |numeric|)
  std::string first_failure;           // "input 1 element 7: analytic 0.3 numeric 0.5"
  std::string summary() const;
};

using TensorFunction = std::function<TensorList(const TensorList& inputs)>;

// Inputs must be float64 CPU tensors; those with requires_grad() are checked.
GradcheckReport gradcheck(const TensorFunction& fn, const TensorList& inputs, const GradcheckOptions& options = {});

}  // namespace dcsr
