// CUDA Adam step, float32, one fused pass (PyTorch's torch.optim.Adam
// formula, as kernels/cpu/adam.cpp):
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   p -= lr / (1 - b1^step) * m / (sqrt(v) / sqrt(1 - b2^step) + eps)
// The bias corrections are computed once on the host in double, as on the CPU.
#include <cmath>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace dcsr::kernels::cuda {

namespace {
__global__ void adam_kernel(float* p, const float* g, float* m, float* v, int64_t n, float b1, float b2,
                            float step_size, float inv_sqrt_bc2, float eps) {
  DCSR_GRID_STRIDE_LOOP(i, n) {
    const float gi = g[i];
    const float mi = b1 * m[i] + (1.0f - b1) * gi;
    const float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] -= step_size * mi / (sqrtf(vi) * inv_sqrt_bc2 + eps);
  }
}
}  // namespace

void adam_update(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq, double lr, double beta1,
                 double beta2, double eps, int64_t step) {
  for (const Tensor* t : std::initializer_list<const Tensor*>{&param, &grad, &exp_avg, &exp_avg_sq})
    require_float32(*t, "adam_update");
  DCSR_CHECK(grad.numel() == param.numel() && exp_avg.numel() == param.numel() &&
                 exp_avg_sq.numel() == param.numel(),
             "adam_update: param ", shape_str(param.shape()), ", grad ", shape_str(grad.shape()), " and moments ",
             shape_str(exp_avg.shape()), ", ", shape_str(exp_avg_sq.shape()), " differ in size");
  DCSR_CHECK(step >= 1, "adam_update: step must be >= 1, got ", step);
  const int64_t n = param.numel();
  if (n == 0) return;
  const float step_size = float(lr / (1.0 - std::pow(beta1, double(step))));
  const float inv_sqrt_bc2 = float(1.0 / std::sqrt(1.0 - std::pow(beta2, double(step))));
  adam_kernel<<<grid_for(n), kBlock>>>(param.data<float>(), grad.data<float>(), exp_avg.data<float>(),
                                       exp_avg_sq.data<float>(), n, float(beta1), float(beta2), step_size,
                                       inv_sqrt_bc2, float(eps));
  DCSR_CUDA_CHECK_LAUNCH();
}

}  // namespace dcsr::kernels::cuda
