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
// 149.5 GMAC for the training sample, 316.6 GMAC for the 352^2 4K tile,
// 473.9 GMAC for the 8K tile (228x292, window 476x604).
//
// The workloads themselves (model_workload.h) are shared with
// `dcsr_bench --serve`, which tools/bench_peer.py alternates run by run with
// the PyTorch peer; --serve also has the 8K tile and one 64 -> 64 3x3 conv
// (infer_tile_8k, conv3x3_fwd), which this in-process bench leaves out.
#include <chrono>
#include <cmath>
#include <iostream>

#include "apps/bench/bench.h"
#include "apps/bench/model_workload.h"
#include "autograd/ops.h"
#include "dcsr/model/loss.h"
#include "dcsr/model/network.h"
#include "runtime/device.h"
#include "runtime/switches.h"
#include "runtime/profiler.h"
#include "nn/optim.h"
#include "runtime/allocator.h"
#include "tensor/random.h"
#include "runtime/threads.h"

namespace dcsr::bench {

namespace {

constexpr int64_t kNFeats = 64;

enum class Kind { kTrain, kInfer, kConv };

struct Variant {
  const char* variant;
  const char* name;
  Kind kind;
  const char* loss;      // training variants only
  const char* features;  // "patch4" | "vgg"
  Mode mode;             // the model's mode (spec §8): K4 or K8
  int64_t lr_h, lr_w, ref_h, ref_w;
  double forward_gmac;   // spec §8's exact forward counts
  bool in_model_bench;   // also timed by `dcsr_bench --filter model` (the conv has bench_conv.cpp)
};

const Variant kVariants[] = {
    {"train_l1", "dcsr_train_step_lr128_ref256_nf64_l1", Kind::kTrain, "1*L1", "patch4", Mode::K4, 128, 128, 256, 256,
     149.5, true},
    {"train_cx_patch4", "dcsr_train_step_lr128_ref256_nf64_cx_patch4", Kind::kTrain, "1*L1+0.05*CX_ref+0.01*CX_hr",
     "patch4", Mode::K4, 128, 128, 256, 256, 149.5, true},
    {"train_cx_vgg", "dcsr_train_step_lr128_ref256_nf64_cx_vgg", Kind::kTrain, "1*L1+0.05*CX_ref+0.01*CX_hr", "vgg",
     Mode::K4, 128, 128, 256, 256, 149.5, true},
    {"infer_tile", "dcsr_infer_4k_tile_lr166_ref352_nf64", Kind::kInfer, "", "", Mode::K4, 166, 166, 352, 352, 316.6,
     true},
    // An 8K-mode centre tile (§8: tile 228x292, window 476x604); serve / profile only.
    {"infer_tile_8k", "dcsr_infer_8k_tile_lr228x292_ref476x604_nf64", Kind::kInfer, "", "", Mode::K8, 228, 292, 476,
     604, 473.9, false},
    // One conv2d 64 -> 64, 3x3, padding 1, at 256x256 (bench_conv_workload.cpp); serve / profile only.
    {"conv3x3_fwd", "conv2d_64x64_k3_256_fwd", Kind::kConv, "", "", Mode::K4, 256, 256, 0, 0, 0.0, false},
};

const Variant& find_variant(const std::string& variant) {
  for (const Variant& v : kVariants)
    if (variant == v.variant) return v;
  std::string known;
  for (const Variant& v : kVariants) known += std::string(known.empty() ? "" : ", ") + v.variant;
  DCSR_CHECK(false, "unknown model workload '", variant, "' (known: ", known, ")");
  return kVariants[0];
}

struct Inputs {
  Tensor lr, ref, hr;
};

Inputs make_inputs(const Variant& v, Device device) {
  Generator gen(1);
  Inputs in;
  in.lr = uniform({1, 3, v.lr_h, v.lr_w}, gen).to(device);
  in.ref = uniform({1, 3, v.ref_h, v.ref_w}, gen).to(device);
  in.hr = uniform({1, 3, 2 * v.lr_h, 2 * v.lr_w}, gen).to(device);
  return in;
}

// The peer's size of a side pair: one number when square (as the peer has
// always been given), else [h, w].
nlohmann::json peer_size(int64_t h, int64_t w) { return h == w ? nlohmann::json(h) : nlohmann::json({h, w}); }

// A unit of work ends when its results exist: CUDA kernels run asynchronously.
void finish(Device device) {
  if (device == kCUDA) runtime::cuda_synchronize();
}

struct TrainState {
  std::unique_ptr<DcsrNet> net;
  Inputs in;
  std::unique_ptr<DcsrLoss> loss;
  std::unique_ptr<nn::Adam> adam;
  double last_loss = 0;
};

ModelWorkload train_workload(const Variant& v, Device device) {
  auto s = std::make_shared<TrainState>();
  Generator gen(7);
  s->net = std::make_unique<DcsrNet>(ModelConfig{kNFeats}, gen);
  s->net->to(device);  // before the optimiser: to() makes new leaves
  s->in = make_inputs(v, device);
  // The VGG moves to SR's device on first use (DcsrLoss::features).
  s->loss = std::string(v.features) == "vgg"
                ? std::make_unique<DcsrLoss>(v.loss, Vgg19Features::seeded(1234, kFloat32))
                : std::make_unique<DcsrLoss>(v.loss, v.features);
  s->adam = std::make_unique<nn::Adam>(s->net->parameters(true), 1e-4);
  ModelWorkload w;
  w.name = v.name;
  w.info = {{"loss", v.loss}, {"features", v.features}, {"forward_gmac", v.forward_gmac}};
  w.peer_spec = {{"op", "dcsr_train_step"},
                 {"lr_size", peer_size(v.lr_h, v.lr_w)},
                 {"ref_size", peer_size(v.ref_h, v.ref_w)},
                 {"n_feats", kNFeats},
                 {"loss", v.loss},
                 {"features", v.features}};
  TrainState* p = s.get();
  w.run = [p, device] {
    p->adam->zero_grad();
    LossTerms t = (*p->loss)(p->net->forward(p->in.lr, p->in.ref, Mode::K4).sr, p->in.hr, p->in.ref);
    p->last_loss = t.total.item();
    t.total.backward();
    p->adam->step();
    finish(device);
  };
  const std::string name = w.name;
  w.check = [p, run = w.run, name] {
    run();
    DCSR_CHECK(std::isfinite(p->last_loss), name, ": loss is not finite");
  };
  w.state = s;
  return w;
}

struct InferState {
  std::unique_ptr<DcsrNet> net;
  Inputs in;
};

ModelWorkload infer_workload(const Variant& v, Device device) {
  auto s = std::make_shared<InferState>();
  Generator gen(7);
  s->net = std::make_unique<DcsrNet>(ModelConfig{kNFeats}, gen);
  s->net->to(device);
  s->in = make_inputs(v, device);
  const bool k8 = v.mode == Mode::K8;
  ModelWorkload w;
  w.name = v.name;
  w.info = {{"forward_gmac", v.forward_gmac}, {"mode", k8 ? "8k" : "4k"}};
  w.peer_spec = {{"op", "dcsr_infer_tile"}, {"lr_size", peer_size(v.lr_h, v.lr_w)},
                 {"ref_size", peer_size(v.ref_h, v.ref_w)}, {"n_feats", kNFeats}};
  if (k8) w.peer_spec["mode"] = "8k";  // the peer's flag_8k; 4K when absent
  InferState* p = s.get();
  const Mode mode = v.mode;
  w.run = [p, device, mode] {
    NoGradGuard no_grad;
    Tensor sr = p->net->forward(p->in.lr, p->in.ref, mode).sr;
    finish(device);
  };
  const std::string name = w.name;
  w.check = [p, mode, out_h = 2 * v.lr_h, out_w = 2 * v.lr_w, name] {
    NoGradGuard no_grad;
    DcsrNet::Output o = p->net->forward(p->in.lr, p->in.ref, mode);
    DCSR_CHECK(o.sr.shape() == Shape({1, 3, out_h, out_w}), name, ": wrong output shape ", shape_str(o.sr.shape()));
  };
  w.state = s;
  return w;
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

void bench_variant(const Context& ctx, const std::string& variant) {
  const std::string name = model_workload_name(variant);
  if (!selected(ctx, name)) return;
  ModelWorkload w = make_model_workload(variant);
  start_memory_measurement();
  w.check();  // validation run (also the warm-up)
  Timing t = time_ms(w.run, 0, ctx.quick ? 2 : 3);
  nlohmann::json line = {{"name", name}, {"ms", t.median_ms}};
  line.update(w.info);
  if (find_variant(variant).kind == Kind::kInfer)
    line["gmac_per_s"] = w.info["forward_gmac"].get<double>() / (t.median_ms / 1e3);
  add_memory(line);
  add_peer(ctx, line, w.peer_spec, t.median_ms);
  emit(ctx, line);
}

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

void print_line(const nlohmann::json& line) { std::cout << line.dump() << std::endl; }

}  // namespace

const std::vector<std::string>& model_workload_variants() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const Variant& v : kVariants) out.push_back(v.variant);
    return out;
  }();
  return names;
}

std::string model_workload_name(const std::string& variant) { return find_variant(variant).name; }

ModelWorkload make_model_workload(const std::string& variant, Device device) {
  const Variant& v = find_variant(variant);
  switch (v.kind) {
    case Kind::kTrain: return train_workload(v, device);
    case Kind::kInfer: return infer_workload(v, device);
    case Kind::kConv: break;
  }
  return conv3x3_workload(v.name, device);
}

int serve_model_workload(const std::string& variant, Device device) {
  try {
    const auto setup_start = std::chrono::steady_clock::now();
    ModelWorkload w = make_model_workload(variant, device);
    const double setup_ms = ms_since(setup_start);
    const auto warmup_start = std::chrono::steady_clock::now();
    w.check();
    const double warmup_ms = ms_since(warmup_start);
    nlohmann::json ready = {{"event", "ready"},          {"name", w.name},         {"variant", variant},
                            {"device", device_name(device)}, {"threads", num_threads()}, {"setup_ms", setup_ms},
                            {"warmup_ms", warmup_ms},     {"peer_spec", w.peer_spec}};
    ready.update(w.info);
    print_line(ready);
    std::string command;
    while (std::getline(std::cin, command)) {
      if (command == "quit") break;
      if (command != "run") {
        print_line({{"event", "error"}, {"message", "unknown command '" + command + "' (run | quit)"}});
        continue;
      }
      const auto start = std::chrono::steady_clock::now();
      w.run();
      print_line({{"ms", ms_since(start)}});
    }
    // The whole process, setup included: what tools/bench_peer.py compares
    // with the PyTorch worker's ru_maxrss.
    nlohmann::json done = {{"event", "done"},
                           {"peak_rss_mb", peak_rss_mb()},
                           {"peak_tensors_mb", double(allocator_stats(kCPU).peak_bytes_in_use) / 1048576.0}};
    if (device == kCUDA) done["peak_device_mb"] = double(allocator_stats(kCUDA).peak_bytes_in_use) / 1048576.0;
    print_line(done);
    return 0;
  } catch (const std::exception& e) {
    print_line({{"event", "error"}, {"message", e.what()}});
    return 1;
  }
}

int profile_model_workload(const std::string& variant, Device device, int runs) {
  try {
    ModelWorkload w = make_model_workload(variant, device);
    w.check();  // validation and warm-up
    const Timing plain = time_ms(w.run, 1, runs);
    runtime::reset_kernel_profile();
    runtime::set_kernel_profiling(true);
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < runs; ++i) w.run();
    const double profiled_ms = ms_since(start) / runs;
    runtime::set_kernel_profiling(false);
    std::vector<runtime::KernelProfileRow> rows = runtime::kernel_profile();
    double kernels_ms = 0.0;
    for (runtime::KernelProfileRow& row : rows) {  // totals -> per run
      row.calls /= runs;
      row.ms /= runs;
      kernels_ms += row.ms;
    }
    print_line({{"profile", w.name},
                {"device", device_name(device)},
                {"threads", num_threads()},
                {"runs", runs},
                {"ms", plain.median_ms},
                {"ms_profiled", profiled_ms},
                {"ms_in_kernels", kernels_ms},
                {"ms_outside_kernels", profiled_ms - kernels_ms}});
    for (const runtime::KernelProfileRow& row : rows) {
      print_line({{"profile", w.name},
                  {"kernel", row.kernel},
                  {"device", device_name(row.device)},
                  {"calls_per_run", row.calls},
                  {"ms_per_run", row.ms},
                  {"share_of_profiled", row.ms / profiled_ms}});
    }
    const std::string conv_path =
        device == kCUDA ? std::string(" (conv path ") + runtime::conv_path_name(runtime::cuda_conv_path()) + ")" : "";
    std::cerr << w.name << " on " << device_name(device) << conv_path << ": "
              << plain.median_ms << " ms per run unprofiled, "
              << profiled_ms << " ms profiled (kernels synchronised one by one); per run:\n"
              << runtime::kernel_profile_table(rows, profiled_ms);
    return 0;
  } catch (const std::exception& e) {
    runtime::set_kernel_profiling(false);
    print_line({{"event", "error"}, {"message", e.what()}});
    return 1;
  }
}

DCSR_BENCH(model) {
  for (const Variant& v : kVariants)
    if (v.in_model_bench) bench_variant(ctx, v.variant);
}

}  // namespace dcsr::bench
