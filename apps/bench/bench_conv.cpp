// Conv benches (issues 3 and 18): conv2d C -> C, 3x3, padding 1, bias,
// batch 1, float32, at the conv2d row's bench sizes in the op table (64 -> 64
// at 128x128 and 256x256); forward, and forward + backward (input, weight and
// bias gradients through autograd).
//
// Each line times our conv on the path the plan picks (kernels/cpu_paths.h,
// kernels/cpu/winograd_plan.cpp: Winograd F(4x4,3x3) here) and, in the same run, forced to
// the direct path (DCSR_CPU_CONV=direct: the implicit GEMM on AVX-512 builds,
// im2col + GEMM otherwise): "ms" / "direct_ms", "speedup_vs_direct". It names
// the CPU ("cpu", from cpuid), the ISA path taken ("isa", DCSR_CPU_ISA)
// and the conv path ("path"), and reports the float32 error of both paths
// against the direct conv computed in float64 ("max_abs_err_vs_float64",
// "direct_max_abs_err_vs_float64") and of the planned path against the
// float32 direct conv ("max_abs_diff_vs_direct").
//
// Baselines measured in the same run, on a GEMM of the conv's shape
// (M = Cout = 64, K = Cin*9 = 576, N = H*W), operands already in memory:
//   gemm_raw        one call of the CPU kernels' raw GEMM (Eigen, threaded by Eigen);
//   gemm_raw_split  the same with N split across our threads (each call single-threaded);
//   gemm_packed     the direct conv's AVX-512 packed GEMM on pre-packed operands, N split
//                   (AVX-512 builds only).
// (kernels/cpu_paths.h gives them: gemm_f32, packed_gemm.)
// "vs_gemm" is our GFLOP/s (direct-conv FLOPs, whatever the path) over the
// best of those. The PyTorch peer (F.conv2d, same thread count) runs twice:
// glibc's default allocator, and glibc told to keep freed blocks ("tuned"),
// which is what our caching allocator does; "direct_time_ratio_vs_torch*"
// gives the direct path's ratio. Besides the medians, lines carry the fastest
// run of each side and their ratio: on cores shared with other processes
// that is the steadier number.
//
// Group wino_plan (dcsr_bench --filter wino_plan): the timings behind the
// plan's rule, direct vs F(2x2) vs F(4x4) over channels and sizes.
#include <cmath>

#include "apps/bench/bench.h"
#include "apps/bench/table_sizes.h"
#include "autograd/ops.h"
#include "kernels/cpu_paths.h"
#include "runtime/allocator.h"
#include "runtime/threads.h"
#include "tensor/random.h"

namespace dcsr::bench {

namespace {

namespace paths = kernels::cpu_paths;

constexpr int64_t kKernel = 3;

// Spot checks of y = conv(x, w) + b (padding 1) and of the gradients of
// sum(y * gy) against direct sums in double; fails naming the value.
double x_at(const float* x, int64_t S, int64_t c, int64_t i, int64_t j) {
  return (i < 0 || i >= S || j < 0 || j >= S) ? 0.0 : double(x[(c * S + i) * S + j]);
}

void check(bool ok, const std::string& name, const char* what) {
  DCSR_CHECK(ok, name, ": ", what, " disagrees with a direct sum; not timing a wrong result");
}

bool near(double got, double want) { return std::abs(got - want) <= 1e-3 * (1.0 + std::abs(want)); }

void validate_forward(const std::string& name, const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y) {
  const int64_t C = x.size(1), S = x.size(2);
  const float *px = x.data<float>(), *pw = w.data<float>(), *pb = b.data<float>(), *py = y.data<float>();
  for (int64_t probe = 0; probe < 16; ++probe) {
    const int64_t co = (probe * 37) % C, i = (probe * 101) % S, j = (probe * 53 + 7 * probe * probe) % S;
    double want = pb[co];
    for (int64_t ci = 0; ci < C; ++ci)
      for (int64_t ky = 0; ky < kKernel; ++ky)
        for (int64_t kx = 0; kx < kKernel; ++kx)
          want += double(pw[((co * C + ci) * kKernel + ky) * kKernel + kx]) *
                  x_at(px, S, ci, i + ky - 1, j + kx - 1);
    check(near(py[(co * S + i) * S + j], want), name, "y");
  }
}

void validate_backward(const std::string& name, const Tensor& x, const Tensor& w, const Tensor& gy) {
  const int64_t C = x.size(1), S = x.size(2);
  const float *px = x.detach().data<float>(), *pw = w.detach().data<float>(), *pg = gy.data<float>();
  const float *dx = x.grad().data<float>(), *dw = w.grad().data<float>();
  for (int64_t probe = 0; probe < 4; ++probe) {
    // dx[ci][i][j] = sum over co, taps of w[co][ci][ky][kx] gy[co][i - ky + 1][j - kx + 1]
    const int64_t ci = (probe * 29) % C, i = (probe * 71) % S, j = (probe * 13 + 5) % S;
    double want = 0;
    for (int64_t co = 0; co < C; ++co)
      for (int64_t ky = 0; ky < kKernel; ++ky)
        for (int64_t kx = 0; kx < kKernel; ++kx)
          want += double(pw[((co * C + ci) * kKernel + ky) * kKernel + kx]) *
                  x_at(pg, S, co, i - ky + 1, j - kx + 1);
    check(near(dx[(ci * S + i) * S + j], want), name, "dx");
    // dw[co][ci][ky][kx] = sum over pixels of gy[co][p] x[ci][p + tap - 1]
    const int64_t co = (probe * 17 + 3) % C, ky = probe % 3, kx = (probe + 1) % 3;
    double want_w = 0;
    for (int64_t oy = 0; oy < S; ++oy)
      for (int64_t ox = 0; ox < S; ++ox)
        want_w += double(pg[(co * S + oy) * S + ox]) * x_at(px, S, ci, oy + ky - 1, ox + kx - 1);
    check(near(dw[((co * C + ci) * kKernel + ky) * kKernel + kx], want_w), name, "dw");
  }
}

struct GemmBaselines {
  double raw_ms = 0, split_ms = 0, packed_ms = -1;
};

// The conv's GEMM, (C x 9C) @ (9C x N), on operands already in memory.
GemmBaselines time_gemm(const Context& ctx, int64_t C, int64_t N) {
  const int64_t M = C, K = C * kKernel * kKernel;
  Generator gen(5);
  Tensor a = uniform({M, K}, gen, -1, 1), b = uniform({K, N}, gen, -1, 1), c = empty({M, N});
  const float *pa = a.data<float>(), *pb = b.data<float>();
  float* pc = c.data<float>();
  const int repeats = repeats_for(ctx, 9);
  GemmBaselines out;
  out.raw_ms = time_ms([&] { paths::gemm_f32(pa, K, pb, N, pc, N, M, N, K); }, 2, repeats).median_ms;
  constexpr int64_t kColumns = 480;  // per single-threaded call, as the conv's chunks
  out.split_ms = time_ms(
                     [&] {
                       parallel_for((N + kColumns - 1) / kColumns, 1, [&](int64_t begin, int64_t end) {
                         for (int64_t t = begin; t < end; ++t) {
                           const int64_t n0 = t * kColumns, n = std::min(kColumns, N - n0);
                           paths::gemm_f32(pa, K, pb + n0, N, pc + n0, N, M, n, K);
                         }
                       });
                     },
                     2, repeats)
                     .median_ms;
  if (!paths::packed_gemm_built()) return out;
  Tensor ap = empty({paths::packed_a_floats(M, K)}), bp = empty({paths::packed_b_floats(N, K)});
  paths::pack_a(pa, K, M, K, ap.data<float>());
  paths::pack_b(pb, N, K, N, bp.data<float>());
  out.packed_ms = time_ms(
                      [&] {
                        parallel_for((N + kColumns - 1) / kColumns, 1, [&](int64_t begin, int64_t end) {
                          for (int64_t t = begin; t < end; ++t) {
                            const int64_t n0 = t * kColumns, n = std::min(kColumns, N - n0);
                            paths::packed_gemm(M, n, K, ap.data<float>(), bp.data<float>() + n0 * K, pc + n0, N);
                          }
                        });
                      },
                      2, repeats)
                      .median_ms;
  return out;
}

void add_gemm_ratios(nlohmann::json& line, const GemmBaselines& g, double flop_per_gemm, double gemms,
                     double ours_ms) {
  auto gflops = [&](double ms) { return flop_per_gemm / ms / 1e6; };
  line["gemm_raw_gflops"] = gflops(g.raw_ms);
  line["gemm_raw_split_gflops"] = gflops(g.split_ms);
  double best_ms = std::min(g.raw_ms, g.split_ms);
  if (g.packed_ms > 0) {
    line["gemm_packed_gflops"] = gflops(g.packed_ms);
    best_ms = std::min(best_ms, g.packed_ms);
  }
  // Our GFLOP/s over the best GEMM's (a fwd+bwd step is three GEMMs of this shape).
  line["vs_gemm"] = (gemms * best_ms) / ours_ms;
  line["goal_vs_gemm"] = 0.6;
}

// The peer's median and minimum, each way (see the file comment), against
// our planned path (`ours`) and the direct path (`direct`).
void add_torch(const Context& ctx, nlohmann::json& line, nlohmann::json spec, const Timing& ours,
               const Timing& direct) {
  bool any = false;
  for (bool tuned : {false, true}) {
    for (const nlohmann::json& peer : run_peer(ctx, spec, tuned)) {
      if (!peer.contains("ms")) continue;
      const std::string key = tuned ? "torch_tuned_malloc" : "torch";
      const double ms = peer["ms"].get<double>();
      line[key + "_ms"] = ms;
      line["time_ratio_vs_" + key] = ours.median_ms / ms;
      line["direct_time_ratio_vs_" + key] = direct.median_ms / ms;
      if (peer.contains("min_ms")) {
        const double min_ms = peer["min_ms"].get<double>();
        line[key + "_min_ms"] = min_ms;
        line["min_time_ratio_vs_" + key] = ours.min_ms / min_ms;
        line["direct_min_time_ratio_vs_" + key] = direct.min_ms / min_ms;
      }
      if (peer.contains("torch")) line["torch_version"] = peer["torch"];
      any = true;
      break;
    }
  }
  if (any) {
    line["goal_time_ratio_vs_torch"] = 0.6;
    line["torch_note"] =
        "torch_*: glibc's default allocator; torch_tuned_malloc_*: MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ "
        "raised so freed buffers stay in the process; min_time_ratio_*: fastest run against fastest run, the "
        "comparison least disturbed by other processes on shared cores";
  } else {
    line["torch"] = "skipped (no python with torch)";
  }
}

using paths::CpuConvPath;

// Sets the CPU conv path for its lifetime (the plan's auto, or direct).
struct ConvPathScope {
  explicit ConvPathScope(CpuConvPath path) { paths::set_cpu_conv_path(path); }
  ~ConvPathScope() { paths::reset_cpu_conv_path(); }
};

double max_abs_diff(const Tensor& a, const Tensor& b) {
  const Tensor a64 = a.to(kFloat64), b64 = b.to(kFloat64);
  const double *pa = a64.data<double>(), *pb = b64.data<double>();
  if (a64.numel() != b64.numel()) return INFINITY;
  double most = 0;
  for (int64_t i = 0; i < a64.numel(); ++i) most = worse_error(most, std::abs(pa[i] - pb[i]));
  return most;
}

// The CPU, the ISA path and the conv path of a line, and the float32 errors:
// the planned path's and the direct path's outputs against the direct conv in
// float64, and against each other.
void add_paths_and_errors(nlohmann::json& line, const Tensor& x, const Tensor& w, const Tensor& b) {
  const int64_t C = x.size(1), S = x.size(2);
  const paths::ConvShape shape{1, C, S, S, C, kKernel, 1, 1, 1, S, S};
  line["cpu"] = paths::cpu_model();
  line["cpu_features"] = paths::cpu_features().summary;
  line["isa"] = paths::isa_name(paths::cpu_isa());
  line["path"] = paths::conv_forward_path(shape);
  {
    ConvPathScope direct(CpuConvPath::kDirect);
    line["direct_path"] = paths::conv_forward_path(shape);
  }
  NoGradGuard no_grad;
  Tensor want, direct32;
  {
    ConvPathScope direct(CpuConvPath::kDirect);
    want = conv2d(x.to(kFloat64), w.to(kFloat64), b.to(kFloat64));
    direct32 = conv2d(x, w, b);
  }
  const Tensor planned = conv2d(x, w, b);
  line["max_abs_err_vs_float64"] = max_abs_diff(planned, want);
  line["direct_max_abs_err_vs_float64"] = max_abs_diff(direct32, want);
  line["max_abs_diff_vs_direct"] = max_abs_diff(planned, direct32);
}

// The weight gradient's float32 error, planned and direct paths, against the
// direct path in float64 (the gradient of sum(conv(x, w, b) * gy)), and the
// largest |dW| as the scale of both.
void add_weight_gradient_errors(nlohmann::json& line, const Tensor& x, const Tensor& w, const Tensor& b,
                                const Tensor& gy) {
  auto weight_grad = [&](DType dtype) {
    Tensor leaf = w.detach().to(dtype).requires_grad_();
    conv2d(x.detach().to(dtype), leaf, b.detach().to(dtype)).backward(gy.to(dtype));
    return leaf.grad();
  };
  Tensor want, direct32;
  {
    ConvPathScope direct(CpuConvPath::kDirect);
    want = weight_grad(kFloat64);
    direct32 = weight_grad(kFloat32);
  }
  line["dw_max_abs_err_vs_float64"] = max_abs_diff(weight_grad(kFloat32), want);
  line["dw_direct_max_abs_err_vs_float64"] = max_abs_diff(direct32, want);
  line["dw_max_abs"] = max_abs_diff(want, zeros(want.shape(), kFloat64));
}

void bench_conv(const Context& ctx, int64_t C, int64_t S) {
  const std::string shape = "conv2d_" + std::to_string(C) + "x" + std::to_string(C) + "_k3_" + std::to_string(S);
  const std::string fwd_name = shape + "_fwd", step_name = shape + "_fwd_bwd";
  const bool want_fwd = selected(ctx, fwd_name), want_step = selected(ctx, step_name);
  if (!want_fwd && !want_step) return;
  Generator gen(3);
  Tensor x = uniform({1, C, S, S}, gen, -1, 1);
  Tensor w = mul(uniform({C, C, kKernel, kKernel}, gen, -1, 1), 0.05);
  Tensor b = uniform({C}, gen);
  const double flop = 2.0 * double(C * C * kKernel * kKernel) * double(S * S);
  const GemmBaselines gemm = time_gemm(ctx, C, S * S);
  allocator_empty_cache(kCPU);  // the baselines' big operands should not count in the conv's peak RSS
  const int repeats = repeats_for(ctx, 9);
  nlohmann::json spec = {{"op", "conv2d"}, {"channels", C}, {"size", S}, {"k", kKernel}};

  // Times fn on the planned path, then on the direct path.
  auto both_paths = [&](const std::function<void()>& fn, double& peak_mb) {
    reset_peak_rss();
    const Timing planned = time_ms(fn, 2, repeats);
    peak_mb = peak_rss_mb();
    ConvPathScope direct(CpuConvPath::kDirect);
    return std::make_pair(planned, time_ms(fn, 2, repeats));
  };
  auto add_direct = [](nlohmann::json& line, const Timing& t, const Timing& direct) {
    line["direct_ms"] = direct.median_ms;
    line["direct_min_ms"] = direct.min_ms;
    line["speedup_vs_direct"] = direct.median_ms / t.median_ms;
  };

  if (want_fwd) {
    NoGradGuard no_grad;
    validate_forward(fwd_name, x, w, b, conv2d(x, w, b));
    {
      ConvPathScope direct(CpuConvPath::kDirect);
      validate_forward(fwd_name + " (direct)", x, w, b, conv2d(x, w, b));
    }
    double peak_mb = 0;
    const auto [t, direct] = both_paths([&] { Tensor y = conv2d(x, w, b); }, peak_mb);
    nlohmann::json line = {{"name", fwd_name}, {"ms", t.median_ms}, {"min_ms", t.min_ms},
                           {"gflops", flop / t.median_ms / 1e6}, {"peak_rss_mb", peak_mb}};
    add_paths_and_errors(line, x, w, b);
    add_direct(line, t, direct);
    add_gemm_ratios(line, gemm, flop, 1.0, t.median_ms);
    add_torch(ctx, line, spec, t, direct);
    emit(ctx, line);
  }
  if (want_step) {
    Tensor xg = x.detach().requires_grad_(), wg = w.detach().requires_grad_(), bg = b.detach().requires_grad_();
    Tensor gy = uniform({1, C, S, S}, gen);
    auto step = [&] {
      xg.zero_grad();
      wg.zero_grad();
      bg.zero_grad();
      conv2d(xg, wg, bg).backward(gy);
    };
    step();
    validate_backward(step_name, xg, wg, gy);
    {
      ConvPathScope direct(CpuConvPath::kDirect);
      step();
      validate_backward(step_name + " (direct)", xg, wg, gy);
    }
    double peak_mb = 0;
    const auto [t, direct] = both_paths(step, peak_mb);
    nlohmann::json line = {{"name", step_name}, {"ms", t.median_ms}, {"min_ms", t.min_ms},
                           {"gflops", 3.0 * flop / t.median_ms / 1e6}, {"peak_rss_mb", peak_mb},
                           {"note", "gflops counts three GEMM-sized products: forward, input and weight gradients; "
                                    "Winograd takes all three where the plan chooses it (dw_*: the weight "
                                    "gradient's float32 errors)"}};
    add_paths_and_errors(line, x, w, b);
    add_weight_gradient_errors(line, x, w, b, gy);
    add_direct(line, t, direct);
    add_gemm_ratios(line, gemm, flop, 3.0, t.median_ms);
    spec["backward"] = true;
    add_torch(ctx, line, spec, t, direct);
    emit(ctx, line);
  }
}

// One line per (channels, size): the forward conv's median ms on the direct
// path and with each Winograd variant forced, batch 1, C -> C channels.
// 3x3 (padding 1): F(2x2,3x3) and F(4x4,3x3); 5x5 (padding 2): F(2x2,5x5),
// which either forced Winograd path takes for a 5x5 kernel.
// k x k convs, C -> C, padding k / 2, on every forced path (direct, then
// the two Winograd tiles: for 5x5 F(2x2,5x5) and F(4x4,5x5), for 5x5 stride 2
// the pixel phases with each 3x3 tile); S is the input side.
void bench_plan_grid(const Context& ctx, int64_t k, int64_t stride = 1) {
  const std::vector<int64_t> channels =
      k == 3 ? std::vector<int64_t>{8, 16, 32, 64, 128} : std::vector<int64_t>{3, 8, 16, 32, 64, 128};
  const std::vector<int64_t> sizes = ctx.quick    ? std::vector<int64_t>{16, 64}
                                     : stride == 1 ? std::vector<int64_t>{8, 16, 32, 64, 128}
                                                   : std::vector<int64_t>{32, 64, 128, 256};
  const std::vector<CpuConvPath> variants = {CpuConvPath::kDirect, CpuConvPath::kWinograd2, CpuConvPath::kWinograd4};
  const std::string grid = k == 3 ? "wino_plan" : stride == 1 ? "wino_plan_k5" : "wino_plan_k5s2";
  for (int64_t C : channels)
    for (int64_t S : sizes) {
      const std::string name = grid + "_c" + std::to_string(C) + "_s" + std::to_string(S);
      if (!selected(ctx, name)) continue;
      NoGradGuard no_grad;
      Generator gen(7);
      Tensor x = uniform({1, C, S, S}, gen, -1, 1), w = mul(uniform({C, C, k, k}, gen, -1, 1), 0.05);
      Tensor b = uniform({C}, gen);
      nlohmann::json line = {{"name", name}, {"cpu", paths::cpu_model()},
                             {"isa", paths::isa_name(paths::cpu_isa())}};
      const int repeats = repeats_for(ctx, 7);
      double best = 1e300;
      std::string best_path;
      const int64_t out = (S + 2 * (k / 2) - k) / stride + 1;
      const paths::ConvShape shape{1, C, S, S, C, k, stride, k / 2, 1, out, out};
      for (CpuConvPath path : variants) {
        ConvPathScope scope(path);
        const std::string taken = paths::conv_forward_path(shape), label = taken.substr(0, taken.find('/'));
        const double ms = time_ms([&] { Tensor y = conv2d(x, w, b, stride, k / 2); }, 2, repeats).median_ms;
        line[label + "_ms"] = ms;
        if (ms < best) best = ms, best_path = label;
      }
      line["ms"] = best;
      line["fastest"] = best_path;
      line["plan"] = paths::conv_forward_path(shape);
      emit(ctx, line);
    }
}

}  // namespace

DCSR_BENCH(conv) {
  for (const TableSize& size : table_sizes(ctx, "conv2d", kCPU)) {  // x (N, C, H, W), C -> C, 3x3, padding 1
    const std::vector<int64_t>& s = size.sizes;
    DCSR_CHECK(s.size() == 4 && s[0] == 1 && s[2] == s[3], "conv bench: the op table's conv2d bench size ",
               shape_str(s), " is not one square image (1, C, S, S), which this bench validates");
    bench_conv(ctx, s[1], s[2]);
  }
}

DCSR_BENCH(wino_plan) {
  // Only on request: dozens of timings that matter only when refitting the rule.
  if (ctx.filter.find("wino_plan") == std::string::npos) return;
  bench_plan_grid(ctx, 3);
  bench_plan_grid(ctx, 5);
  bench_plan_grid(ctx, 5, 2);
}

}  // namespace dcsr::bench
