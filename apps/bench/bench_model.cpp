// Model benches (issue 4): one DCSR training step (LR 128x128, Ref 256x256,
// batch 1, n_feats 64, float32; forward + loss + backward + Adam) with the
// L1 loss alone and with the contextual terms (patch4 and VGG19 feature
// spaces), and the inference of one 4K-mode tile (LR 166x166, Ref window
// 352x352, no grad). Each line has the median time, the memory of the timed
// runs (peak_rss_mb: this process, live tensors plus the blocks the caching
// allocator keeps; peak_tensors_mb: live tensors only), and the same work done
// by the PyTorch reference
// (tests/reference/dcsr_ref.py via tools/bench/peers/model.py) with the same
// thread count: time_ratio_vs_torch = ours / PyTorch (< 1 is faster).
//
// forward_gmac: conv + matching multiply-accumulates of one forward (spec §8):
// 149.5 GMAC for the training sample, 316.6 GMAC for the 352^2 4K tile.
#include <cmath>

#include "apps/bench/bench.h"
#include "autograd/ops.h"
#include "dcsr/loss.h"
#include "dcsr/network.h"
#include "nn/optim.h"
#include "tensor/allocator.h"
#include "tensor/random.h"

namespace dcsr::bench {

namespace {

struct Inputs {
  Tensor lr, ref, hr;
};

Inputs make_inputs(int64_t lr_size, int64_t ref_size) {
  Generator gen(1);
  Inputs in;
  in.lr = uniform({1, 3, lr_size, lr_size}, gen);
  in.ref = uniform({1, 3, ref_size, ref_size}, gen);
  in.hr = uniform({1, 3, 2 * lr_size, 2 * lr_size}, gen);
  return in;
}

// Starts a peak-memory measurement: the cache of earlier benches is given
// back first, so peak_rss_mb counts this bench's own memory (live tensors
// plus the blocks our caching allocator keeps for reuse).
void start_memory_measurement() {
  allocator_empty_cache(kCPU);
  allocator_reset_peak(kCPU);
  reset_peak_rss();
}

void add_memory(nlohmann::json& line) {
  line["peak_rss_mb"] = peak_rss_mb();
  line["peak_tensors_mb"] = double(allocator_stats(kCPU).peak_bytes_in_use) / 1048576.0;
}

void add_peer(const Context& ctx, nlohmann::json& line, const nlohmann::json& spec, double ours_ms) {
  std::vector<nlohmann::json> tuned = run_peer(ctx, spec, true);
  if (tuned.empty() || !tuned[0].contains("ms")) {
    line["torch"] = "skipped (no python with torch, or the peer failed)";
    return;
  }
  const double torch_ms = tuned[0]["ms"].get<double>();
  line["torch_ms"] = torch_ms;
  line["torch_peak_rss_mb"] = tuned[0].value("peak_rss_mb", -1.0);
  line["time_ratio_vs_torch"] = ours_ms / torch_ms;
  line["torch_malloc"] = "tuned (no trimming)";
  if (!ctx.quick) {
    std::vector<nlohmann::json> plain = run_peer(ctx, spec, false);
    if (!plain.empty() && plain[0].contains("ms")) {
      line["torch_default_malloc_ms"] = plain[0]["ms"].get<double>();
      line["torch_default_malloc_peak_rss_mb"] = plain[0].value("peak_rss_mb", -1.0);
      line["time_ratio_vs_torch_default_malloc"] = ours_ms / plain[0]["ms"].get<double>();
    }
  }
}

void bench_train_step(const Context& ctx, const std::string& variant, const std::string& loss_spec,
                      const std::string& features) {
  const int64_t lr_size = 128, ref_size = 256, n_feats = 64;
  const std::string name = "dcsr_train_step_lr128_ref256_nf64_" + variant;
  if (!selected(ctx, name)) return;
  Generator gen(7);
  DcsrNet net(ModelConfig{n_feats}, gen);
  Inputs in = make_inputs(lr_size, ref_size);
  std::unique_ptr<DcsrLoss> loss = features == "vgg"
                                       ? std::make_unique<DcsrLoss>(loss_spec, Vgg19Features::seeded(1234, kFloat32))
                                       : std::make_unique<DcsrLoss>(loss_spec, features);
  nn::Adam adam(net.parameters(true), 1e-4);
  double last_loss = 0;
  auto step = [&] {
    adam.zero_grad();
    LossTerms t = (*loss)(net.forward(in.lr, in.ref, Mode::K4).sr, in.hr, in.ref);
    last_loss = t.total.item();
    t.total.backward();
    adam.step();
  };
  start_memory_measurement();
  step();  // validation run (also the warm-up)
  DCSR_CHECK(std::isfinite(last_loss), name, ": loss is not finite");
  Timing t = time_ms(step, 0, ctx.quick ? 2 : 3);
  nlohmann::json line = {{"name", name},
                         {"ms", t.median_ms},
                         {"loss", loss_spec},
                         {"features", features},
                         {"forward_gmac", 149.5}};
  add_memory(line);
  add_peer(ctx, line,
           {{"op", "dcsr_train_step"},
            {"lr_size", lr_size},
            {"ref_size", ref_size},
            {"n_feats", n_feats},
            {"loss", loss_spec},
            {"features", features}},
           t.median_ms);
  emit(ctx, line);
}

void bench_infer_tile(const Context& ctx) {
  const int64_t lr_size = 166, ref_size = 352, n_feats = 64;
  const std::string name = "dcsr_infer_4k_tile_lr166_ref352_nf64";
  if (!selected(ctx, name)) return;
  Generator gen(7);
  DcsrNet net(ModelConfig{n_feats}, gen);
  Inputs in = make_inputs(lr_size, ref_size);
  NoGradGuard no_grad;
  auto run = [&] { Tensor sr = net.forward(in.lr, in.ref, Mode::K4).sr; };
  start_memory_measurement();
  {
    DcsrNet::Output o = net.forward(in.lr, in.ref, Mode::K4);
    DCSR_CHECK(o.sr.shape() == Shape({1, 3, 2 * lr_size, 2 * lr_size}), name, ": wrong output shape");
  }
  Timing t = time_ms(run, 0, ctx.quick ? 2 : 3);
  nlohmann::json line = {{"name", name}, {"ms", t.median_ms}, {"forward_gmac", 316.6},
                         {"gmac_per_s", 316.6 / (t.median_ms / 1e3)}};
  add_memory(line);
  add_peer(ctx, line, {{"op", "dcsr_infer_tile"}, {"lr_size", lr_size}, {"ref_size", ref_size}, {"n_feats", n_feats}},
           t.median_ms);
  emit(ctx, line);
}

}  // namespace

DCSR_BENCH(model) {
  bench_train_step(ctx, "l1", "1*L1", "patch4");
  bench_train_step(ctx, "cx_patch4", "1*L1+0.05*CX_ref+0.01*CX_hr", "patch4");
  bench_train_step(ctx, "cx_vgg", "1*L1+0.05*CX_ref+0.01*CX_hr", "vgg");
  bench_infer_tile(ctx);
}

}  // namespace dcsr::bench
