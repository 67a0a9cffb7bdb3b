// Module: a node of a model's tree of named parameters, in the style of
// torch.nn.Module, reduced to what DCSR needs (no buffers, no train/eval mode:
// the model has no batch norm or dropout).
//
// Names are hierarchical and follow PyTorch's state-dict keys: a parameter
// "weight" of the child registered as "conv1" inside the child "RBs.3" of
// "res1" is "res1.RBs.3.conv1.weight". Children and parameters are listed in
// registration order (parameters of a module before its children), which is
// the order of PyTorch's state_dict() when modules register their own
// parameters first, as every DCSR module does.
//
// A parameter has a trainable flag. Trainable parameters require grad and are
// returned by parameters(true) (what the optimiser updates); fixed ones (the
// MeanShift normalisation of the matching extractor, spec §3.1) are still part
// of named_parameters(), of checkpoints and of the parameter count, as in the
// reference code's printout (spec §12).
//
// Forward functions are ordinary (non-virtual) member functions of each module
// class, since their signatures differ.
#pragma once
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tensor/serialize.h"
#include "tensor/tensor.h"

namespace dcsr::nn {

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Every parameter (trainable or not) with its hierarchical name.
  NamedTensors named_parameters() const;
  // The parameters, in named_parameters() order; only trainable ones if asked.
  std::vector<Tensor> parameters(bool trainable_only = false) const;
  // Element counts: all parameters, or only the trainable ones.
  int64_t num_parameters(bool trainable_only = false) const;
  // Lookup by full name; fails naming the parameter when there is none.
  Tensor parameter(const std::string& name) const;
  bool has_parameter(const std::string& name) const;
  bool is_trainable(const std::string& name) const;

  // Overwrites the VALUES of parameter `name` with `values` (same shape; any
  // dtype and device, converted to the parameter's). The parameter keeps its
  // tensor identity, so optimisers holding it stay valid.
  void copy_into_parameter(const std::string& name, const Tensor& values);

  // Moves / converts every parameter. Parameters become new leaf tensors:
  // create optimisers after calling these. Gradients are dropped.
  void to(Device device);
  void to(DType dtype);
  // Of the first parameter (CPU / float32 for a module without parameters).
  Device device() const;
  DType dtype() const;

  // Drops the accumulated gradients of every parameter.
  void zero_grad();

 protected:
  // Adds a parameter owned by this module. The returned reference stays valid
  // for the module's lifetime (to() replaces the tensor it refers to).
  Tensor& register_parameter(const std::string& name, Tensor value, bool trainable = true);

  // Adds a child module; returns it (owned by this module).
  template <typename M>
  M& register_module(const std::string& name, std::unique_ptr<M> child) {
    M& ref = *child;
    add_child(name, std::move(child));
    return ref;
  }

 private:
  struct Slot {
    std::string name;
    Tensor tensor;
    bool trainable = true;
  };
  struct SlotRef {
    std::string name;
    Slot* slot;
  };
  void add_child(const std::string& name, std::unique_ptr<Module> child);
  void collect(const std::string& prefix, std::vector<SlotRef>& out) const;
  std::vector<SlotRef> slots() const;
  Slot& find(const std::string& name) const;

  std::deque<Slot> params_;  // deque: references stay valid on push_back
  std::vector<std::pair<std::string, std::unique_ptr<Module>>> children_;
};

// A list of children named "0", "1", ... (torch.nn.ModuleList: keys "RBs.N.").
template <typename M>
class ModuleList : public Module {
 public:
  M& push_back(std::unique_ptr<M> item) {
    M& ref = register_module(std::to_string(items_.size()), std::move(item));
    items_.push_back(&ref);
    return ref;
  }
  size_t size() const { return items_.size(); }
  M& operator[](size_t i) const { return *items_[i]; }
  typename std::vector<M*>::const_iterator begin() const { return items_.begin(); }
  typename std::vector<M*>::const_iterator end() const { return items_.end(); }

 private:
  std::vector<M*> items_;
};

// A module whose children are added from outside: the reference's
// nn.Sequential blocks whose numbering skips parameter-free entries (an
// activation at index 1 makes the next layer "2"). The owner keeps the
// returned references and writes the forward itself.
class Container : public Module {
 public:
  template <typename M>
  M& add(const std::string& name, std::unique_ptr<M> child) {
    return register_module(name, std::move(child));
  }
};

}  // namespace dcsr::nn
