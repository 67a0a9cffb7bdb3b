// Conv chain bench (the CPU job loop, kernels/cpu/parallel_jobs.h): eight
// 32 -> 32 3x3 convolutions at 228x292 (the width-32 model's 8K-mode tile),
// float32, no grad, each reading the output of the one before, as a network
// runs them; baseline in the same run: the same eight convolutions, each on
// one input that no conv writes. "chain_ms" and "read_only_ms" are per conv,
// "ratio" is chain / read-only. 2 threads, Zen 5, this bench: with jobs handed
// to whichever thread was free (6f9d8bc), chain 1.90 ms, read-only 1.43 ms,
// ratio 1.33 (about half of each conv's input had just been written by the
// other core); with every thread on its own rows (9e11da4), 1.41 ms, 1.25 ms,
// 1.13.
#include "apps/bench/bench.h"
#include "autograd/ops.h"
#include "kernels/cpu_paths.h"
#include "tensor/random.h"

namespace dcsr::bench {

namespace {
namespace paths = kernels::cpu_paths;
constexpr int kConvs = 8;
constexpr int64_t kChannels = 32, kHeight = 228, kWidth = 292;
}  // namespace

DCSR_BENCH(conv_chain) {
  const std::string name = "conv2d_32x32_k3_228x292_chain";
  if (!selected(ctx, name)) return;
  NoGradGuard no_grad;
  Generator gen(7);
  const Tensor x = uniform({1, kChannels, kHeight, kWidth}, gen, -1, 1);
  std::vector<Tensor> weights, biases;
  for (int i = 0; i < kConvs; ++i) {
    weights.push_back(uniform({kChannels, kChannels, 3, 3}, gen, -0.05, 0.05));
    biases.push_back(uniform({kChannels}, gen, -0.1, 0.1));
  }
  const int repeats = repeats_for(ctx, 9);
  const Timing chain = time_ms([&] {
    Tensor c = x;
    for (int i = 0; i < kConvs; ++i) c = conv2d(c, weights[size_t(i)], biases[size_t(i)]);
  }, 2, repeats);
  const Timing read_only = time_ms([&] {
    for (int i = 0; i < kConvs; ++i) Tensor y = conv2d(x, weights[size_t(i)], biases[size_t(i)]);
  }, 2, repeats);
  emit(ctx, {{"name", name},
             {"cpu", paths::cpu_model()},
             {"isa", paths::isa_name(paths::cpu_isa())},
             {"chain_ms", chain.median_ms / kConvs},
             {"read_only_ms", read_only.median_ms / kConvs},
             {"ratio", chain.median_ms / read_only.median_ms}});
}

}  // namespace dcsr::bench
