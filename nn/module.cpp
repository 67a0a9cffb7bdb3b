#include "nn/module.h"

#include "kernels/kernels.h"

namespace dcsr::nn {

Tensor& Module::register_parameter(const std::string& name, Tensor value, bool trainable) {
  DCSR_CHECK(name.find('.') == std::string::npos, "Module: parameter name '", name, "' must not contain '.'");
  for (const Slot& s : params_) DCSR_CHECK(s.name != name, "Module: parameter '", name, "' registered twice");
  DCSR_CHECK(value.defined() && is_floating(value.dtype()), "Module: parameter '", name, "' must be floating");
  value = value.detach();
  if (trainable) value.requires_grad_(true);
  params_.push_back(Slot{name, value, trainable});
  return params_.back().tensor;
}

void Module::add_child(const std::string& name, std::unique_ptr<Module> child) {
  DCSR_CHECK(child != nullptr, "Module: child '", name, "' is null");
  for (const auto& c : children_) DCSR_CHECK(c.first != name, "Module: child '", name, "' registered twice");
  children_.emplace_back(name, std::move(child));
}

void Module::collect(const std::string& prefix, std::vector<SlotRef>& out) const {
  for (const Slot& s : params_) out.push_back({prefix + s.name, const_cast<Slot*>(&s)});
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", out);
}

std::vector<Module::SlotRef> Module::slots() const {
  std::vector<SlotRef> out;
  collect("", out);
  return out;
}

Module::Slot& Module::find(const std::string& name) const {
  for (const SlotRef& r : slots())
    if (r.name == name) return *r.slot;
  fail("Module: no parameter named '", name, "'");
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  for (const SlotRef& r : slots()) out.emplace_back(r.name, r.slot->tensor);
  return out;
}

std::vector<Tensor> Module::parameters(bool trainable_only) const {
  std::vector<Tensor> out;
  for (const SlotRef& r : slots())
    if (r.slot->trainable || !trainable_only) out.push_back(r.slot->tensor);
  return out;
}

int64_t Module::num_parameters(bool trainable_only) const {
  int64_t n = 0;
  for (const Tensor& t : parameters(trainable_only)) n += t.numel();
  return n;
}

Tensor Module::parameter(const std::string& name) const { return find(name).tensor; }

bool Module::has_parameter(const std::string& name) const {
  for (const SlotRef& r : slots())
    if (r.name == name) return true;
  return false;
}

bool Module::is_trainable(const std::string& name) const { return find(name).trainable; }

void Module::copy_into_parameter(const std::string& name, const Tensor& values) {
  Tensor& param = find(name).tensor;
  DCSR_CHECK(values.shape() == param.shape(), "parameter '", name, "': shape ", shape_str(values.shape()),
             " does not match the model's ", shape_str(param.shape()));
  Tensor src = values.detach();
  if (src.device() != param.device()) src = src.to(param.device());
  kernels::cast(src, param);  // converts the dtype; writes into the parameter's own storage
  param.mark_modified();
}

void Module::to(Device device) {
  for (const SlotRef& r : slots()) {
    Slot& s = *r.slot;
    if (s.tensor.device() == device) continue;
    s.tensor = s.tensor.detach().to(device);
    if (s.trainable) s.tensor.requires_grad_(true);
  }
}

void Module::to(DType dtype) {
  DCSR_CHECK(is_floating(dtype), "Module::to: parameters must be floating, got ", dtype_name(dtype));
  for (const SlotRef& r : slots()) {
    Slot& s = *r.slot;
    if (s.tensor.dtype() == dtype) continue;
    s.tensor = s.tensor.detach().to(dtype);
    if (s.trainable) s.tensor.requires_grad_(true);
  }
}

Device Module::device() const {
  std::vector<SlotRef> all = slots();
  return all.empty() ? kCPU : all.front().slot->tensor.device();
}

DType Module::dtype() const {
  std::vector<SlotRef> all = slots();
  return all.empty() ? kFloat32 : all.front().slot->tensor.dtype();
}

void Module::zero_grad() {
  for (const SlotRef& r : slots()) r.slot->tensor.zero_grad();
}

}  // namespace dcsr::nn
