// A node of the autograd graph: the backward half of one op application.
//
// Forward code never subclasses Node. An op computes its outputs and then calls
// autograd::record (autograd/function.h) with a lambda that maps the output
// gradients to input gradients; the lambda's captures are the saved tensors.
// After backward the lambda is destroyed (saved tensors freed) unless the graph
// is retained; walking a released node again is an error.
//
// Convention: gradients ACCUMULATE. A leaf's .grad() is the sum over all
// backward passes since it was last zeroed, and a tensor used twice receives
// the sum of both contributions.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace dcsr {

// Where the gradient of an op input goes: to `node`, the node that produced
// that input (or the AccumulateGrad node of a leaf), as the gradient of its
// output number `input_nr`.
struct Edge {
  std::shared_ptr<Node> node;
  uint32_t input_nr = 0;
  bool valid() const { return node != nullptr; }
};

// What the engine needs to know about each output to check gradient shapes.
struct OutputMeta {
  Shape shape;
  DType dtype;
  Device device;
};

class Node {
 public:
  // grads[i] is the gradient of output i (undefined if none arrived); returns
  // one gradient per input edge (undefined where there is none).
  using BackwardFn = std::function<TensorList(const TensorList& grads)>;

  Node(std::string name, std::vector<Edge> next_edges, std::vector<OutputMeta> outputs, BackwardFn fn,
       bool releasable = true)
      : name_(std::move(name)),
        next_edges_(std::move(next_edges)),
        outputs_(std::move(outputs)),
        fn_(std::move(fn)),
        releasable_(releasable) {}

  // The storages of the op's inputs and outputs and their versions at the
  // forward (Storage::version): apply() refuses to run when one changed in
  // place since, as PyTorch does. Stricter than PyTorch, which checks only
  // the tensors a backward saved: here every input and output counts.
  struct Watched {
    std::weak_ptr<Storage> storage;  // not kept alive: a freed storage changed nothing
    uint64_t version = 0;
  };
  void watch(std::vector<Watched> watched) { watched_ = std::move(watched); }

  const std::string& name() const { return name_; }
  const std::vector<Edge>& next_edges() const { return next_edges_; }
  size_t num_outputs() const { return outputs_.size(); }
  const OutputMeta& output_meta(size_t i) const { return outputs_[i]; }
  bool released() const { return !fn_; }

  // Runs the backward function, checking that every returned gradient has the
  // shape of its input. Fails if the node was already released.
  TensorList apply(const TensorList& grads);
  // Frees the saved tensors (the lambda's captures).
  void release() {
    if (releasable_) fn_ = nullptr;
  }

 private:
  std::string name_;
  std::vector<Edge> next_edges_;
  std::vector<OutputMeta> outputs_;
  BackwardFn fn_;
  bool releasable_;
  std::vector<Watched> watched_;
};

namespace autograd {
// Runs backward from `roots` seeded with `grads` (one per root, same shapes).
void run_backward(const TensorList& roots, const TensorList& grads, bool retain_graph);
// The edge through which a gradient for `t` flows (invalid if t needs none).
Edge gradient_edge(const Tensor& t);
}  // namespace autograd

}  // namespace dcsr
