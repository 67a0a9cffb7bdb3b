// Tensor: a reference-counted handle to contiguous, row-major, 64-byte aligned
// storage (NCHW for images) plus the autograd metadata of reverse-mode
// differentiation. Copying a Tensor copies the handle, not the data.
//
// Views: reshape/view share storage (cheap). Everything else that changes the
// element order (permute, narrow, concat) makes an explicit contiguous copy, so
// every kernel can assume contiguous inputs.
#pragma once
#include <cstdint>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "tensor/error.h"
#include "tensor/types.h"

namespace dcsr {

class Node;
class Generator;

// Bytes on one device, returned to the caching allocator when the last tensor
// using them goes away.
class Storage {
 public:
  Storage(size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }
  // Counts the in-place changes made through the library's in-place calls
  // (an optimizer step, Module::copy_into_parameter, Tensor::mark_modified):
  // backward refuses a node whose inputs changed after its forward, as their
  // saved values would give a wrong gradient (autograd/node.h).
  uint64_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
  std::atomic<uint64_t> version_{0};
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  // in elements, into storage (views of a larger buffer)
  Shape shape;
  DType dtype = DType::Float32;

  // Autograd. A tensor that requires grad is either a leaf (grad_fn null; its
  // gradient accumulates into `grad`) or the output `output_nr` of `grad_fn`.
  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;
  uint32_t output_nr = 0;
  std::shared_ptr<TensorImpl> grad;
  std::shared_ptr<Node> grad_accumulator;  // created lazily for leaves
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  int64_t dim() const { return int64_t(impl().shape.size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const { return shape_numel(impl().shape); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype()); }
  bool is_cpu() const { return device() == Device::CPU; }

  // Typed pointer to the first element (a device pointer for CUDA tensors).
  // Fails if T does not match the dtype.
  template <typename T>
  T* data() const {
    DCSR_CHECK(dtype_of<T>() == dtype(), "Tensor::data: tensor is ", dtype_name(dtype()),
               ", asked for ", dtype_name(dtype_of<T>()));
    return static_cast<T*>(raw_data());
  }
  void* raw_data() const;

  // Value of a one-element CPU or CUDA tensor, converted to double.
  double item() const;
  // Copies the elements to a host vector (any device), converting to T.
  template <typename T>
  std::vector<T> to_vector() const;

  // --- autograd ---
  bool requires_grad() const { return impl().requires_grad; }
  // Marks a leaf as a parameter/input whose gradient should be accumulated.
  Tensor& requires_grad_(bool value = true);
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  const std::shared_ptr<Node>& grad_fn() const { return impl().grad_fn; }
  uint32_t output_nr() const { return impl().output_nr; }
  // The accumulated gradient (undefined until a backward reaches this leaf).
  Tensor grad() const { return Tensor(impl().grad); }
  // `grad` undefined, or of this tensor's shape, dtype and device (an
  // optimizer reads it as this tensor's gradient).
  void set_grad(const Tensor& grad);
  // Says that this tensor's values were changed in place (its storage's
  // version goes up): code that writes into an existing tensor through
  // kernels or data<T>() calls it, so that a graph that saved the old values
  // refuses to run backward.
  void mark_modified() const;
  void zero_grad() { impl().grad.reset(); }
  // Same storage, no autograd history, requires_grad false.
  Tensor detach() const;
  // Runs reverse-mode differentiation from this tensor. With no argument the
  // tensor must hold one element (the gradient seed is 1); otherwise `grad`
  // is the upstream gradient, of this tensor's shape. Saved tensors are freed
  // afterwards unless retain_graph is true.
  void backward(const Tensor& grad = Tensor(), bool retain_graph = false) const;

  // --- conversion and copies ---
  Tensor to(Device device) const;  // differentiable
  Tensor to(DType dtype) const;    // differentiable between float types
  Tensor clone() const;            // differentiable deep copy

  // --- views (share storage; differentiable) ---
  Tensor reshape(const Shape& shape) const;  // one dim may be -1
  Tensor flatten() const { return reshape({numel()}); }

  std::string str(int64_t max_elements = 64) const;  // "tensor(float32, cpu, (2, 3))\n[[...]]"

  TensorImpl& impl() const {
    DCSR_CHECK(impl_, "use of an undefined tensor");
    return *impl_;
  }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& other) const { return impl_ == other.impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

using TensorList = std::vector<Tensor>;

std::ostream& operator<<(std::ostream& stream, const Tensor& tensor);

// ---- factories (never record autograd history) ----
Tensor empty(const Shape& shape, DType dtype = kFloat32, Device device = kCPU);
Tensor zeros(const Shape& shape, DType dtype = kFloat32, Device device = kCPU);
Tensor ones(const Shape& shape, DType dtype = kFloat32, Device device = kCPU);
Tensor full(const Shape& shape, double value, DType dtype = kFloat32, Device device = kCPU);
Tensor scalar_tensor(double value, DType dtype = kFloat32, Device device = kCPU);  // shape ()
Tensor empty_like(const Tensor& t);
Tensor zeros_like(const Tensor& t);
// 0, 1, ..., n-1
Tensor arange(int64_t n, DType dtype = kInt64, Device device = kCPU);
// Copies numel(shape) elements of host type T, converting to `dtype`.
template <typename T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, DType dtype = dtype_of<T>(),
                   Device device = kCPU);
// Copies numel(shape) elements of `dtype` from host memory.
Tensor from_blob(const void* data, const Shape& shape, DType dtype, Device device = kCPU);
// Random tensors from an explicit generator (drawn on the host in a fixed order,
// so a seed gives the same values on every device).
Tensor uniform(const Shape& shape, Generator& gen, double low = 0.0, double high = 1.0,
               DType dtype = kFloat32, Device device = kCPU);
Tensor normal(const Shape& shape, Generator& gen, double mean = 0.0, double stddev = 1.0,
              DType dtype = kFloat32, Device device = kCPU);

// Fails naming `op` unless `t` is defined and floating point.
void check_floating(const Tensor& t, const char* op, const char* what);
// Fails naming `op` unless all tensors are on the same device.
void check_same_device(const TensorList& tensors, const char* op);

}  // namespace dcsr
