// CPU Adam update: one fused pass over parameter, gradient and both moments.
#include <cmath>

#include "kernels/cpu/cpu_common.h"
#include "kernels/cpu/cpu_kernels.h"

namespace dcsr::kernels::cpu {

void adam_update(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq, double lr, double beta1,
                 double beta2, double eps, int64_t step) {
  dispatch_floating(param.dtype(), "adam_update", [&](auto zero) {
    using T = decltype(zero);
    T* p = param.data<T>();
    const T* g = grad.data<T>();
    T* m = exp_avg.data<T>();
    T* v = exp_avg_sq.data<T>();
    const T b1 = T(beta1), b2 = T(beta2);
    const T step_size = T(lr / (1.0 - std::pow(beta1, double(step))));
    const T inv_sqrt_bc2 = T(1.0 / std::sqrt(1.0 - std::pow(beta2, double(step))));
    const T e = T(eps);
    parallel_for(param.numel(), 1 << 15, [&](int64_t begin, int64_t end) {
#pragma omp simd
      for (int64_t i = begin; i < end; ++i) {
        m[i] = b1 * m[i] + (T(1) - b1) * g[i];
        v[i] = b2 * v[i] + (T(1) - b2) * g[i] * g[i];
        p[i] -= step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_bc2 + e);
      }
    });
  });
}

}  // namespace dcsr::kernels::cpu
