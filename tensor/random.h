// Explicit, seedable random numbers. No hidden global state: every random
// draw in the library takes a Generator, and its whole state is two 64-bit
// words, so training checkpoints can store it for exact resume.
#pragma once
#include <cstdint>

namespace dcsr {

// PCG-XSH-RR 64/32 (O'Neill 2014): small, fast and statistically sound.
class Generator {
 public:
  explicit Generator(uint64_t seed = 0, uint64_t stream = 54) { seed_with(seed, stream); }
  void seed_with(uint64_t seed, uint64_t stream = 54);

  uint32_t next_u32();
  uint64_t next_u64() { return (uint64_t(next_u32()) << 32) | next_u32(); }
  double uniform01();                       // [0, 1), 53 random bits
  double uniform(double low, double high);  // [low, high)
  int64_t randint(int64_t low, int64_t high);  // uniform integer in [low, high), unbiased
  double normal();                           // standard normal (Box-Muller, no cached spare)

  struct State {
    uint64_t state = 0;
    uint64_t increment = 0;
  };
  State state() const { return {state_, increment_}; }
  void set_state(const State& s) { state_ = s.state, increment_ = s.increment; }

 private:
  uint64_t state_ = 0;
  uint64_t increment_ = 0;
};

}  // namespace dcsr
