// GPU benches: our CUDA ops against the device's own ceilings measured in the
// same run (a device-to-device cudaMemcpy for memory-bound ops, cuBLAS SGEMM
// called directly on the same buffers for GEMM-shaped ones) and, where a
// python with a CUDA torch is found, against PyTorch on the same GPU (TF32
// off on both sides). Every result is checked before it is timed; times are
// medians of CUDA-event measurements after warm-up.
//
// Without a GPU (or in a build without CUDA) the group prints one line saying
// it was skipped.
#include <algorithm>
#include <cmath>
#include <functional>

#include "apps/bench/bench.h"
#include "apps/bench/model_workload.h"
#include "apps/bench/table_sizes.h"
#include "autograd/ops.h"
#include "kernels/cpu_paths.h"
#include "kernels/cuda_baselines.h"
#include "kernels/cuda_paths.h"
#include "kernels/tf32_bound.h"
#include "runtime/device.h"
#include "runtime/switches.h"
#include "runtime/allocator.h"
#include "tensor/random.h"

#ifdef DCSR_HAVE_CUDA
#include <cuda_runtime.h>

#include "runtime/cuda_check.h"
#endif

namespace dcsr::bench {

#ifdef DCSR_HAVE_CUDA
namespace {

namespace baselines = kernels::cuda_baselines;

// Median (and minimum) of CUDA-event times over `repeats` runs after `warmup` runs.
Timing gpu_time_ms(const std::function<void()>& fn, int warmup, int repeats) {
  const std::vector<double> times = baselines::event_times_ms(fn, warmup, repeats);
  return {times[times.size() / 2], times[0], repeats};
}

// The copy ceiling: GB/s of a device-to-device cudaMemcpy, bytes read + written.
double memcpy_gbps(const Context& ctx, int64_t n) {
  Tensor src = full({n}, 1.0, kFloat32, kCUDA), dst = empty({n}, kFloat32, kCUDA);
  Timing t = gpu_time_ms(
      [&] {
        DCSR_CUDA_CHECK(cudaMemcpyAsync(dst.raw_data(), src.raw_data(), dst.nbytes(), cudaMemcpyDeviceToDevice, 0));
      },
      3, repeats_for(ctx, 15));
  return 2.0 * double(dst.nbytes()) / t.median_ms / 1e6;
}

// add and/or sum of n float32 elements against the copy ceiling at the same size.
void bench_memory_bound(const Context& ctx, int64_t n, bool with_add, bool with_sum) {
  const double copy = memcpy_gbps(ctx, n);
  emit(ctx, {{"name", "cuda_memcpy_d2d_f32_" + std::to_string(n)},
             {"gbps", copy},
             {"note", "device-to-device cudaMemcpy, bytes read + written: the memory ceiling"}});
  NoGradGuard no_grad;
  Generator gen(3);
  Tensor a = uniform({n}, gen, 1, 2, kFloat32, kCUDA), b = uniform({n}, gen, 1, 2, kFloat32, kCUDA);
  const int repeats = repeats_for(ctx, 15);
  if (with_add && selected(ctx, "cuda_add_f32")) {
    Tensor c = add(a, b);
    DCSR_CHECK(max_rel_diff(narrow(c, 0, n - 1000, 1000),
                            add(narrow(a, 0, n - 1000, 1000).to(kCPU), narrow(b, 0, n - 1000, 1000).to(kCPU))) == 0.0,
               "cuda_add_f32: wrong result");
    Timing t = gpu_time_ms([&] { Tensor out = add(a, b); }, 3, repeats);
    const double gbps = 3.0 * 4.0 * double(n) / t.median_ms / 1e6;
    emit(ctx, {{"name", "cuda_add_f32_" + std::to_string(n)},
               {"ms", t.median_ms},
               {"gbps", gbps},
               {"vs_memcpy", gbps / copy},
               {"goal_vs_memcpy", 0.8},
               {"note", "2 reads + 1 write per element"}});
  }
  if (with_sum && selected(ctx, "cuda_sum_f32")) {
    const double expect = sum(a.to(kCPU)).item();
    DCSR_CHECK(std::abs(sum(a).item() - expect) <= 1e-6 * std::abs(expect), "cuda_sum_f32: wrong result");
    Timing t = gpu_time_ms([&] { Tensor s = sum(a); }, 3, repeats);
    const double gbps = 4.0 * double(n) / t.median_ms / 1e6;
    emit(ctx, {{"name", "cuda_sum_f32_" + std::to_string(n)},
               {"ms", t.median_ms},
               {"gbps", gbps},
               {"vs_memcpy", gbps / copy},
               {"goal_vs_memcpy", 0.8},
               {"note", "1 read per element; memcpy counts read + write"}});
  }
}

// Our matmul against cublasSgemm on the same buffers (and PyTorch).
// trans_a stores A as (K, M): the layout of the matching product K^T Q.
void bench_matmul(const Context& ctx, const std::string& label, int64_t M, int64_t N, int64_t K, bool trans_a) {
  const std::string name = "cuda_matmul_f32_" + label;
  if (!selected(ctx, name)) return;
  NoGradGuard no_grad;
  Generator gen(4);
  Tensor a = uniform(trans_a ? Shape{K, M} : Shape{M, K}, gen, -1, 1, kFloat32, kCUDA);
  Tensor b = uniform({K, N}, gen, -1, 1, kFloat32, kCUDA);
  Tensor c_raw = empty({M, N}, kFloat32, kCUDA);
  baselines::SgemmArgs gemm;  // C (M x N) = op(A) B, one cublasSgemm call
  gemm.a = a.data<float>(), gemm.b = b.data<float>(), gemm.c = c_raw.data<float>();
  gemm.M = M, gemm.N = N, gemm.K = K, gemm.trans_a = trans_a;
  auto raw = [&] { baselines::sgemm(gemm); };
  raw();
  Tensor ours_out = matmul(a, b, trans_a, false);
  DCSR_CHECK(max_rel_diff(ours_out, c_raw) < 1e-4, name, ": our matmul disagrees with cuBLAS");
  const int repeats = repeats_for(ctx, 15);
  Timing ours = gpu_time_ms([&] { Tensor c = matmul(a, b, trans_a, false); }, 3, repeats);
  Timing base = gpu_time_ms(raw, 3, repeats);
  const double flop = 2.0 * double(M) * double(N) * double(K);
  nlohmann::json line = {{"name", name},
                         {"ms", ours.median_ms},
                         {"tflops", flop / ours.median_ms / 1e9},
                         {"baseline", "cublasSgemm on the same buffers"},
                         {"baseline_ms", base.median_ms},
                         {"vs_cublas_sgemm", base.median_ms / ours.median_ms},
                         {"goal_vs_cublas_sgemm", 0.95},
                         {"tf32", runtime::cuda_tf32()}};
  add_torch_peer(ctx, line, {{"op", "cuda_matmul"}, {"m", M}, {"n", N}, {"k", K}}, false, ours.median_ms);
  emit(ctx, line);
}

// conv2d 3x3, padding 1, against cuBLAS SGEMM on the equivalent GEMM
// (W (Cout x 9 Cin) . cols (9 Cin x H W) per image) and PyTorch (cuDNN).
// Forward alone, and a training step's forward + both gradients.
void bench_conv2d(const Context& ctx, int64_t N, int64_t C, int64_t H, int64_t W) {
  const std::string base = "cuda_conv2d_f32_" + std::to_string(N) + "x" + std::to_string(C) + "x" + std::to_string(H) +
                           "x" + std::to_string(W) + "_3x3";
  if (!selected(ctx, base)) return;
  Generator gen(5);
  Tensor x = uniform({N, C, H, W}, gen, -1, 1, kFloat32), w = uniform({C, C, 3, 3}, gen, -0.1, 0.1, kFloat32);
  Tensor b = uniform({C}, gen, -0.1, 0.1, kFloat32);
  Tensor dx = x.to(kCUDA), dw = w.to(kCUDA), db = b.to(kCUDA);
  {
    // Against the CPU's direct path, whose sums round as the GPU's do; the CPU's
    // Winograd path adds its transforms' float32 error, which a 1e-3 relative
    // bound on near-zero outputs does not allow (tests/test_winograd.cpp bounds it).
    NoGradGuard no_grad;
    kernels::cpu_paths::set_cpu_conv_path(kernels::cpu_paths::CpuConvPath::kDirect);
    const Tensor cpu = conv2d(x, w, b, 1, 1);
    kernels::cpu_paths::reset_cpu_conv_path();
    const Tensor gpu = conv2d(dx, dw, db, 1, 1).to(kCPU);
    if (!runtime::cuda_tf32()) {
      DCSR_CHECK(max_rel_diff(gpu, cpu) < 1e-3, base, ": CUDA conv2d disagrees with the CPU");
    } else {
      // TF32 (DCSR_TF32=1): operands rounded to 10-bit mantissas, so a relative
      // bound fails on outputs near zero (it did, on an H100). TF32's bound
      // instead (kernels/tf32_bound.h), per output, against this float32 CPU
      // reference.
      const Tensor magnitude = conv2d(abs(x), abs(w), abs(b), 1, 1);
      const double per_unit = kernels::tf32_error_per_magnitude(double(9 * C), /*float32_reference=*/true);
      const std::vector<float> g = gpu.to_vector<float>(), c = cpu.to_vector<float>(), m = magnitude.to_vector<float>();
      for (size_t i = 0; i < g.size(); ++i)
        DCSR_CHECK(std::abs(double(g[i]) - double(c[i])) <= per_unit * double(m[i]), base,
                   ": CUDA conv2d (TF32) is outside TF32's error bound at output ", i);
    }
  }
  const int64_t K = 9 * C, P = H * W;
  const double flop = 2.0 * double(N) * double(C) * double(P) * double(K);
  Tensor cols = uniform({N, K, P}, gen, -1, 1, kFloat32, kCUDA), y = empty({N, C, H, W}, kFloat32, kCUDA);
  // Per image: y (C x P) = W (C x K) . cols (K x P), the same W for every image.
  baselines::SgemmArgs equivalent;
  equivalent.a = dw.data<float>(), equivalent.b = cols.data<float>(), equivalent.c = y.data<float>();
  equivalent.M = C, equivalent.N = P, equivalent.K = K;
  equivalent.batched = true, equivalent.batch = N;
  equivalent.stride_a = 0, equivalent.stride_b = K * P, equivalent.stride_c = C * P;
  const int repeats = repeats_for(ctx, 15);
  Timing gemm = gpu_time_ms([&] { baselines::sgemm(equivalent); }, 3, repeats);
  cols = Tensor();
  Timing fwd;
  {
    NoGradGuard no_grad;
    fwd = gpu_time_ms([&] { Tensor out = conv2d(dx, dw, db, 1, 1); }, 3, repeats);
  }
  nlohmann::json line = {{"name", base + "_forward"},
                         {"ms", fwd.median_ms},
                         {"tflops", flop / fwd.median_ms / 1e9},
                         {"baseline", "cuBLAS SGEMM on the equivalent GEMM (random columns)"},
                         {"baseline_ms", gemm.median_ms},
                         {"vs_equivalent_gemm", gemm.median_ms / fwd.median_ms},
                         {"goal_vs_equivalent_gemm", 0.7},
                         {"conv_path", runtime::conv_path_name(runtime::cuda_conv_path())},
                         {"tf32", runtime::cuda_tf32()}};
  const nlohmann::json spec = {{"op", "cuda_conv2d"}, {"n", N}, {"cin", C}, {"cout", C}, {"h", H}, {"w", W}, {"k", 3}};
  add_torch_peer(ctx, line, spec, false, fwd.median_ms);
  emit(ctx, line);
  // A training step's share: forward, then the gradients of input, weight and bias.
  Tensor lx = dx.detach().requires_grad_(), lw = dw.detach().requires_grad_(), lb = db.detach().requires_grad_();
  Tensor seed = ones({N, C, H, W}, kFloat32, kCUDA);
  Timing step = gpu_time_ms(
      [&] {
        lx.zero_grad();
        lw.zero_grad();
        lb.zero_grad();
        conv2d(lx, lw, lb, 1, 1).backward(seed);
      },
      3, repeats);
  nlohmann::json step_line = {{"name", base + "_forward_backward"},
                              {"ms", step.median_ms},
                              {"tflops", 3.0 * flop / step.median_ms / 1e9},
                              {"baseline_ms", 3.0 * gemm.median_ms},
                              {"vs_equivalent_gemm", 3.0 * gemm.median_ms / step.median_ms},
                              {"note", "three GEMM-sized products: forward, input and weight gradients"}};
  nlohmann::json bspec = spec;
  bspec["backward"] = true;
  add_torch_peer(ctx, step_line, bspec, false, step.median_ms);
  emit(ctx, step_line);
}

// Patch matching (fused tiled max/argmax) against cuBLAS SGEMM computing the
// same scores (without the reduction); goal >= 50% of its throughput.
void bench_max_cosine(const Context& ctx, int64_t N, int64_t D, int64_t Nq, int64_t Nk) {
  const std::string name = "cuda_max_cosine_f32_" + std::to_string(N) + "x" + std::to_string(D) + "x" +
                           std::to_string(Nq) + "x" + std::to_string(Nk);
  if (!selected(ctx, name)) return;
  NoGradGuard no_grad;
  Generator gen(6);
  Tensor q = uniform({N, D, Nq}, gen, -1, 1, kFloat32), k = uniform({N, D, Nk}, gen, -1, 1, kFloat32);
  Tensor dq = q.to(kCUDA), dk = k.to(kCUDA);
  MatchResult ours = max_cosine(dq, dk), ref = max_cosine(q, k);
  DCSR_CHECK(max_rel_diff(ours.confidence, ref.confidence) < 1e-4, name, ": CUDA matching disagrees with the CPU");
  Tensor scores = empty({N, Nk, Nq}, kFloat32, kCUDA);
  const int repeats = repeats_for(ctx, 15);
  // Per batch entry: scores (Nk x Nq) = K^T (Nk x D, K stored D x Nk) . Q (D x Nq).
  baselines::SgemmArgs scores_gemm;
  scores_gemm.a = dk.data<float>(), scores_gemm.b = dq.data<float>(), scores_gemm.c = scores.data<float>();
  scores_gemm.M = Nk, scores_gemm.N = Nq, scores_gemm.K = D, scores_gemm.trans_a = true;
  scores_gemm.batched = true, scores_gemm.batch = N;
  scores_gemm.stride_a = D * Nk, scores_gemm.stride_b = D * Nq, scores_gemm.stride_c = Nk * Nq;
  Timing gemm = gpu_time_ms([&] { baselines::sgemm(scores_gemm); }, 3, repeats);
  scores = Tensor();
  Timing t = gpu_time_ms([&] { MatchResult m = max_cosine(dq, dk); }, 3, repeats);
  const double flop = 2.0 * double(N) * double(D) * double(Nq) * double(Nk);
  nlohmann::json line = {{"name", name},
                         {"ms", t.median_ms},
                         {"tflops", flop / t.median_ms / 1e9},
                         {"baseline", "cuBLAS SGEMM of the same scores (no reduction, Nq x Nk written)"},
                         {"baseline_ms", gemm.median_ms},
                         {"vs_cublas_sgemm", gemm.median_ms / t.median_ms},
                         {"goal_vs_cublas_sgemm", 0.5},
                         {"index_equal_to_cpu", ours.index.to_vector<int64_t>() == ref.index.to_vector<int64_t>()}};
  // The exact TF32 path (DCSR_CUDA_MATCH=tf32) in the same run: its time, and
  // whether it gives the float32 sweep's values and indices bit for bit.
  {
    struct PathGuard {
      runtime::CudaMatchPath before = runtime::cuda_match_path();
      ~PathGuard() { runtime::set_cuda_match_path(before); }
    } guard;
    runtime::set_cuda_match_path(runtime::CudaMatchPath::kFloat32);
    const MatchResult f32 = max_cosine(dq, dk);
    runtime::set_cuda_match_path(runtime::CudaMatchPath::kTf32);
    kernels::cuda_paths::reset_tf32_match_stats();
    const MatchResult tf32 = max_cosine(dq, dk);
    const kernels::cuda_paths::Tf32MatchStats st = kernels::cuda_paths::tf32_match_stats();
    const Timing tt = gpu_time_ms([&] { MatchResult m = max_cosine(dq, dk); }, 3, repeats);
    line["tf32_exact_ms"] = tt.median_ms;
    line["tf32_exact_time_ratio_vs_float32"] = tt.median_ms / t.median_ms;  // a time ratio: < 1 is faster
    line["tf32_exact_bit_identical"] = tf32.index.to_vector<int64_t>() == f32.index.to_vector<int64_t>() &&
                                       tf32.confidence.to_vector<float>() == f32.confidence.to_vector<float>();
    line["tf32_rescored_per_query"] = double(st.rescored) / double(std::max<int64_t>(1, st.queries));
    line["tf32_fallback_share"] = double(st.fallbacks) / double(std::max<int64_t>(1, st.queries + st.fallbacks));
  }
  emit(ctx, line);
}

// Patch matching from the feature maps, as the model calls it
// (patch_max_cosine): one image's (C, Hq, Wq) query map and (C, Hk, Wk) key
// map, the descriptors made once. The float32 descriptor sweep against the
// map path (DCSR_CUDA_MATCH=map: TF32 pixel products, exact re-scoring) in
// the same run: both times, whether the map path's values and indices are the
// sweep's bit for bit, and its candidates re-scored per query and fallbacks.
void bench_patch_match_map(const Context& ctx, int64_t C, int64_t Hq, int64_t Wq, int64_t Hk, int64_t Wk) {
  const std::string name = "cuda_patch_match_map_" + std::to_string(C) + "x" + std::to_string(Hq) + "x" +
                           std::to_string(Wq) + "_vs_" + std::to_string(Hk) + "x" + std::to_string(Wk);
  if (!selected(ctx, name)) return;
  NoGradGuard no_grad;
  struct PathGuard {
    runtime::CudaMatchPath before = runtime::cuda_match_path();
    ~PathGuard() { runtime::set_cuda_match_path(before); }
  } guard;
  Generator gen(7);
  // Non-negative features, as the matching extractor's last LeakyReLU leaves them mostly.
  const Tensor fq = relu(normal({1, C, Hq, Wq}, gen, 0.0, 1.0, kFloat32)).to(kCUDA);
  const Tensor fk = relu(normal({1, C, Hk, Wk}, gen, 0.0, 1.0, kFloat32)).to(kCUDA);
  const Tensor q = patch_descriptors(fq), k = patch_descriptors(fk);
  const int64_t Nq = Hq * Wq, workspace = match_tile_limit();
  Tensor conf = empty({1, Nq}, kFloat32, kCUDA), index = empty({1, Nq}, kInt64, kCUDA);
  auto run = [&](runtime::CudaMatchPath path) {
    runtime::set_cuda_match_path(path);
    kernels::patch_max_cosine(fq, fk, q, k, conf, index, workspace);
    return std::make_pair(conf.to_vector<float>(), index.to_vector<int64_t>());
  };
  const int repeats = repeats_for(ctx, 15);
  const auto f32 = run(runtime::CudaMatchPath::kFloat32);
  const Timing t32 = gpu_time_ms([&] { kernels::patch_max_cosine(fq, fk, q, k, conf, index, workspace); }, 3, repeats);
  kernels::cuda_paths::reset_map_match_stats();
  const auto map = run(runtime::CudaMatchPath::kMap);
  const kernels::cuda_paths::ExactMatchStats st = kernels::cuda_paths::map_match_stats();
  const Timing tm = gpu_time_ms([&] { kernels::patch_max_cosine(fq, fk, q, k, conf, index, workspace); }, 3, repeats);
  emit(ctx, {{"name", name},
             {"ms", tm.median_ms},
             {"baseline", "the float32 descriptor sweep (DCSR_CUDA_MATCH=float32) on the same descriptors"},
             {"baseline_ms", t32.median_ms},
             {"time_ratio_vs_float32", tm.median_ms / t32.median_ms},  // < 1 is faster
             {"bit_identical", map == f32},
             {"rescored_per_query", double(st.rescored) / double(std::max<int64_t>(1, st.queries))},
             {"fallback_share", double(st.fallbacks) / double(std::max<int64_t>(1, st.queries + st.fallbacks))},
             {"declined", st.declined}});
}

// The DCSR workloads of the model benches (model_workload.h: a training step
// at LR 128x128, Ref 256x256, batch 1, n_feats 64 with forward + loss +
// backward + Adam, and the 4K-mode tile inference) on the GPU, against
// PyTorch running the reference model (tests/reference/dcsr_ref.py) on the
// same GPU. A training line also says how many blocks the CUDA caching pool
// had to cudaMalloc during the timed steps (0 in a steady state) and its
// peak of live bytes.
void bench_model(const Context& ctx, const std::string& variant) {
  const std::string name = "cuda_" + model_workload_name(variant);
  if (!selected(ctx, name)) return;
  ModelWorkload w = make_model_workload(variant, kCUDA);
  const bool training = variant != "infer_tile";
  w.check();  // validation and warm-up (fills the caching pool)
  if (training) allocator_reset_peak(kCUDA);
  const int64_t mallocs = allocator_stats(kCUDA).system_allocs;
  Timing t = gpu_time_ms(w.run, 1, ctx.quick ? 3 : 5);
  nlohmann::json line = {
      {"name", name}, {"ms", t.median_ms}, {"conv_path", runtime::conv_path_name(runtime::cuda_conv_path())}};
  line.update(w.info);
  if (training) {
    line["cuda_mallocs_in_timed_steps"] = allocator_stats(kCUDA).system_allocs - mallocs;
    line["peak_device_tensors_mb"] = double(allocator_stats(kCUDA).peak_bytes_in_use) / 1048576.0;
  } else {
    line["gmac_per_s"] = w.info["forward_gmac"].get<double>() / (t.median_ms / 1e3);
  }
  nlohmann::json spec = w.peer_spec;  // the same work, run by the GPU peer
  spec["op"] = "cuda_" + spec["op"].get<std::string>();
  if (add_torch_peer(ctx, line, spec, false, t.median_ms) <= 0 && training)
    line["torch"] = "skipped (no python with a CUDA torch, or the peer failed)";
  emit(ctx, line);
}

// Runs one bench; a failure (a wrong result, a CUDA error) becomes a JSON
// line and the next bench still runs.
void guarded(const Context& ctx, const std::string& what, const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    emit(ctx, {{"name", what}, {"error", e.what()}});
  }
}

}  // namespace
#endif

DCSR_BENCH(cuda) {
  if (!runtime::cuda_available()) {
    emit(ctx, {{"name", "cuda"}, {"skipped", "no GPU: " + runtime::cuda_unavailable_reason()}});
    return;
  }
#ifdef DCSR_HAVE_CUDA
  // The ops' sizes are the op table's (apps/bench/table_sizes.h; the rows say what they mean).
  std::vector<int64_t> add_sizes, sum_sizes, memory_sizes;  // elements
  for (const TableSize& size : table_sizes(ctx, "add", kCUDA)) add_sizes.push_back(size.sizes.at(0));
  for (const TableSize& size : table_sizes(ctx, "sum", kCUDA)) sum_sizes.push_back(size.sizes.at(0));
  memory_sizes = add_sizes;
  memory_sizes.insert(memory_sizes.end(), sum_sizes.begin(), sum_sizes.end());
  std::sort(memory_sizes.begin(), memory_sizes.end());
  memory_sizes.erase(std::unique(memory_sizes.begin(), memory_sizes.end()), memory_sizes.end());
  auto has = [](const std::vector<int64_t>& v, int64_t n) { return std::find(v.begin(), v.end(), n) != v.end(); };
  for (int64_t n : memory_sizes)
    guarded(ctx, "cuda_memory_bound", [&] { bench_memory_bound(ctx, n, has(add_sizes, n), has(sum_sizes, n)); });
  for (const TableSize& size : table_sizes(ctx, "matmul", kCUDA)) {
    const std::vector<int64_t>& s = size.sizes;
    if (s.size() == 1) {  // n x n x n
      const std::string n = std::to_string(s[0]);
      guarded(ctx, "cuda_matmul_f32_" + n, [&] { bench_matmul(ctx, n, s[0], s[0], s[0], false); });
    } else {  // (M, N, K, A stored transposed), named by the label's part
      const std::string label = size.part + "_" + std::to_string(s.at(0)) + "x" + std::to_string(s.at(1)) + "x" +
                                std::to_string(s.at(2));
      guarded(ctx, "cuda_matmul_f32_" + size.part, [&] { bench_matmul(ctx, label, s[0], s[1], s[2], s.at(3) != 0); });
    }
  }
  for (const TableSize& size : table_sizes(ctx, "conv2d", kCUDA)) {  // x (N, C, H, W), C -> C, 3x3, padding 1
    const std::vector<int64_t>& s = size.sizes;
    guarded(ctx, "cuda_conv2d_f32_" + std::to_string(s.at(2)), [&] { bench_conv2d(ctx, s[0], s[1], s[2], s.at(3)); });
  }
  for (const TableSize& size : table_sizes(ctx, "max_cosine", kCUDA)) {  // (N, D, queries, keys)
    const std::vector<int64_t>& s = size.sizes;
    guarded(ctx, "cuda_max_cosine", [&] { bench_max_cosine(ctx, s.at(0), s.at(1), s.at(2), s.at(3)); });
  }
  // The 4K-mode tile's matching (LR 166^2 against the Ref window's 176^2 at
  // LR scale, 16 channels) and a training-size one.
  guarded(ctx, "cuda_patch_match_map", [&] { bench_patch_match_map(ctx, 16, 166, 166, 176, 176); });
  guarded(ctx, "cuda_patch_match_map", [&] { bench_patch_match_map(ctx, 16, 64, 64, 128, 128); });
  guarded(ctx, "cuda_dcsr_train_step_l1", [&] { bench_model(ctx, "train_l1"); });
  guarded(ctx, "cuda_dcsr_train_step_cx_vgg", [&] { bench_model(ctx, "train_cx_vgg"); });
  guarded(ctx, "cuda_dcsr_infer", [&] { bench_model(ctx, "infer_tile"); });
#endif
}

}  // namespace dcsr::bench
