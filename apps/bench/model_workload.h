// The DCSR workloads of the model benches, shared by bench_model.cpp and
// `dcsr_bench --serve` (driven by tools/bench_peer.py, which runs the same
// work in PyTorch through tools/bench/peers/model.py):
//
//   train_l1         one training step (forward, loss, backward, Adam), LR 128x128,
//                    Ref 256x256, batch 1, n_feats 64, float32, loss "1*L1"
//   train_cx_patch4  the same with "1*L1+0.05*CX_ref+0.01*CX_hr" on patch4 features
//   train_cx_vgg     the same on VGG19 relu3_4 features (the seeded VGG19), the
//                    reference's setting (spec §9.2)
//   infer_tile       one 4K-mode tile under no-grad, LR 166x166, Ref window 352x352
//   infer_tile_8k    one 8K-mode tile under no-grad, LR 228x292, Ref window 476x604
//                    (spec §8's centre tile)
//   conv3x3_fwd      one conv2d forward under no-grad: batch 1, 64 -> 64, 3x3,
//                    stride 1, padding 1, bias, 256x256 (bench_conv_workload.cpp;
//                    the peer convolves the same x, weight and bias)
// The first four are also timed in-process by `dcsr_bench --filter model`;
// the last two only through --serve / --profile (the conv's in-process bench
// is bench_conv.cpp).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tensor/types.h"

namespace dcsr::bench {

struct ModelWorkload {
  std::string name;            // the bench name, e.g. "dcsr_train_step_lr128_ref256_nf64_l1"
  nlohmann::json info;         // loss, features, forward_gmac: copied into the bench's JSON line
  nlohmann::json peer_spec;    // the same work for the PyTorch peer (tools/bench/peers/model.py)
  std::function<void()> check;  // one unit that validates its result (the warm-up run)
  std::function<void()> run;    // one unit of work, finished (synchronised) on return
  std::shared_ptr<void> state;  // owns the model, inputs and optimiser the functions use
};

// The variants above, in bench order.
const std::vector<std::string>& model_workload_variants();
// The bench name of a variant, without building anything; fails on an unknown variant.
std::string model_workload_name(const std::string& variant);
// Builds the model, inputs (and loss, optimiser) of `variant` on `device`.
ModelWorkload make_model_workload(const std::string& variant, Device device = kCPU);

// The conv3x3_fwd workload (bench_conv_workload.cpp), named `name`.
ModelWorkload conv3x3_workload(const std::string& name, Device device);

// `dcsr_bench --serve VARIANT [--device cpu|cuda]`: builds the workload, runs
// the checked warm-up unit, prints {"event": "ready", ...}, then for each line
// "run" on stdin runs one unit and prints {"ms": ...}; on "quit" or end of
// input prints {"event": "done", "peak_rss_mb": ..., ...} and returns 0. One
// JSON object per stdout line; tools/bench_peer.py alternates these runs with
// PyTorch's, run by run.
int serve_model_workload(const std::string& variant, Device device);

// `dcsr_bench --profile VARIANT [--device cpu|cuda] [--runs N]`: builds the
// workload, runs the checked warm-up unit, times N units unprofiled, then N
// units with the kernel profiler on (runtime/profiler.h). Prints one
// JSON line with the times ({"profile": name, "ms", "ms_profiled",
// "ms_in_kernels", "ms_outside_kernels"}), then one per kernel, the most
// expensive first ({"kernel", "calls_per_run", "ms_per_run",
// "share_of_profiled"}), and the same as a table on stderr. Returns 0, or 1
// after an {"event": "error"} line.
int profile_model_workload(const std::string& variant, Device device, int runs);

}  // namespace dcsr::bench
