#include "nn/init.h"

#include <cmath>
#include <vector>

#include "kernels/kernels.h"

namespace dcsr::nn {

void init_conv_default(Tensor& weight, Tensor& bias, Generator& gen) {
  DCSR_CHECK(weight.dim() == 4, "init_conv_default: weight must be 4-D, got ", shape_str(weight.shape()));
  const int64_t fan_in = weight.size(1) * weight.size(2) * weight.size(3);
  const double bound = 1.0 / std::sqrt(double(fan_in));
  // Draw on the host in float64, in a fixed order, then convert into place.
  auto fill = [&](Tensor& t) {
    Tensor values = uniform(t.shape(), gen, -bound, bound, kFloat64);
    if (t.device() != kCPU) values = values.to(t.device());
    kernels::cast(values, t);
  };
  fill(weight);
  if (bias.defined()) fill(bias);
}

uint64_t splitmix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

Tensor seeded_uniform(uint64_t seed, uint64_t tensor_index, const Shape& shape, double bound, DType dtype,
                      Device device) {
  const uint64_t base = seed * 0x9E3779B97F4A7C15ULL + tensor_index * 0xD1B54A32D192ED03ULL;
  std::vector<double> values(size_t(shape_numel(shape)));
  const double width = 2.0 * bound;  // formed first, as the reference does
  for (size_t e = 0; e < values.size(); ++e) {
    const uint64_t u = splitmix64(base + uint64_t(e));
    // Two roundings, as numpy: the volatile keeps the compiler from fusing
    // the multiply and the subtraction into one FMA (-march=native allows it),
    // which would change the last bit.
    volatile double scaled = double(u >> 11) * 0x1.0p-53 * width;
    values[e] = scaled - bound;
  }
  return from_vector(values, shape, dtype, device);
}

}  // namespace dcsr::nn
