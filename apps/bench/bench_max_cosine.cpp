// DCSR operator benches: patch matching (dcsr-spec §4.1) at the training size
// and at a 4K-mode tile, and the contextual loss (§9.2) at 4096 x 4096
// features. Baselines measured in the same run: a raw Eigen GEMM of the same
// depth, and PyTorch doing what the reference code does (dense matrices).
// The sizes are the op table's (tests/op_table.h, the rows' `bench`).
#include <cmath>
#include <limits>

#include "apps/bench/bench.h"
#include "apps/bench/eigen_baseline.h"
#include "autograd/ops.h"
#include "autograd/ops/dcsr_internal.h"
#include "autograd/ops/dcsr_ops.h"
#include "dcsr/inference/eval.h"
#include "dcsr/inference/tiling.h"
#include "dcsr/model/matching.h"
#include "dcsr/model/network.h"
#include "io/image_io.h"
#include "kernels/cpu_paths.h"
#include "runtime/allocator.h"
#include "tensor/random.h"
#include "apps/bench/table_sizes.h"

namespace dcsr::bench {

namespace {

namespace paths = kernels::cpu_paths;

Tensor unit_columns(int64_t d, int64_t n, uint64_t seed) {
  Generator gen(seed);
  return detail::normalize_columns(normal({1, d, n}, gen));
}

// Checks `samples` queries against a direct double-precision max / first
// argmax (the index only where the best two keys are clearly apart).
void validate_matching(const std::string& name, const Tensor& q, const Tensor& k, const MatchResult& m,
                       int64_t samples) {
  const int64_t D = q.size(1), Nq = q.size(2), Nk = k.size(2);
  const float* qd = q.data<float>();
  const float* kd = k.data<float>();
  std::vector<float> conf = m.confidence.to_vector<float>();
  std::vector<int64_t> index = m.index.to_vector<int64_t>();
  for (int64_t s = 0; s < samples; ++s) {
    const int64_t i = s * (Nq / samples);
    double best = -1e30, second = -1e30;
    int64_t arg = 0;
    for (int64_t j = 0; j < Nk; ++j) {
      double dot = 0;
      for (int64_t d = 0; d < D; ++d) dot += double(qd[d * Nq + i]) * double(kd[d * Nk + j]);
      if (dot > best) second = best, best = dot, arg = j;
      else second = std::max(second, dot);
    }
    DCSR_CHECK(std::abs(conf[size_t(i)] - best) < 1e-5, name, ": confidence of query ", i, " is ", conf[size_t(i)],
               ", expected ", best);
    DCSR_CHECK(best - second < 1e-5 || index[size_t(i)] == arg, name, ": query ", i, " matched key ",
               index[size_t(i)], ", expected ", arg);
  }
}

void bench_max_cosine(const Context& ctx, const std::string& name, int64_t nq, int64_t nk) {
  if (!selected(ctx, name)) return;
  const int64_t D = 144;  // 16 channels x 3 x 3 (§4.1)
  Tensor q = unit_columns(D, nq, 1), k = unit_columns(D, nk, 2);
  MatchResult check = max_cosine(q, k);
  validate_matching(name, q, k, check, ctx.quick ? 8 : 32);
  check = MatchResult{};

  // The op's own extra memory (allocator peak above what was live) and the
  // process's peak RSS while it runs.
  const int64_t live = allocator_stats(kCPU).bytes_in_use;
  allocator_reset_peak(kCPU);
  reset_peak_rss();
  const int repeats = repeats_for(ctx, 5);
  paths::reset_int16_match_stats();
  Timing ours = time_ms([&] { MatchResult m = max_cosine(q, k); }, 1, repeats);
  const double rss = peak_rss_mb();
  const int64_t extra = allocator_stats(kCPU).peak_bytes_in_use - live;
  const paths::Int16MatchStats int16 = paths::int16_match_stats();
  // The float32 sweep alone (the path DCSR_CPU_MATCH=float32 takes), same run.
  Timing float32_sweep = ours;
  if (int16.queries > 0) {
    paths::set_int16_match_allowed(false);
    float32_sweep = time_ms([&] { MatchResult m = max_cosine(q, k); }, 1, repeats);
    paths::reset_int16_match_allowed();
  }
  const int64_t outputs = nq * int64_t(sizeof(float) + sizeof(int64_t));

  // Forward + sparse backward, as in training (the similarity matrix is not stored).
  Tensor qg = q.clone().requires_grad_(), kg = k.clone().requires_grad_();
  Timing with_backward = time_ms(
      [&] {
        max_cosine(qg, kg).confidence.backward(ones({1, nq}));
        qg.zero_grad();
        kg.zero_grad();
      },
      1, repeats);

  // Baseline: Eigen's GEMM of the same depth, 4096 keys x 4096 queries (a
  // 64 MB product), on the same descriptor buffers.
  const int64_t m = std::min<int64_t>(4096, nk), n = std::min<int64_t>(4096, nq);
  Tensor c = empty({m, n});
  Eigen::setNbThreads(ctx.threads);
  Eigen::Map<const RowMajorF, Eigen::Unaligned, Eigen::OuterStride<>> K(k.data<float>(), D, m,
                                                                         Eigen::OuterStride<>(nk));
  Eigen::Map<const RowMajorF, Eigen::Unaligned, Eigen::OuterStride<>> Q(q.data<float>(), D, n,
                                                                         Eigen::OuterStride<>(nq));
  Eigen::Map<RowMajorF> C(c.data<float>(), m, n);
  Timing gemm = time_ms([&] { C.noalias() = K.transpose() * Q; }, 2, repeats_for(ctx, 7));

  const double flop = 2.0 * double(D) * double(nq) * double(nk);
  const double gemm_gflops = 2.0 * double(D) * double(m) * double(n) / gemm.median_ms / 1e6;
  const double our_gflops = flop / ours.median_ms / 1e6;
  nlohmann::json line = {{"name", name},
                         {"cpu", paths::cpu_model()},
                         {"queries", nq},
                         {"keys", nk},
                         {"dim", D},
                         {"ms", ours.median_ms},
                         {"path", int16.queries > 0 ? std::string("int16-exact/") + paths::int16_match_sweep()
                                                    : std::string("float32-sweep/") + paths::float32_sweep_width()},
                         {"ms_float32_sweep", float32_sweep.median_ms},
                         {"time_ratio_vs_float32_sweep", ours.median_ms / float32_sweep.median_ms},
                         {"int16_rescored_per_query", double(int16.rescored) / double(std::max<int64_t>(1, int16.queries))},
                         {"int16_fallback_share",
                          double(int16.fallbacks) / double(std::max<int64_t>(1, int16.queries + int16.fallbacks))},
                         {"gflops", our_gflops},
                         {"ms_forward_backward", with_backward.median_ms},
                         {"baseline", "raw Eigen GEMM, 4096 x 4096, depth 144"},
                         {"gemm_gflops", gemm_gflops},
                         {"vs_gemm", our_gflops / gemm_gflops},
                         {"peak_rss_mb", rss},
                         {"op_peak_extra_mb", double(extra) / 1048576.0},
                         {"op_extra_bound_mb", double(match_tile_limit() + outputs) / 1048576.0},
                         {"similarity_matrix_mb", double(nq) * double(nk) * 4.0 / 1048576.0}};
  DCSR_CHECK(extra <= match_tile_limit() + outputs + (int64_t(1) << 20), name, ": the op used ", extra,
             " extra bytes, more than the tile limit ", match_tile_limit(), " plus its outputs");
  // Fewer PyTorch repeats above 1 GB of similarities (each run allocates and fills it).
  const int torch_repeats = double(nq) * double(nk) > 3e8 ? 3 : 5;
  for (const nlohmann::json& peer :
       run_peer(ctx, {{"op", "max_cosine"}, {"nq", nq}, {"nk", nk}, {"d", D}, {"repeats", torch_repeats}}, true)) {
    if (!peer.contains("ms")) continue;
    line["torch_ms"] = peer["ms"];
    line["torch_peak_rss_mb"] = peer.value("peak_rss_mb", -1.0);
    line["time_ratio_vs_torch"] = ours.median_ms / peer["ms"].get<double>();
    line["torch_note"] = "bmm + max over dim 1, the full similarity matrix materialised";
  }
  if (!line.contains("torch_ms")) line["torch_note"] = "skipped: no python with torch";
  emit(ctx, line);
}

// patch_match from feature maps (the matching of a 4K-mode tile: 16 channels,
// queries h x h, keys H x H) on each CPU path, timed in the same run: the map
// sweep (max_cosine_patches.h) with the pixel products the CPU takes (int16
// through VNNI where it has it) and with float32 ones, the int16 sweep, the
// float32 sweep. The maps
// are a seeded normal through a 3x3 box blur and a ReLU (neighbouring
// pixels alike, some zeros, as the extractor's output). All three must agree
// bit for bit.
void bench_patch_match(const Context& ctx, int64_t h, int64_t H) {
  const std::string name = "patch_match_" + std::to_string(h) + "x" + std::to_string(H);
  if (!selected(ctx, name)) return;
  auto map = [](int64_t side, uint64_t seed) {
    Generator gen(seed);
    Tensor x = normal({1, 16, side + 2, side + 2}, gen);
    NoGradGuard no_grad;
    const Tensor box = full({16, 1, 3, 3}, 1.0 / 9.0);  // depthwise 3x3 mean, no padding
    return relu(conv2d(x, box, Tensor(), 1, 0, 16));
  };
  const Tensor q = map(h, 5), k = map(H, 6);
  const int repeats = repeats_for(ctx, 5);
  struct Path {
    const char* name;
    bool maps, int16, products16;
  };
  nlohmann::json line = {{"name", name}, {"cpu", paths::cpu_model()}, {"isa", paths::isa_name(paths::cpu_isa())},
                         {"channels", 16}, {"queries", h * h}, {"keys", H * H}};
  MatchResult reference;
  double maps_ms = 0;
  line["maps_products"] = paths::patch_products_name(16);
  for (const Path& path : {Path{"maps", true, true, true}, Path{"maps_float32_products", true, true, false},
                           Path{"int16", false, true, true}, Path{"float32", false, false, true}}) {
    paths::set_patch_match_allowed(path.maps);
    paths::set_int16_match_allowed(path.int16);
    paths::set_patch_int16_products_allowed(path.products16);
    NoGradGuard no_grad;
    MatchResult m = patch_match(q, k);
    if (!reference.index.defined()) {
      reference = m;
    } else {
      DCSR_CHECK(m.index.to_vector<int64_t>() == reference.index.to_vector<int64_t>() &&
                     m.confidence.to_vector<float>() == reference.confidence.to_vector<float>(),
                 name, ": the ", path.name, " path differs from the map sweep");
    }
    paths::reset_patch_match_stats();
    const double ms = time_ms([&] { MatchResult r = patch_match(q, k); }, 1, repeats).median_ms;
    line[std::string(path.name) + "_ms"] = ms;
    if (std::string(path.name) == "maps") {
      const paths::PatchMatchStats st = paths::patch_match_stats();
      maps_ms = ms;
      line["ms"] = ms;
      line["maps_rescored_per_query"] = double(st.rescored) / double(std::max<int64_t>(1, st.queries));
      line["maps_fallback_share"] = double(st.fallbacks) / double(std::max<int64_t>(1, st.queries + st.fallbacks));
    } else {
      line[std::string("maps_time_ratio_vs_") + path.name] = maps_ms / ms;  // a time ratio: < 1 is faster
    }
  }
  paths::reset_patch_match_allowed();
  paths::reset_int16_match_allowed();
  paths::reset_patch_int16_products_allowed();
  line["int16_sweep"] = paths::int16_match_sweep() ? paths::int16_match_sweep() : "none (float32 sweep)";
  emit(ctx, line);
}

void bench_contextual(const Context& ctx, int64_t channels, int64_t hw) {
  const std::string name = "contextual_loss_" + std::to_string(hw * hw) + "x" + std::to_string(hw * hw) + "_c" +
                           std::to_string(channels);
  if (!selected(ctx, name)) return;
  Generator gen(3);
  Tensor x = uniform({1, channels, hw, hw}, gen), y = uniform({1, channels, hw, hw}, gen);
  double value;
  {
    NoGradGuard no_grad;
    value = contextual_loss(x, y).item();
    DCSR_CHECK(std::isfinite(value) && value > 0, name, ": loss ", value, " is not a positive number");
  }
  const int repeats = repeats_for(ctx, 5);
  const int64_t live = allocator_stats(kCPU).bytes_in_use;
  allocator_reset_peak(kCPU);
  reset_peak_rss();
  Timing forward = time_ms(
      [&] {
        NoGradGuard no_grad;
        contextual_loss(x, y);
      },
      1, repeats);
  Tensor xg = x.clone().requires_grad_(), yg = y.clone().requires_grad_();
  Timing both = time_ms(
      [&] {
        contextual_loss(xg, yg).backward();
        xg.zero_grad();
        yg.zero_grad();
      },
      1, repeats);
  const double rss = peak_rss_mb();
  const int64_t extra = allocator_stats(kCPU).peak_bytes_in_use - live;
  // The forward sweeps the pairs twice (dcsr-spec §9.2 in two passes).
  const double pairs = double(hw * hw) * double(hw * hw);
  nlohmann::json line = {{"name", name},
                         {"ms", forward.median_ms},
                         {"ms_forward_backward", both.median_ms},
                         {"loss", value},
                         {"forward_gflops_in_dot_products", 2.0 * 2.0 * pairs * double(channels) / forward.median_ms / 1e6},
                         {"peak_rss_mb", rss},
                         {"op_peak_extra_mb", double(extra) / 1048576.0},
                         {"pair_matrix_mb", pairs * 4.0 / 1048576.0}};
  // The peer's forward, then forward + backward (its peak RSS is that of the latter).
  const nlohmann::json spec = {{"op", "contextual_loss"}, {"c", channels}, {"hw", hw}};
  nlohmann::json spec_backward = spec;
  spec_backward["backward"] = true;
  const double torch_fwd = peer_ms(ctx, spec, true);
  for (const nlohmann::json& peer : run_peer(ctx, spec_backward, true)) {
    if (!peer.contains("ms") || torch_fwd <= 0) continue;
    line["torch_ms"] = torch_fwd;
    line["torch_ms_forward_backward"] = peer["ms"];
    line["torch_peak_rss_mb"] = peer.value("peak_rss_mb", -1.0);
    line["time_ratio_vs_torch"] = forward.median_ms / torch_fwd;
    line["time_ratio_vs_torch_forward_backward"] = both.median_ms / peer["ms"].get<double>();
    line["torch_note"] = "the reference formulation: dense Nx x Ny matrices";
  }
  if (!line.contains("torch_ms")) line["torch_note"] = "skipped: no python with torch";
  emit(ctx, line);
}
// How many keys lie within a reduced precision's error bound of each query's
// best score, on real matching features: the design input of the exact TF32
// matching (kernels/cuda/max_cosine_tf32.cu), whose queries with more than
// 32 candidates go to the float32 sweep. The demo pair in 4K mode's roles:
// LR tiles (166 x 166) from the ultra-wide frame's centre, Ref windows
// (352 x 352) from the wide frame, the default model's matching extractor
// (features and descriptors as patch_match makes them); 300 queries a tile,
// scored against every key in double. Bounds 2E for unit columns at depth
// 144: TF32 (u = 2^-10 per input, max_cosine_tf32.cu) 3.96e-3, bf16 (2^-8)
// 1.6e-2.
void bench_match_candidates(const Context& ctx) {
  const std::string name = "match_candidates_real";
  if (!selected(ctx, name)) return;
  const std::string root = DCSR_SOURCE_DIR;
  const std::unique_ptr<DcsrNet> net = load_model(root + "/models/default.ckpt");
  Generator gen(1);
  FeatureMatching matching(gen);
  for (const auto& [param, value] : net->named_parameters())
    if (param.rfind("feature_match.", 0) == 0) matching.copy_into_parameter(param.substr(14), value);
  const Tensor lr = read_image(root + "/demo/ultrawide.jpg"), ref = read_image(root + "/demo/wide.jpg");
  NoGradGuard no_grad;
  const double bounds[2] = {3.96e-3, 1.6e-2};
  const char* labels[2] = {"tf32", "bf16"};
  int64_t at_most_8[2] = {0, 0}, above_32[2] = {0, 0}, queries = 0;
  const int64_t tiles[4][4] = {{129, 157, 0, 0}, {100, 120, 0, 128}, {160, 200, 72, 0}, {129, 157, 72, 128}};
  for (const auto& t : tiles) {
    const Tensor q = patch_descriptors(matching.features(extract_tile(lr, t[0], t[1], 166, 166), Mode::K4));
    const Tensor k = patch_descriptors(matching.features(avg_pool2d(extract_tile(ref, t[2], t[3], 352, 352), 2),
                                                         Mode::K4));
    const int64_t D = q.size(1), Nq = q.size(2), Nk = k.size(2);
    const std::vector<float> qv = q.to_vector<float>(), kv = k.to_vector<float>();
    std::vector<double> scores(static_cast<size_t>(Nk));
    const int64_t samples = ctx.quick ? 60 : 300;
    for (int64_t s = 0; s < samples; ++s, ++queries) {
      const int64_t i = (s * 7919) % Nq;  // spread over the tile
      double best = -1e300;
      for (int64_t j = 0; j < Nk; ++j) {
        double dot = 0.0;
        for (int64_t d = 0; d < D; ++d) dot += double(qv[size_t(d * Nq + i)]) * double(kv[size_t(d * Nk + j)]);
        scores[size_t(j)] = dot;
        best = std::max(best, dot);
      }
      for (int b = 0; b < 2; ++b) {
        int64_t candidates = 0;
        for (double v : scores) candidates += v >= best - bounds[b];
        at_most_8[b] += candidates <= 8;
        above_32[b] += candidates > 32;
      }
    }
  }
  nlohmann::json line = {{"name", name}, {"cpu", paths::cpu_model()}, {"tiles", 4}, {"queries", queries}};
  for (int b = 0; b < 2; ++b) {
    line[std::string(labels[b]) + "_bound"] = bounds[b];
    line[std::string(labels[b]) + "_share_at_most_8"] = double(at_most_8[b]) / double(queries);
    line[std::string(labels[b]) + "_share_above_32"] = double(above_32[b]) / double(queries);
  }
  emit(ctx, line);
}

}  // namespace

DCSR_BENCH(matching) {
  for (const TableSize& size : table_sizes(ctx, "max_cosine", kCPU)) {  // queries, keys
    const int64_t nq = size.sizes.at(0), nk = size.sizes.at(1);
    bench_max_cosine(ctx, "max_cosine_" + (size.part.empty() ? "" : size.part + "_") + std::to_string(nq) + "x" +
                              std::to_string(nk), nq, nk);
  }
  bench_patch_match(ctx, 166, 176);  // a 4K-mode tile's query and key grids
  bench_match_candidates(ctx);
  for (const TableSize& size : table_sizes(ctx, "contextual_loss", kCPU))  // channels, side of the maps
    bench_contextual(ctx, size.sizes.at(0), size.sizes.at(1));
}

}  // namespace dcsr::bench
