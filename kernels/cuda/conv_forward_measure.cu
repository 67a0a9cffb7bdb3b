// The measured choice of the CUDA conv forward's kernel (conv_forward_measure.h).
#include "kernels/cuda/conv_forward_measure.h"

#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/cuda/event_timing.h"

namespace dcsr::kernels::cuda {

namespace {

using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool, bool>;

struct Choices {
  std::mutex mutex;
  std::map<Key, ConvForwardKernel> kernel;
};

Choices& choices() {
  static Choices* c = new Choices();  // never destroyed: a conv may run during static destruction
  return *c;
}

// "32->32 3x3 s1 p1 at 1x166x166 (TF32)": the profile's name of the shape, and the settings.
std::string shape_label(const ConvForwardShape& s, bool tf32, bool epilogue) {
  return conv_shape_label(s) + (tf32 ? " (TF32)" : "") + (epilogue ? "" : " (no epilogue)");
}

}  // namespace

ConvForwardKernel measured_conv_forward(const ConvForwardShape& s, bool tf32, bool epilogue,
                                        const std::function<void(ConvForwardKernel)>& run) {
  const std::vector<ConvForwardKernel> candidates = conv_forward_candidates(s, tf32);
  if (candidates.size() == 1) return candidates[0];  // nothing to choose (im2col alone)
  Choices& c = choices();
  // Held while timing: another thread's kernels would disturb the times (the
  // lock is taken once per call; the timing happens once per shape).
  std::lock_guard<std::mutex> lock(c.mutex);
  const Key key{s.N, s.Cin, s.H, s.W, s.Cout, s.k, s.stride, s.pad, s.groups, tf32, epilogue};
  if (auto found = c.kernel.find(key); found != c.kernel.end()) return found->second;
  std::string line = "dcsr: conv measure: " + shape_label(s, tf32, epilogue) + ":";
  ConvForwardKernel best = ConvForwardKernel::kIm2col;
  double best_ms = -1.0;
  for (ConvForwardKernel kernel : candidates) {
    const double ms = event_times_ms([&] { run(kernel); }, 1, 3)[1];  // the median of three
    char part[96];
    std::snprintf(part, sizeof part, " %s %.4f ms,", conv_forward_kernel_name(kernel, tf32), ms);
    line += part;
    if (best_ms < 0.0 || ms < best_ms) best = kernel, best_ms = ms;
  }
  line.back() = ' ';
  line += std::string("-> ") + conv_forward_kernel_name(best, tf32) + "\n";
  std::fputs(line.c_str(), stderr);
  c.kernel.emplace(key, best);
  return best;
}

}  // namespace dcsr::kernels::cuda
