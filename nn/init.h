// Parameter initialisation.
//
//   * PyTorch's default for Conv2d (kaiming_uniform with a = sqrt(5)): the
//     gain sqrt(2 / (1 + a^2)) = sqrt(1/3) times sqrt(3 / fan_in) gives
//     weight ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)); the bias uses the same
//     bound. fan_in = Cin/groups * k * k. Drawn from an explicit Generator
//     (same seed, same values; the values differ from PyTorch's RNG).
//   * seeded_uniform: the reproducible weights of tests/reference/README.md
//     ("Seeded weights"), regenerated bit-exactly from (seed, tensor index),
//     so tests can use e.g. a VGG19 without a weight file.
#pragma once
#include <cstdint>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace dcsr::nn {

// Fills a conv weight (Cout, Cin/groups, k, k) and its bias (Cout; may be
// undefined) in place with PyTorch's default Conv2d initialisation, the weight
// first (row-major), then the bias.
void init_conv_default(Tensor& weight, Tensor& bias, Generator& gen);

// splitmix64 (Steele, Lea, Flood 2014), uint64 arithmetic with wraparound.
uint64_t splitmix64(uint64_t z);

// Element e (flat row-major) = (u >> 11) * 2^-53 * (2 bound) - bound computed
// in float64, u = splitmix64(seed * 0x9E3779B97F4A7C15 + tensor_index *
// 0xD1B54A32D192ED03 + e); returned converted to `dtype`.
Tensor seeded_uniform(uint64_t seed, uint64_t tensor_index, const Shape& shape, double bound,
                      DType dtype = kFloat64, Device device = kCPU);

}  // namespace dcsr::nn
