#include "tensor/random.h"

#include <cmath>

#include "tensor/error.h"

namespace dcsr {

void Generator::seed_with(uint64_t seed, uint64_t stream) {
  state_ = 0;
  increment_ = (stream << 1u) | 1u;
  next_u32();
  state_ += seed;
  next_u32();
}

uint32_t Generator::next_u32() {
  uint64_t old = state_;
  state_ = old * 6364136223846793005ULL + increment_;
  uint32_t xorshifted = uint32_t(((old >> 18u) ^ old) >> 27u);
  uint32_t rot = uint32_t(old >> 59u);
  return (xorshifted >> rot) | (xorshifted << ((32 - rot) & 31));
}

double Generator::uniform01() { return double(next_u64() >> 11) * 0x1.0p-53; }

double Generator::uniform(double low, double high) { return low + (high - low) * uniform01(); }

int64_t Generator::randint(int64_t low, int64_t high) {
  DCSR_CHECK(high > low, "Generator::randint: empty range [", low, ", ", high, ")");
  uint64_t range = uint64_t(high - low);
  // Rejection sampling removes the modulo bias.
  uint64_t limit = UINT64_MAX - UINT64_MAX % range;
  uint64_t draw;
  do draw = next_u64();
  while (draw >= limit);
  return low + int64_t(draw % range);
}

double Generator::normal() {
  // 1 - u keeps the logarithm's argument in (0, 1].
  double u1 = 1.0 - uniform01();
  double u2 = uniform01();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

}  // namespace dcsr
