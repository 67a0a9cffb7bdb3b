// The Tensor functions that compute (fill a value, convert a dtype): declared
// with Tensor in tensor/tensor.h, defined here with the kernels they call, so
// that tensor/ itself depends only on runtime/ below it.
#include "kernels/kernels.h"
#include "runtime/device.h"
#include "tensor/tensor.h"

namespace dcsr {

template <typename T>
std::vector<T> Tensor::to_vector() const {
  Tensor host = detach();
  if (device() != Device::CPU || dtype() != dtype_of<T>()) {
    Tensor converted = empty(shape(), dtype_of<T>(), device());
    kernels::cast(*this, converted);
    host = empty(shape(), dtype_of<T>(), Device::CPU);
    runtime::copy_bytes(host.raw_data(), Device::CPU, converted.raw_data(), device(), host.nbytes());
  }
  const T* p = host.data<T>();
  return std::vector<T>(p, p + numel());
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;

Tensor full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  kernels::fill(t, value);
  return t;
}

template <typename T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, DType dtype, Device device) {
  DCSR_CHECK(int64_t(values.size()) == shape_numel(shape), "from_vector: ", values.size(),
             " values for shape ", shape_str(shape));
  Tensor host = from_blob(values.data(), shape, dtype_of<T>(), Device::CPU);
  if (dtype == dtype_of<T>() && device == Device::CPU) return host;
  Tensor converted = empty(shape, dtype, Device::CPU);
  kernels::cast(host, converted);
  return device == Device::CPU ? converted : from_blob(converted.raw_data(), shape, dtype, device);
}
template Tensor from_vector<float>(const std::vector<float>&, const Shape&, DType, Device);
template Tensor from_vector<double>(const std::vector<double>&, const Shape&, DType, Device);
template Tensor from_vector<int64_t>(const std::vector<int64_t>&, const Shape&, DType, Device);

}  // namespace dcsr
