#include "nn/optim.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>

#include "kernels/kernels.h"

namespace dcsr::nn {

Adam::Adam(std::vector<Tensor> params, double lr, double beta1, double beta2, double eps)
    : params_(std::move(params)), lr_(lr), beta1_(beta1), beta2_(beta2), eps_(eps) {
  DCSR_CHECK(lr >= 0 && beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1 && eps >= 0, "Adam: invalid lr ", lr,
             ", betas (", beta1, ", ", beta2, ") or eps ", eps);
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    DCSR_CHECK(p.defined() && p.requires_grad() && p.is_leaf(), "Adam: parameter ", i,
               " must be a leaf tensor that requires grad");
    // Zero moments are what PyTorch creates at the first step; allocating them
    // now gives the same arithmetic and a state that can be exported at once.
    exp_avg_.push_back(zeros(p.shape(), p.dtype(), p.device()));
    exp_avg_sq_.push_back(zeros(p.shape(), p.dtype(), p.device()));
  }
  param_steps_.assign(params_.size(), 0);
}

void Adam::step() {
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor grad = params_[i].grad();
    if (!grad.defined()) continue;
    DCSR_CHECK(grad.dtype() == params_[i].dtype() && grad.device() == params_[i].device(), "Adam: gradient of parameter ",
               i, " is ", dtype_name(grad.dtype()), " on ", device_name(grad.device()), ", parameter is ",
               dtype_name(params_[i].dtype()), " on ", device_name(params_[i].device()));
    ++param_steps_[i];
    Tensor param = params_[i];
    kernels::adam_update(param, grad, exp_avg_[i], exp_avg_sq_[i], lr_, beta1_, beta2_, eps_, param_steps_[i]);
    param.mark_modified();
  }
  ++steps_;
}

void Adam::zero_grad() {
  for (Tensor& p : params_) p.zero_grad();
}

NamedTensors Adam::state_tensors() const {
  NamedTensors out;
  auto host = [](const Tensor& t) { return t.device() == kCPU ? t.clone() : t.to(kCPU); };
  for (size_t i = 0; i < params_.size(); ++i) {
    out.emplace_back("exp_avg." + std::to_string(i), host(exp_avg_[i]));
    out.emplace_back("exp_avg_sq." + std::to_string(i), host(exp_avg_sq_[i]));
  }
  out.emplace_back("step", from_vector(param_steps_, {int64_t(param_steps_.size())}));
  out.emplace_back("steps", from_vector(std::vector<int64_t>{steps_}, {1}));
  return out;
}

void Adam::load_state(const NamedTensors& state) {
  std::map<std::string, Tensor> by_name(state.begin(), state.end());
  DCSR_CHECK(by_name.size() == 2 * params_.size() + 2, "Adam::load_state: ", by_name.size(),
             " state tensors for ", params_.size(), " parameters (expected ", 2 * params_.size() + 2, ")");
  auto get = [&](const std::string& name) -> const Tensor& {
    auto it = by_name.find(name);
    DCSR_CHECK(it != by_name.end(), "Adam::load_state: missing state tensor '", name, "'");
    return it->second;
  };
  const Tensor& steps = get("step");
  DCSR_CHECK(steps.dtype() == kInt64 && steps.numel() == int64_t(params_.size()),
             "Adam::load_state: 'step' must be int64 with one count per parameter (", params_.size(), ")");
  const Tensor& total = get("steps");
  DCSR_CHECK(total.dtype() == kInt64 && total.numel() == 1, "Adam::load_state: 'steps' must be one int64");
  // Validate everything before changing anything.
  for (size_t i = 0; i < params_.size(); ++i)
    for (const char* kind : {"exp_avg.", "exp_avg_sq."}) {
      const Tensor& t = get(kind + std::to_string(i));
      DCSR_CHECK(t.shape() == params_[i].shape(), "Adam::load_state: '", kind, i, "' has shape ",
                 shape_str(t.shape()), ", parameter ", i, " has ", shape_str(params_[i].shape()));
    }
  for (size_t i = 0; i < params_.size(); ++i) {
    auto copy = [&](const Tensor& src, Tensor& dst) {
      Tensor s = src.detach();
      if (s.device() != dst.device()) s = s.to(dst.device());
      kernels::cast(s, dst);
    };
    copy(get("exp_avg." + std::to_string(i)), exp_avg_[i]);
    copy(get("exp_avg_sq." + std::to_string(i)), exp_avg_sq_[i]);
  }
  param_steps_ = steps.to_vector<int64_t>();
  steps_ = total.to_vector<int64_t>()[0];
}

MultiStepLR::MultiStepLR(double base_lr, std::vector<int64_t> milestones, double gamma)
    : base_lr_(base_lr), milestones_(std::move(milestones)), gamma_(gamma) {
  std::sort(milestones_.begin(), milestones_.end());
}

double MultiStepLR::lr_at(int64_t epoch) const {
  // bisect_right: a milestone m counts once epoch >= m.
  const auto passed = std::upper_bound(milestones_.begin(), milestones_.end(), epoch) - milestones_.begin();
  return base_lr_ * std::pow(gamma_, double(passed));
}

}  // namespace dcsr::nn
