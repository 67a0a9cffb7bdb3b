// Device dispatch of the optimiser kernels.
#include "kernels/dispatch.h"

namespace dcsr::kernels {

void adam_update(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq, double lr, double beta1,
                 double beta2, double eps, int64_t step) {
  const KernelScope scope("adam_update", param.device());
  switch (param.device()) {
    case Device::CPU: return cpu::adam_update(param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, step);
    case Device::CUDA:
      return DCSR_CUDA_ONLY(cuda::adam_update(param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, step));
  }
}

}  // namespace dcsr::kernels
