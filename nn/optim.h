// Optimiser and learning-rate schedule of the DCSR training setup (spec §10.3):
// Adam (betas 0.9 / 0.999, eps 1e-8, no weight decay) stepped every
// iteration, and MultiStepLR (milestones in epochs, gamma 0.5).
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/serialize.h"
#include "tensor/tensor.h"

namespace dcsr::nn {

// torch.optim.Adam without weight decay and amsgrad. Per-parameter state:
// exp_avg (m), exp_avg_sq (v) and a step count; a parameter whose gradient is
// undefined at step() is skipped and its step count does not advance, as in
// PyTorch. The moments are kept in the parameter's dtype and device.
class Adam {
 public:
  explicit Adam(std::vector<Tensor> params, double lr = 1e-4, double beta1 = 0.9, double beta2 = 0.999,
                double eps = 1e-8);

  void step();       // one update of every parameter that has a gradient
  void zero_grad();  // drops the gradients (PyTorch's set_to_none)

  double lr() const { return lr_; }
  void set_lr(double lr) { lr_ = lr; }
  // Number of step() calls so far.
  int64_t step_count() const { return steps_; }
  const std::vector<Tensor>& params() const { return params_; }

  // The whole state for an exact resume: "exp_avg.<i>", "exp_avg_sq.<i>" (i =
  // parameter index, in the constructor's order) and "step" (int64 (n_params),
  // per-parameter counts) plus "steps" (int64 (1), step() calls). Tensors are
  // CPU copies. load_state() checks names, count and shapes, converting dtype
  // and device.
  NamedTensors state_tensors() const;
  void load_state(const NamedTensors& state);

 private:
  std::vector<Tensor> params_;
  std::vector<Tensor> exp_avg_, exp_avg_sq_;
  std::vector<int64_t> param_steps_;
  int64_t steps_ = 0;
  double lr_, beta1_, beta2_, eps_;
};

// torch.optim.lr_scheduler.MultiStepLR stepped once per epoch: after `epoch`
// scheduler steps the rate is base_lr * gamma^(number of milestones <= epoch).
class MultiStepLR {
 public:
  MultiStepLR(double base_lr, std::vector<int64_t> milestones, double gamma = 0.5);
  double lr_at(int64_t epoch) const;
  const std::vector<int64_t>& milestones() const { return milestones_; }
  double gamma() const { return gamma_; }
  double base_lr() const { return base_lr_; }

 private:
  double base_lr_;
  std::vector<int64_t> milestones_;
  double gamma_;
};

}  // namespace dcsr::nn
