// Conv benches (issue 3): conv2d 64 -> 64, 3x3, padding 1, bias, batch 1,
// float32, at 128x128 and 256x256; forward, and forward + backward (input,
// weight and bias gradients through autograd).
//
// Baselines measured in the same run, on a GEMM of the conv's shape
// (M = Cout = 64, K = Cin*9 = 576, N = H*W), operands already in memory:
//   gemm_raw        one gemm_raw call (Eigen, threaded by Eigen);
//   gemm_raw_split  the same with N split across our threads (each call single-threaded);
//   gemm_packed     the AVX-512 micro-kernel of packed_gemm.h on pre-packed operands, N split.
// "vs_gemm" is our GFLOP/s over the best of those (goal >= 0.6: what im2col,
// padding and chunking cost on top of the multiply). The PyTorch peer (F.conv2d,
// same thread count) runs twice: glibc's default allocator, and glibc told to
// keep freed blocks ("tuned"), which is what our caching allocator does.
// Besides the medians, lines carry the fastest run of each side and their
// ratio: on cores shared with other processes that is the steadier number.
#include <cmath>

#include "apps/bench/bench.h"
#include "autograd/ops.h"
#include "kernels/cpu/cpu_common.h"
#include "kernels/cpu/cpu_gemm.h"
#include "kernels/cpu/packed_gemm.h"
#include "runtime/allocator.h"
#include "tensor/random.h"

namespace dcsr::bench {

namespace {

constexpr int64_t kChannels = 64, kKernel = 3;

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
  const int64_t S = x.size(2);
  const float *px = x.data<float>(), *pw = w.data<float>(), *pb = b.data<float>(), *py = y.data<float>();
  for (int64_t probe = 0; probe < 16; ++probe) {
    const int64_t co = (probe * 37) % kChannels, i = (probe * 101) % S, j = (probe * 53 + 7 * probe * probe) % S;
    double want = pb[co];
    for (int64_t ci = 0; ci < kChannels; ++ci)
      for (int64_t ky = 0; ky < kKernel; ++ky)
        for (int64_t kx = 0; kx < kKernel; ++kx)
          want += double(pw[((co * kChannels + ci) * kKernel + ky) * kKernel + kx]) *
                  x_at(px, S, ci, i + ky - 1, j + kx - 1);
    check(near(py[(co * S + i) * S + j], want), name, "y");
  }
}

void validate_backward(const std::string& name, const Tensor& x, const Tensor& w, const Tensor& gy) {
  const int64_t S = x.size(2);
  const float *px = x.detach().data<float>(), *pw = w.detach().data<float>(), *pg = gy.data<float>();
  const float *dx = x.grad().data<float>(), *dw = w.grad().data<float>();
  for (int64_t probe = 0; probe < 4; ++probe) {
    // dx[ci][i][j] = sum over co, taps of w[co][ci][ky][kx] gy[co][i - ky + 1][j - kx + 1]
    const int64_t ci = (probe * 29) % kChannels, i = (probe * 71) % S, j = (probe * 13 + 5) % S;
    double want = 0;
    for (int64_t co = 0; co < kChannels; ++co)
      for (int64_t ky = 0; ky < kKernel; ++ky)
        for (int64_t kx = 0; kx < kKernel; ++kx)
          want += double(pw[((co * kChannels + ci) * kKernel + ky) * kKernel + kx]) *
                  x_at(pg, S, co, i - ky + 1, j - kx + 1);
    check(near(dx[(ci * S + i) * S + j], want), name, "dx");
    // dw[co][ci][ky][kx] = sum over pixels of gy[co][p] x[ci][p + tap - 1]
    const int64_t co = (probe * 17 + 3) % kChannels, ky = probe % 3, kx = (probe + 1) % 3;
    double want_w = 0;
    for (int64_t oy = 0; oy < S; ++oy)
      for (int64_t ox = 0; ox < S; ++ox)
        want_w += double(pg[(co * S + oy) * S + ox]) * x_at(px, S, ci, oy + ky - 1, ox + kx - 1);
    check(near(dw[((co * kChannels + ci) * kKernel + ky) * kKernel + kx], want_w), name, "dw");
  }
}

struct GemmBaselines {
  double raw_ms = 0, split_ms = 0, packed_ms = -1;
};

// The conv's GEMM, (64 x 576) @ (576 x N), on operands already in memory.
GemmBaselines time_gemm(const Context& ctx, int64_t N) {
  const int64_t M = kChannels, K = kChannels * kKernel * kKernel;
  Generator gen(5);
  Tensor a = uniform({M, K}, gen, -1, 1), b = uniform({K, N}, gen, -1, 1), c = empty({M, N});
  const float *pa = a.data<float>(), *pb = b.data<float>();
  float* pc = c.data<float>();
  const int repeats = repeats_for(ctx, 9);
  GemmBaselines out;
  out.raw_ms = time_ms([&] { kernels::cpu::gemm_raw<float>(pa, K, pb, N, pc, N, M, N, K, false, false, 1.f, 0.f); }, 2,
                       repeats)
                   .median_ms;
  constexpr int64_t kColumns = 480;  // per single-threaded call, as the conv's chunks
  out.split_ms = time_ms(
                     [&] {
                       parallel_for((N + kColumns - 1) / kColumns, 1, [&](int64_t begin, int64_t end) {
                         for (int64_t t = begin; t < end; ++t) {
                           const int64_t n0 = t * kColumns, n = std::min(kColumns, N - n0);
                           kernels::cpu::gemm_raw<float>(pa, K, pb + n0, N, pc + n0, N, M, n, K, false, false, 1.f,
                                                         0.f);
                         }
                       });
                     },
                     2, repeats)
                     .median_ms;
#ifdef DCSR_PACKED_GEMM
  namespace packed = kernels::cpu::packed;
  Tensor ap = empty({packed::a_size(M, K)}), bp = empty({packed::b_size(N, K)});
  packed::pack_a(pa, K, M, K, false, ap.data<float>());
  packed::pack_b(pb, N, K, N, bp.data<float>());
  out.packed_ms = time_ms(
                      [&] {
                        parallel_for((N + kColumns - 1) / kColumns, 1, [&](int64_t begin, int64_t end) {
                          for (int64_t t = begin; t < end; ++t) {
                            const int64_t n0 = t * kColumns, n = std::min(kColumns, N - n0);
                            packed::gemm(M, n, K, ap.data<float>(), bp.data<float>() + n0 * K, pc + n0, N, false,
                                         nullptr);
                          }
                        });
                      },
                      2, repeats)
                      .median_ms;
#endif
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

// The peer's median and minimum, each way (see the file comment).
void add_torch(const Context& ctx, nlohmann::json& line, nlohmann::json spec, const Timing& ours) {
  bool any = false;
  for (bool tuned : {false, true}) {
    for (const nlohmann::json& peer : run_peer(ctx, spec, tuned)) {
      if (!peer.contains("ms")) continue;
      const std::string key = tuned ? "torch_tuned_malloc" : "torch";
      const double ms = peer["ms"].get<double>();
      line[key + "_ms"] = ms;
      line["time_ratio_vs_" + key] = ours.median_ms / ms;
      if (peer.contains("min_ms")) {
        line[key + "_min_ms"] = peer["min_ms"];
        line["min_time_ratio_vs_" + key] = ours.min_ms / peer["min_ms"].get<double>();
      }
      any = true;
      break;
    }
  }
  if (any) {
    line["goal_time_ratio_vs_torch"] = 1.0;
    line["torch_note"] =
        "torch_*: glibc's default allocator; torch_tuned_malloc_*: MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ "
        "raised so freed buffers stay in the process; min_time_ratio_*: fastest run against fastest run, the "
        "comparison least disturbed by other processes on shared cores";
  } else {
    line["torch"] = "skipped (no python with torch)";
  }
}

void bench_conv(const Context& ctx, int64_t S) {
  const std::string shape = "conv2d_64x64_k3_" + std::to_string(S);
  const std::string fwd_name = shape + "_fwd", step_name = shape + "_fwd_bwd";
  const bool want_fwd = selected(ctx, fwd_name), want_step = selected(ctx, step_name);
  if (!want_fwd && !want_step) return;
  Generator gen(3);
  Tensor x = uniform({1, kChannels, S, S}, gen, -1, 1);
  Tensor w = mul(uniform({kChannels, kChannels, kKernel, kKernel}, gen, -1, 1), 0.05);
  Tensor b = uniform({kChannels}, gen);
  const double flop = 2.0 * double(kChannels * kChannels * kKernel * kKernel) * double(S * S);
  const GemmBaselines gemm = time_gemm(ctx, S * S);
  allocator_empty_cache(kCPU);  // the baselines' big operands should not count in the conv's peak RSS
  const int repeats = repeats_for(ctx, 9);
  nlohmann::json spec = {{"op", "conv2d"}, {"channels", kChannels}, {"size", S}, {"k", kKernel}};

  if (want_fwd) {
    NoGradGuard no_grad;
    validate_forward(fwd_name, x, w, b, conv2d(x, w, b));
    reset_peak_rss();
    Timing t = time_ms([&] { Tensor y = conv2d(x, w, b); }, 2, repeats);
    nlohmann::json line = {{"name", fwd_name}, {"ms", t.median_ms}, {"min_ms", t.min_ms},
                           {"gflops", flop / t.median_ms / 1e6}, {"peak_rss_mb", peak_rss_mb()}};
    add_gemm_ratios(line, gemm, flop, 1.0, t.median_ms);
    add_torch(ctx, line, spec, t);
    emit(ctx, line);
  }
  if (want_step) {
    Tensor xg = x.detach().requires_grad_(), wg = w.detach().requires_grad_(), bg = b.detach().requires_grad_();
    Tensor gy = uniform({1, kChannels, S, S}, gen);
    auto step = [&] {
      xg.zero_grad();
      wg.zero_grad();
      bg.zero_grad();
      conv2d(xg, wg, bg).backward(gy);
    };
    step();
    validate_backward(step_name, xg, wg, gy);
    reset_peak_rss();
    Timing t = time_ms(step, 2, repeats);
    nlohmann::json line = {{"name", step_name}, {"ms", t.median_ms}, {"min_ms", t.min_ms},
                           {"gflops", 3.0 * flop / t.median_ms / 1e6}, {"peak_rss_mb", peak_rss_mb()},
                           {"note", "gflops counts three GEMM-sized products: forward, input and weight gradients"}};
    add_gemm_ratios(line, gemm, flop, 3.0, t.median_ms);
    spec["backward"] = true;
    add_torch(ctx, line, spec, t);
    emit(ctx, line);
  }
}

}  // namespace

DCSR_BENCH(conv) {
  bench_conv(ctx, 128);
  if (!ctx.quick) bench_conv(ctx, 256);
}

}  // namespace dcsr::bench
