// Tiled inference benches (dcsr-spec §8, issue 4): the memory of the tiling
// machinery on full-size images, and one 8K-mode tile of the real network.
//
// A whole-image run with the real network is hours of CPU time, so its peak
// is bounded from two measured parts: the tiling machinery on the full image
// with a stub network that allocates what the network returns (input and
// output images, tiles, Ref windows, the coarse search), and the network on
// its largest tile (4K: dcsr_infer_4k_tile_* in bench_model.cpp; 8K: here).
// Tiles run one at a time, so peak(whole) <= peak(tiling) + peak(tile) -
// baseline. Goals (issue 4): 2 GB for a 2016x1512 LR in 4K mode, 4 GB for
// a 4032x3024 LR in 8K mode.
#include <fstream>
#include <string>

#include "apps/bench/bench.h"
#include "autograd/grad_mode.h"
#include "dcsr/model/network.h"
#include "dcsr/inference/tiling.h"
#include "runtime/allocator.h"
#include "tensor/random.h"

namespace dcsr::bench {

namespace {

double rss_now_mb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1024.0;
  return -1.0;
}

// A fresh peak: cached blocks back to the OS, then VmHWM = VmRSS.
double fresh_baseline() {
  allocator_empty_cache(kCPU);
  reset_peak_rss();
  return rss_now_mb();
}

void bench_tiling(const Context& ctx, Mode mode, int64_t h, int64_t w) {
  const std::string name = std::string("tiling_machinery_") + mode_name(mode) + "_lr" + std::to_string(w) + "x" +
                           std::to_string(h);
  if (!selected(ctx, name)) return;
  double baseline = fresh_baseline();
  Generator gen(1);
  Tensor lr = uniform({1, 3, h, w}, gen), ref = uniform({1, 3, h, w}, gen);
  // The stub returns what DcsrNet returns (SR, confidence, warped HF), uninitialised.
  auto stub = [mode](const Tensor& tile, const Tensor&) {
    TileOutput o;
    const int64_t th = tile.size(2), tw = tile.size(3), f = mode == Mode::K8 ? 2 : 1;
    o.sr = empty({1, 3, 2 * th, 2 * tw});
    o.confidence = empty({1, 1, th / f, tw / f});
    o.warped_ref = empty({1, 3, 2 * th, 2 * tw});
    return o;
  };
  TiledOptions opt;
  opt.want_confidence = opt.want_warped_ref = true;
  TiledResult r;
  auto run = [&] {
    r = TiledResult{};  // the last run's images go back to the cache first: they are not part of this run's peak
    r = tiled_inference(lr, ref, mode, stub, opt);
  };
  // A warm-up run first, as the other benches do (the allocator's cache
  // filled, the pages touched), and its outputs checked; the peak covers it.
  run();
  DCSR_CHECK(r.sr.shape() == Shape({1, 3, 2 * h, 2 * w}), name, ": wrong output shape");
  const Timing t = time_ms(run, 0, ctx.quick ? 1 : 2);
  const double images_mb = double(lr.nbytes() + ref.nbytes() + r.sr.nbytes() + r.warped_ref.nbytes() +
                                  r.confidence.nbytes()) / (1024.0 * 1024.0);
  emit(ctx, {{"name", name},
             {"ms", t.median_ms},
             {"peak_rss_mb", peak_rss_mb()},
             {"baseline_rss_mb", baseline},
             {"images_mb", images_mb},
             {"note", "stub network; peak includes LR, Ref, SR, warped Ref and confidence images"},
             {"tiles", make_tile_grid(h, w, mode).ny * make_tile_grid(h, w, mode).nx},
             {"coarse_tiles", r.window_counts[size_t(WindowKind::Coarse)]}});
}

void bench_tile_8k(const Context& ctx) {
  const std::string name = "dcsr_infer_8k_tile_lr228x292_ref476x604_nf64";
  if (!selected(ctx, name)) return;
  double baseline = fresh_baseline();
  ModelConfig config;
  config.n_feats = 64;
  Generator gen(1);
  DcsrNet net(config, gen);
  Tensor lr = uniform({1, 3, 228, 292}, gen), ref = uniform({1, 3, 476, 604}, gen);
  NoGradGuard no_grad;
  auto run = [&] {
    DcsrNet::Output o = net.forward(lr, ref, Mode::K8);
    DCSR_CHECK(o.sr.shape() == Shape({1, 3, 456, 584}), name, ": wrong output shape");
  };
  run();  // the warm-up (and the check of its shape), as the other benches do
  const Timing t = time_ms(run, 0, ctx.quick ? 1 : 2);
  emit(ctx, {{"name", name},
             {"ms", t.median_ms},
             {"peak_rss_mb", peak_rss_mb()},
             {"baseline_rss_mb", baseline},
             {"forward_gmac", 473.9},
             {"gflops", 2.0 * 473.9e9 / t.median_ms / 1e6}});
}

}  // namespace

DCSR_BENCH(tiling) {
  bench_tiling(ctx, Mode::K4, 1512, 2016);
  bench_tiling(ctx, Mode::K8, 3024, 4032);
  bench_tile_8k(ctx);
}

}  // namespace dcsr::bench
