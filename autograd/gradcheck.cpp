#include "autograd/gradcheck.h"

#include <cmath>
#include <sstream>

#include "autograd/ops.h"
#include "tensor/random.h"

namespace dcsr {

std::string GradcheckReport::summary() const {
  std::ostringstream out;
  out << (ok ? "gradcheck ok" : "gradcheck FAILED") << ": " << elements_checked << " elements, max abs error "
      << max_abs_error << ", " << worst_tolerance_share * 100.0 << "% of tolerance used";
  if (!ok) out << "; first failure: " << first_failure;
  return out.str();
}

namespace {
// sum_k <outputs_k, r_k> in double, without autograd.
double weighted_sum(const TensorList& outputs, const TensorList& upstream) {
  double total = 0.0;
  for (size_t k = 0; k < outputs.size(); ++k) {
    if (!upstream[k].defined()) continue;
    std::vector<double> out = outputs[k].to_vector<double>(), r = upstream[k].to_vector<double>();
    for (size_t i = 0; i < out.size(); ++i) total += out[i] * r[i];
  }
  return total;
}
}  // namespace

GradcheckReport gradcheck(const TensorFunction& fn, const TensorList& inputs, const GradcheckOptions& options) {
  for (const Tensor& x : inputs)
    DCSR_CHECK(!x.defined() || (x.dtype() == kFloat64 && x.is_cpu()) || !is_floating(x.dtype()),
               "gradcheck: floating inputs must be float64 on the cpu, got ", dtype_name(x.dtype()));

  // Analytic: one backward with the random upstream gradients.
  TensorList outputs = fn(inputs);
  Generator gen(options.seed);
  TensorList upstream;
  TensorList roots, seeds;
  for (const Tensor& out : outputs) {
    if (!out.defined() || !is_floating(out.dtype())) {
      upstream.emplace_back();
      continue;
    }
    upstream.push_back(uniform(out.shape(), gen, -1.0, 1.0, kFloat64));
    if (out.requires_grad()) {
      roots.push_back(out);
      seeds.push_back(upstream.back());
    }
  }
  for (const Tensor& x : inputs)
    if (x.defined() && x.requires_grad()) x.impl().grad.reset();
  if (!roots.empty()) autograd::run_backward(roots, seeds, false);

  GradcheckReport report;
  NoGradGuard no_grad;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    if (!x.defined() || !x.requires_grad()) continue;
    Tensor analytic_tensor = x.grad();
    std::vector<double> analytic =
        analytic_tensor.defined() ? analytic_tensor.to_vector<double>() : std::vector<double>(size_t(x.numel()), 0.0);
    double* data = x.data<double>();
    for (int64_t e = 0; e < x.numel(); ++e) {
      const double saved = data[e];
      data[e] = saved + options.eps;
      double plus = weighted_sum(fn(inputs), upstream);
      data[e] = saved - options.eps;
      double minus = weighted_sum(fn(inputs), upstream);
      data[e] = saved;
      double numeric = (plus - minus) / (2.0 * options.eps);
      double error = std::abs(analytic[size_t(e)] - numeric);
      double tolerance = options.atol + options.rtol * std::abs(numeric);
      report.elements_checked++;
      report.max_abs_error = std::max(report.max_abs_error, error);
      report.worst_tolerance_share = std::max(report.worst_tolerance_share, error / tolerance);
      if (!(error <= tolerance) && report.ok) {
        report.ok = false;
        std::ostringstream failure;
        failure << "input " << i << " element " << e << ": analytic " << analytic[size_t(e)] << " numeric " << numeric;
        report.first_failure = failure.str();
      }
    }
  }
  return report;
}

}  // namespace dcsr
