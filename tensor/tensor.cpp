// Tensor core: storage, metadata access, factories and printing. The
// differentiable members (to, clone, reshape, backward) live with the ops in
// autograd/ops/.
#include "tensor/tensor.h"

#include <cstring>
#include <iomanip>
#include <sstream>

#include "runtime/device.h"
#include "runtime/allocator.h"
#include "tensor/random.h"

namespace dcsr {

Storage::Storage(size_t bytes, Device device) : bytes_(bytes), device_(device) {
  data_ = device_allocate(device, bytes);
}

Storage::~Storage() { device_deallocate(device_, data_, bytes_); }

int64_t Tensor::size(int64_t d) const { return shape()[wrap_dim(d, dim(), "Tensor::size")]; }

void* Tensor::raw_data() const {
  const TensorImpl& t = impl();
  return static_cast<char*>(t.storage->data()) + t.offset * int64_t(dtype_size(t.dtype));
}

Tensor& Tensor::requires_grad_(bool value) {
  DCSR_CHECK(!value || is_floating(dtype()), "requires_grad_: only floating tensors can require grad, got ",
             dtype_name(dtype()));
  DCSR_CHECK(is_leaf(), "requires_grad_: can only be set on a leaf tensor (one not produced by an op)");
  impl().requires_grad = value;
  return *this;
}

void Tensor::mark_modified() const {
  if (defined() && impl().storage) impl().storage->bump_version();
}

void Tensor::set_grad(const Tensor& grad) {
  if (grad.defined()) {
    DCSR_CHECK(grad.shape() == shape() && grad.dtype() == dtype() && grad.device() == device(),
               "set_grad: the gradient is ", shape_str(grad.shape()), " ", dtype_name(grad.dtype()), " on ",
               device_name(grad.device()), ", the tensor ", shape_str(shape()), " ", dtype_name(dtype()), " on ",
               device_name(device()));
  }
  impl().grad = grad.impl_;
}

Tensor Tensor::detach() const {
  auto view = std::make_shared<TensorImpl>();
  view->storage = impl().storage;
  view->offset = impl().offset;
  view->shape = impl().shape;
  view->dtype = impl().dtype;
  return Tensor(view);
}

double Tensor::item() const {
  DCSR_CHECK(numel() == 1, "item: tensor of shape ", shape_str(shape()), " has ", numel(), " elements, not 1");
  if (dtype() == DType::Int64) return double(to_vector<int64_t>()[0]);
  return to_vector<double>()[0];
}

// ---- factories ----

Tensor empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t s : shape) DCSR_CHECK(s >= 0, "empty: negative size in shape ", shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(size_t(shape_numel(shape)) * dtype_size(dtype), device);
  impl->shape = shape;
  impl->dtype = dtype;
  return Tensor(impl);
}

Tensor zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0.0, dtype, device); }
Tensor ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }
Tensor scalar_tensor(double value, DType dtype, Device device) { return full({}, value, dtype, device); }
Tensor empty_like(const Tensor& t) { return empty(t.shape(), t.dtype(), t.device()); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype(), t.device()); }

Tensor from_blob(const void* data, const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  runtime::copy_bytes(t.raw_data(), device, data, Device::CPU, t.nbytes());
  return t;
}


Tensor arange(int64_t n, DType dtype, Device device) {
  std::vector<int64_t> values(size_t(std::max<int64_t>(n, 0)));
  for (int64_t i = 0; i < n; ++i) values[size_t(i)] = i;
  return from_vector(values, {int64_t(values.size())}, dtype, device);
}

Tensor uniform(const Shape& shape, Generator& gen, double low, double high, DType dtype, Device device) {
  std::vector<double> values(size_t(shape_numel(shape)));
  for (double& v : values) v = gen.uniform(low, high);
  return from_vector(values, shape, dtype, device);
}

Tensor normal(const Shape& shape, Generator& gen, double mean, double stddev, DType dtype, Device device) {
  std::vector<double> values(size_t(shape_numel(shape)));
  for (double& v : values) v = mean + stddev * gen.normal();
  return from_vector(values, shape, dtype, device);
}

void check_floating(const Tensor& t, const char* op, const char* what) {
  DCSR_CHECK(t.defined(), op, ": ", what, " is undefined");
  DCSR_CHECK(is_floating(t.dtype()), op, ": ", what, " must be float32 or float64, got ", dtype_name(t.dtype()));
}

void check_same_device(const TensorList& tensors, const char* op) {
  for (const Tensor& t : tensors) {
    if (!t.defined()) continue;
    DCSR_CHECK(t.device() == tensors[0].device(), op, ": tensors on different devices (",
               device_name(tensors[0].device()), " and ", device_name(t.device()), ")");
  }
}

// ---- printing ----

std::string Tensor::str(int64_t max_elements) const {
  std::ostringstream out;
  out << "tensor(" << dtype_name(dtype()) << ", " << device_name(device()) << ", " << shape_str(shape());
  if (requires_grad()) out << ", requires_grad";
  out << ")\n";
  int64_t n = numel();
  if (n == 0) return out.str() + "[]";
  std::vector<double> values = dtype() == DType::Int64 ? std::vector<double>() : to_vector<double>();
  std::vector<int64_t> ints = dtype() == DType::Int64 ? to_vector<int64_t>() : std::vector<int64_t>();
  // block[d] = elements in one slice along dims d.. (a bracket pair per slice).
  std::vector<int64_t> block = contiguous_strides(shape());
  for (int64_t d = 0; d < dim(); ++d) block[size_t(d)] *= shape()[size_t(d)];
  int64_t shown = std::min(n, max_elements);
  out << std::setprecision(6);
  for (int64_t i = 0; i < shown; ++i) {
    // Open a bracket for every dim whose index just wrapped to 0.
    for (int64_t d = 0; d < dim(); ++d)
      if (i % block[size_t(d)] == 0) out << "[";
    if (dtype() == DType::Int64) out << ints[size_t(i)];
    else out << values[size_t(i)];
    int closes = 0;
    for (int64_t d = 0; d < dim(); ++d)
      if ((i + 1) % block[size_t(d)] == 0) ++closes;
    out << std::string(size_t(closes), ']');
    if (i + 1 < shown) out << (closes ? ",\n" : ", ");
  }
  if (shown < n) out << " ... (" << n - shown << " more)";
  return out.str();
}

std::ostream& operator<<(std::ostream& stream, const Tensor& tensor) { return stream << tensor.str(); }

}  // namespace dcsr
