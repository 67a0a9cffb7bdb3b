// The backward engine: Kahn's topological order over the nodes reachable from
// the roots, with per-node gradient buffers that sum contributions from every
// consumer before the node runs.
#include <unordered_map>
#include <unordered_set>

#include "autograd/function.h"
#include "autograd/ops.h"

namespace dcsr {

namespace {
thread_local bool grad_mode_enabled = true;

// Adds `grad` into `slot` out of place (gradients are never mutated in place,
// so one tensor may safely be the gradient of several inputs).
void accumulate(Tensor& slot, const Tensor& grad) { slot = slot.defined() ? add(slot, grad) : grad; }

std::shared_ptr<Node> make_grad_accumulator(const Tensor& leaf) {
  std::weak_ptr<TensorImpl> weak_leaf = leaf.impl_ptr();
  OutputMeta meta{leaf.shape(), leaf.dtype(), leaf.device()};
  auto fn = [weak_leaf](const TensorList& grads) -> TensorList {
    std::shared_ptr<TensorImpl> target = weak_leaf.lock();
    if (target && grads[0].defined()) {
      Tensor sum = Tensor(target->grad);
      accumulate(sum, grads[0]);
      target->grad = sum.impl_ptr();
    }
    return {};
  };
  return std::make_shared<Node>("AccumulateGrad", std::vector<Edge>{}, std::vector<OutputMeta>{meta}, fn,
                                /*releasable=*/false);
}
}  // namespace

bool GradMode::enabled() { return grad_mode_enabled; }
void GradMode::set_enabled(bool enabled) { grad_mode_enabled = enabled; }

TensorList Node::apply(const TensorList& grads) {
  DCSR_CHECK(fn_, name_,
             ": backward through a graph whose saved tensors were already freed; a second backward over the "
             "same graph needs retain_graph=true on the first");
  for (const Watched& w : watched_) {
    const std::shared_ptr<Storage> storage = w.storage.lock();
    DCSR_CHECK(!storage || storage->version() == w.version, name_,
               " backward: a tensor this op used was changed in place after its forward (an optimizer step, "
               "copy_into_parameter or mark_modified), so its gradient would be computed from the new values; "
               "run the forward again after changing it");
  }
  TensorList result = fn_(grads);
  DCSR_CHECK(result.size() == next_edges_.size(), name_, " backward returned ", result.size(),
             " gradients for ", next_edges_.size(), " inputs");
  for (size_t i = 0; i < result.size(); ++i) {
    const Edge& edge = next_edges_[i];
    if (!edge.valid() || !result[i].defined()) continue;
    const OutputMeta& meta = edge.node->output_meta(edge.input_nr);
    DCSR_CHECK(result[i].shape() == meta.shape, name_, " backward returned a gradient of shape ",
               shape_str(result[i].shape()), " for input ", i, " of shape ", shape_str(meta.shape));
    DCSR_CHECK(result[i].dtype() == meta.dtype && result[i].device() == meta.device, name_,
               " backward returned a ", dtype_name(result[i].dtype()), "/", device_name(result[i].device()),
               " gradient for input ", i, " which is ", dtype_name(meta.dtype), "/", device_name(meta.device));
  }
  return result;
}

namespace autograd {

Edge gradient_edge(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return {};
  if (t.grad_fn()) return {t.grad_fn(), t.output_nr()};
  TensorImpl& impl = t.impl();
  if (!impl.grad_accumulator) impl.grad_accumulator = make_grad_accumulator(t);
  return {impl.grad_accumulator, 0};
}

bool needs_grad(const TensorList& inputs) {
  if (!GradMode::enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

TensorList record(const char* name, const TensorList& inputs, TensorList outputs, Node::BackwardFn fn) {
  if (!needs_grad(inputs)) return outputs;
  std::vector<Edge> edges;
  edges.reserve(inputs.size());
  for (const Tensor& input : inputs) edges.push_back(gradient_edge(input));
  std::vector<OutputMeta> metas;
  for (const Tensor& out : outputs) metas.push_back({out.shape(), out.dtype(), out.device()});
  auto node = std::make_shared<Node>(name, std::move(edges), std::move(metas), std::move(fn));
  std::vector<Node::Watched> watched;
  for (const TensorList* list : std::initializer_list<const TensorList*>{&inputs, &outputs})
    for (const Tensor& t : *list)
      if (t.defined() && t.impl().storage) watched.push_back({t.impl().storage, t.impl().storage->version()});
  node->watch(std::move(watched));
  for (size_t i = 0; i < outputs.size(); ++i) {
    Tensor& out = outputs[i];
    if (!is_floating(out.dtype())) continue;  // indices are not differentiable
    for (const Tensor& input : inputs)
      DCSR_CHECK(!input.defined() || !out.same(input), name, ": an op must return new tensors, not its input");
    TensorImpl& impl = out.impl();
    impl.grad_fn = node;
    impl.output_nr = uint32_t(i);
    impl.requires_grad = true;
  }
  return outputs;
}

Tensor record(const char* name, const TensorList& inputs, Tensor output,
              std::function<TensorList(const Tensor& grad)> fn) {
  if (!needs_grad(inputs)) return output;
  Shape shape = output.shape();
  DType dtype = output.dtype();
  Device device = output.device();
  auto multi = [fn = std::move(fn), shape, dtype, device](const TensorList& grads) {
    return fn(grads[0].defined() ? grads[0] : zeros(shape, dtype, device));
  };
  return record(name, inputs, TensorList{std::move(output)}, std::move(multi))[0];
}

void run_backward(const TensorList& roots, const TensorList& grads, bool retain_graph) {
  DCSR_CHECK(roots.size() == grads.size(), "backward: ", roots.size(), " roots but ", grads.size(), " gradients");
  NoGradGuard no_grad;

  // Collect the reachable graph and count, for every node, how many edges
  // point at it: it may run only when all of them have delivered.
  std::vector<std::shared_ptr<Node>> nodes;
  std::unordered_map<Node*, int> pending;
  std::unordered_set<Node*> seen;
  std::vector<Edge> root_edges;
  for (size_t i = 0; i < roots.size(); ++i) {
    Edge edge = gradient_edge(roots[i]);
    DCSR_CHECK(edge.valid(), "backward: root ", i, " does not require grad (no op recorded a gradient for it)");
    root_edges.push_back(edge);
    if (seen.insert(edge.node.get()).second) nodes.push_back(edge.node);
  }
  for (size_t k = 0; k < nodes.size(); ++k) {
    for (const Edge& edge : nodes[k]->next_edges()) {
      if (!edge.valid()) continue;
      pending[edge.node.get()]++;
      if (seen.insert(edge.node.get()).second) nodes.push_back(edge.node);
    }
  }

  std::unordered_map<Node*, TensorList> buffers;
  auto buffer_of = [&](Node* node) -> TensorList& {
    TensorList& buffer = buffers[node];
    if (buffer.empty()) buffer.resize(node->num_outputs());
    return buffer;
  };
  for (size_t i = 0; i < roots.size(); ++i) {
    Tensor seed = grads[i].defined() ? grads[i].detach() : Tensor();
    if (!seed.defined()) {
      DCSR_CHECK(roots[i].numel() == 1, "backward: an implicit gradient needs a one-element root, got shape ",
                 shape_str(roots[i].shape()), "; pass the upstream gradient");
      seed = ones(roots[i].shape(), roots[i].dtype(), roots[i].device());
    }
    // Of the root's dtype and device too: a leaf would keep a float64 seed as
    // its float32 .grad(), and an op's backward would blame itself.
    DCSR_CHECK(seed.shape() == roots[i].shape() && seed.dtype() == roots[i].dtype() &&
                   seed.device() == roots[i].device(),
               "backward: gradient of shape ", shape_str(seed.shape()), " ", dtype_name(seed.dtype()), " on ",
               device_name(seed.device()), " for a root of shape ", shape_str(roots[i].shape()), " ",
               dtype_name(roots[i].dtype()), " on ", device_name(roots[i].device()));
    accumulate(buffer_of(root_edges[i].node.get())[root_edges[i].input_nr], seed);
  }

  std::vector<Node*> ready;
  std::unordered_set<Node*> queued;
  for (const Edge& edge : root_edges)
    if (pending[edge.node.get()] == 0 && queued.insert(edge.node.get()).second) ready.push_back(edge.node.get());

  while (!ready.empty()) {
    Node* node = ready.back();
    ready.pop_back();
    TensorList inputs = std::move(buffer_of(node));
    buffers.erase(node);  // free the incoming gradients as early as possible
    bool any = false;
    for (const Tensor& g : inputs) any = any || g.defined();
    TensorList outputs = any ? node->apply(inputs) : TensorList(node->next_edges().size());
    if (!retain_graph) node->release();
    const std::vector<Edge>& edges = node->next_edges();
    for (size_t j = 0; j < edges.size(); ++j) {
      const Edge& edge = edges[j];
      if (!edge.valid()) continue;
      if (outputs[j].defined()) accumulate(buffer_of(edge.node.get())[edge.input_nr], outputs[j]);
      if (--pending[edge.node.get()] == 0) ready.push_back(edge.node.get());
    }
  }
}

}  // namespace autograd
}  // namespace dcsr
