// The core CUDA kernels against the CPU backend, float32 (tests/cuda_parity.h),
// where a check is not one op's parity: casts, the accuracy of long sums, NaN
// in max, the GEMM kernel's alpha and beta, TF32, the raw scatter kernels with
// heavy collisions, the optimiser, the allocator, and one tensor past 2^31
// elements for the 64-bit index math. Every test is skipped without a GPU.
// Each differentiable op's parity, forward and backward, runs from the op
// table (tests/op_rows_core.h, driven by tests/test_op_table.cpp).
#include <cmath>

#include "cuda_parity.h"
#include "kernels/kernels.h"
#include "runtime/allocator.h"
#include "runtime/switches.h"

using namespace dcsr;
using test::f32;
using test::one;
using test::require_close;
using test::require_parity;

namespace {
// int64 CPU tensor, uniform in [low, high).
Tensor ints(const Shape& shape, uint64_t seed, int64_t low, int64_t high) {
  Generator gen(seed);
  std::vector<int64_t> v(size_t(shape_numel(shape)));
  for (int64_t& x : v) x = gen.randint(low, high);
  return from_vector(v, shape);
}

// "Exact" comparisons: require_close needs a nonzero tolerance (it divides by
// it), and 1e-12 is far below any float32 difference at the magnitudes used.
constexpr double kExact = 1e-12;
}  // namespace

// ---------------------------------------------------------------- casts

TEST_CASE("cuda: fill and cast between every dtype pair", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  for (DType dtype : {kFloat32, kFloat64, kInt64}) {
    Tensor t = full({1000003}, 2.0, dtype, kCUDA);  // not a multiple of the block
    std::vector<double> v = t.to_vector<double>();
    CHECK(std::all_of(v.begin(), v.end(), [](double x) { return x == 2.0; }));
  }
  // Values with fractions and signs: float -> int64 truncates toward zero on both devices.
  Generator gen(3);
  Tensor x32 = uniform({70001}, gen, -100.0, 100.0, kFloat32);
  for (DType from : {kFloat32, kFloat64, kInt64}) {
    Tensor src_cpu = empty(x32.shape(), from);
    kernels::cast(x32, src_cpu);
    Tensor src_cuda = src_cpu.to(kCUDA);
    for (DType to : {kFloat32, kFloat64, kInt64}) {
      INFO(dtype_name(from) << " -> " << dtype_name(to));
      Tensor dst_cpu = empty(x32.shape(), to), dst_cuda = empty(x32.shape(), to, kCUDA);
      kernels::cast(src_cpu, dst_cpu);
      kernels::cast(src_cuda, dst_cuda);
      require_close(dst_cuda, dst_cpu, kExact, 0.0);  // conversions are exact or identically rounded
    }
  }
  // The differentiable Tensor::to(dtype) on the device.
  require_parity("to float64 and back", one([](const Tensor& x) { return x.to(kFloat64).to(kFloat32); }),
                 {f32({3, 7}, 4)});
}

// ---------------------------------------------------------------- reductions

TEST_CASE("cuda: a float32 sum of 10^6 terms carries only the final rounding", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  Generator gen(5);
  Tensor x = uniform({1000000}, gen, 0.0, 1.0, kFloat32);
  double exact = 0.0;  // the float32 values summed in double: exact to ~1e-16 relative
  for (double v : x.to_vector<double>()) exact += v;
  // One rounding of the double result to float32: relative error <= 2^-24.
  require_close(sum(x.to(kCUDA)), {exact}, 0.0, 6.0e-8, "sum of 1e6 uniform(0,1) float32");
  Tensor rows = x.reshape({1000, 1000}).to(kCUDA);
  require_close(sum(rows, {0}), sum(x.reshape({1000, 1000}).to(kFloat64), {0}).to_vector<double>(), 0.0, 6.0e-8,
                "column sums of (1000, 1000)");
}

TEST_CASE("cuda: max with NaN picks the first NaN, as the CPU", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  const float nan = std::nanf("");
  std::vector<float> v = {1, nan, 3, nan, 0, 5, 5, 2, 9, 9, 1, 1, nan, 0, 0, 0};
  for (int64_t dim : {0, 1}) {
    Tensor x = from_vector(v, {4, 4});
    ValuesIndices cpu = max(x, dim), gpu = max(x.to(kCUDA), dim);
    CHECK(gpu.indices.to_vector<int64_t>() == cpu.indices.to_vector<int64_t>());
    std::vector<double> a = gpu.values.to_vector<double>(), b = cpu.values.to_vector<double>();
    for (size_t i = 0; i < a.size(); ++i) CHECK((std::isnan(a[i]) ? std::isnan(b[i]) : a[i] == b[i]));
  }
}

// ---------------------------------------------------------------- GEMM

TEST_CASE("cuda: gemm kernel with alpha, beta and an empty inner dim", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  for (int64_t K : {0, 19}) {
    for (double beta : {0.0, 2.0}) {
      INFO("K " << K << " beta " << beta);
      Tensor a = f32({2, 13, K}, 61).detach(), b = f32({K, 11}, 62).detach(), c = f32({2, 13, 11}, 63).detach();
      Tensor c_cuda = c.to(kCUDA);
      kernels::gemm(a, b, c, false, false, 0.5, beta);
      kernels::gemm(a.to(kCUDA), b.to(kCUDA), c_cuda, false, false, 0.5, beta);
      require_close(c_cuda, c, 1e-5, 1e-5, "gemm alpha 0.5");
    }
  }
  // beta = 0 must not read C: NaN there stays out of the result.
  Tensor a = f32({5, 7}, 64).detach(), b = f32({7, 3}, 65).detach();
  Tensor c = full({5, 3}, std::nan(""), kFloat32, kCUDA);
  kernels::gemm(a.to(kCUDA), b.to(kCUDA), c, false, false);
  require_close(c, matmul(a, b), 1e-5, 1e-5, "gemm over NaN with beta 0");
}

TEST_CASE("cuda: TF32 matmul is close to float32 and can be switched off", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  Tensor a = f32({128, 512}, 66).detach(), b = f32({512, 96}, 67).detach();
  Tensor ref = matmul(a, b);
  const bool before = runtime::cuda_tf32();
  runtime::set_cuda_tf32(true);
  Tensor tf32 = matmul(a.to(kCUDA), b.to(kCUDA));
  runtime::set_cuda_tf32(false);
  Tensor exact = matmul(a.to(kCUDA), b.to(kCUDA));
  runtime::set_cuda_tf32(before);
  // TF32 keeps 10 mantissa bits of each factor: ~2^-11 relative per product,
  // random signs over K = 512 products of size ~1/3 give errors ~1e-3.
  require_close(tf32, ref, 2e-2, 1e-2, "TF32 matmul K=512");
  require_close(exact, ref, 1e-4, 1e-4, "float32 matmul K=512 after switching TF32 off");
}

// ---------------------------------------------------------------- data movement

TEST_CASE("cuda: accumulating slice copies, float32 and int64", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  // accumulate = true, float32 and int64, on a slice that is not a block multiple.
  for (DType dtype : {kFloat32, kInt64}) {
    Tensor src = ints({3, 300, 7}, 88, -50, 50).to(dtype), dst = ints({3, 500, 7}, 89, -50, 50).to(dtype);
    Tensor dst_cuda = dst.to(kCUDA);
    kernels::copy_slice(src, dst, 1, 20, 111, 257, true);
    kernels::copy_slice(src.to(kCUDA), dst_cuda, 1, 20, 111, 257, true);
    require_close(dst_cuda, dst, kExact, 0.0, std::string("copy_slice accumulate ") + dtype_name(dtype));
  }
}

TEST_CASE("cuda: pad2d of an empty plane fills the whole output, as on the CPU", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  for (const Shape& shape : {Shape{2, 3, 0, 5}, Shape{2, 3, 4, 0}}) {
    const Tensor x = zeros(shape);
    Tensor out = full({2, 3, shape[2] + 3, shape[3] + 2}, 42.0), out_cuda = out.to(kCUDA);
    kernels::pad2d(x, out, {1, 1, 2, 1}, PadMode::Constant, 7.0);
    kernels::pad2d(x.to(kCUDA), out_cuda, {1, 1, 2, 1}, PadMode::Constant, 7.0);
    require_close(out_cuda, out, kExact, 0.0, "pad2d of " + shape_str(shape));
    for (float v : out.to_vector<float>()) REQUIRE(v == 7.0f);
  }
}

TEST_CASE("cuda: index_add with heavy collisions, and index_select's range check", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  // Heavy collisions: 5000 source rows into 10 output rows.
  Tensor index = ints({5000}, 105, 0, 10), src = f32({5000, 300}, 106).detach();
  Tensor out = zeros({10, 300}), out_cuda = zeros({10, 300}, kFloat32, kCUDA);
  kernels::index_add(out, 0, index, src);
  kernels::index_add(out_cuda, 0, index.to(kCUDA), src.to(kCUDA));
  require_close(out_cuda, out, 1e-4, 1e-5, "index_add 5000 rows into 10");
  CHECK_THROWS_WITH(index_select(f32({5, 3}, 107).to(kCUDA), 0, from_vector<int64_t>({1, 9}, {2}).to(kCUDA)),
                    Catch::Contains("index_select: index 9 out of range for dim 0 of size 5"));
}

TEST_CASE("cuda: scatter_add with heavy collisions, and gather's range check", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  Tensor index = ints({200, 300}, 115, 0, 10), src = f32({200, 300}, 116).detach();
  Tensor out = zeros({10, 300}), out_cuda = zeros({10, 300}, kFloat32, kCUDA);
  kernels::scatter_add(out, 0, index, src);
  kernels::scatter_add(out_cuda, 0, index.to(kCUDA), src.to(kCUDA));
  require_close(out_cuda, out, 1e-5, 1e-5, "scatter_add 200 rows into 10");
  CHECK_THROWS_WITH(gather(f32({4, 3}, 117).to(kCUDA), 1, from_vector<int64_t>({0, 3}, {1, 2}).to(kCUDA)),
                    Catch::Contains("gather: index 3 out of range for dim 1 of size 3"));
}

// ---------------------------------------------------------------- optimiser

TEST_CASE("cuda: adam_update matches the CPU over several steps", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  const Shape shape = {1000003};
  Tensor p = f32(shape, 121).detach(), m = zeros(shape), v = zeros(shape);
  Tensor pc = p.to(kCUDA), mc = m.to(kCUDA), vc = v.to(kCUDA);
  for (int64_t step = 1; step <= 3; ++step) {
    Tensor g = f32(shape, 122 + uint64_t(step)).detach();
    kernels::adam_update(p, g, m, v, 1e-3, 0.9, 0.999, 1e-8, step);
    kernels::adam_update(pc, g.to(kCUDA), mc, vc, 1e-3, 0.9, 0.999, 1e-8, step);
  }
  require_close(pc, p, 1e-6, 1e-5, "adam param");
  require_close(mc, m, 1e-7, 1e-5, "adam exp_avg");
  require_close(vc, v, 1e-8, 1e-5, "adam exp_avg_sq");
}

// ---------------------------------------------------------------- contracts

TEST_CASE("cuda: float64 arithmetic is refused with the op's name", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  Tensor x = ones({3, 3}, kFloat64, kCUDA);
  CHECK_THROWS_WITH(exp(x), Catch::Contains("exp: unsupported dtype float64 on cuda"));
  CHECK_THROWS_WITH(add(x, x), Catch::Contains("add: unsupported dtype float64 on cuda"));
  CHECK_THROWS_WITH(sum(x), Catch::Contains("sum: unsupported dtype float64 on cuda"));
  CHECK_THROWS_WITH(matmul(x, x), Catch::Contains("gemm: unsupported dtype float64 on cuda"));
  CHECK_THROWS_WITH(permute(x, {1, 0}), Catch::Contains("permute: unsupported dtype float64 on cuda"));
}

TEST_CASE("cuda: a training step does no cudaMalloc once the pool is warm", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  // A small regression net touching most core kernels: GEMM, broadcasting,
  // unary ops, reductions, slices, padding, max, gather, and Adam.
  TensorList params = {f32({16, 32}, 131).detach().to(kCUDA).requires_grad_(),
                       f32({32}, 132).detach().to(kCUDA).requires_grad_(),
                       f32({32, 8}, 133).detach().to(kCUDA).requires_grad_()};
  TensorList m, v;
  for (const Tensor& p : params) m.push_back(zeros_like(p)), v.push_back(zeros_like(p));
  Tensor x = f32({64, 16}, 134).detach().to(kCUDA), target = f32({64, 8}, 135).detach().to(kCUDA);
  Tensor index = ints({64, 4}, 136, 0, 8).to(kCUDA);
  auto step = [&](int64_t t) {
    for (Tensor& p : params) p.zero_grad();
    Tensor h = leaky_relu(add(matmul(x, params[0]), params[1]), 0.2);
    Tensor y = matmul(h, params[2]);
    Tensor padded = pad2d(y.reshape({1, 64, 8}), {1, 1, 1, 1}, PadMode::Reflect);
    Tensor inner = narrow(narrow(padded, 1, 1, 64), 2, 1, 8).reshape({64, 8});
    Tensor picked = gather(inner, 1, index);
    Tensor loss = add(mean(pow(sub(inner, target), 2.0)), mul(mean(max(picked, 1).values), 0.1));
    loss.backward();
    for (size_t i = 0; i < params.size(); ++i) {
      Tensor p = params[i].detach();
      kernels::adam_update(p, params[i].grad(), m[i], v[i], 1e-3, 0.9, 0.999, 1e-8, t);
    }
    return loss.item();
  };
  step(1);
  const int64_t warm = allocator_stats(kCUDA).system_allocs;
  step(2);
  INFO("cudaMalloc calls: " << warm << " after the first step, " << allocator_stats(kCUDA).system_allocs
                            << " after the second");
  CHECK(allocator_stats(kCUDA).system_allocs == warm);
}

#if !defined(DCSR_CUDA_EMU)  // the emulator's device memory is the host's: not to be filled
TEST_CASE("cuda: a cuBLAS workspace the pool cannot give fails the first GEMM naming it; the next GEMM has it",
          "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  // The cuBLAS handle is made by the process's first GEMM: run on its own, as
  // ctest runs every case. Operands and output come first, then the device is
  // filled with tensors until less than 16 MiB is left, so that the GEMM's only
  // allocation, the 32 MiB workspace, cannot be had.
  const Tensor a = f32({8, 16}, 141).detach().to(kCUDA), b = f32({16, 4}, 142).detach().to(kCUDA);
  Tensor c = empty({8, 4}, kFloat32, kCUDA);
  allocator_empty_cache(kCUDA);
  std::vector<Tensor> filler;
  for (const int64_t floats : {int64_t(1) << 28, int64_t(1) << 22}) {  // 1 GiB blocks, then 16 MiB ones
    try {
      while (true) filler.push_back(empty({floats}, kFloat32, kCUDA));
    } catch (const Error&) {
      // out of memory: the next, smaller size takes what is left
    }
  }
  try {
    kernels::gemm(a, b, c, false, false);
    WARN("SKIPPED: an earlier GEMM of this process made the cuBLAS handle (run this case on its own)");
    return;
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Catch::StartsWith("cuBLAS's workspace of 32 MiB: out of memory"));
  }
  filler.clear();
  allocator_empty_cache(kCUDA);
  const int64_t before = allocator_stats(kCUDA).bytes_in_use;
  kernels::gemm(a, b, c, false, false);  // makes the handle, on the pool's workspace, held from now on
  CHECK(allocator_stats(kCUDA).bytes_in_use == before + (int64_t(32) << 20));
  require_close(c, matmul(a.to(kCPU), b.to(kCPU)), 1e-5, 1e-5, "the GEMM after the failed one");
}
#endif

TEST_CASE("cuda: tensors past 2^31 elements index with 64-bit offsets", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  // x[i][j] = a[i] + b[j] with R * C > 2^31, built on the device by the
  // broadcasting add; values are small integers and tenths, so every sum
  // below is exact in double and checkable on the host. 8 GiB per tensor;
  // skipped when the device does not have the room.
  const int64_t R = 32771, C = 65537;  // R * C = 2^31 + 98307 + ..., both odd
  auto a_of = [](int64_t i) { return double(i % 7); };
  auto b_of = [](int64_t j) { return double(j % 13) * 0.25; };
  std::vector<float> a(static_cast<size_t>(R)), b(static_cast<size_t>(C));
  for (int64_t i = 0; i < R; ++i) a[size_t(i)] = float(a_of(i));
  for (int64_t j = 0; j < C; ++j) b[size_t(j)] = float(b_of(j));
  Tensor x;
  try {
    x = add(from_vector(a, {R, 1}, kFloat32, kCUDA), from_vector(b, {1, C}, kFloat32, kCUDA));
  } catch (const std::exception& e) {
    WARN("SKIPPED: no room for an 8 GiB tensor (" << e.what() << ")");
    return;
  }
  REQUIRE(x.numel() > (int64_t(1) << 31));
  // The last rows, read back through copy_slice.
  Tensor tail = narrow(x, 0, R - 2, 2);
  std::vector<double> expected;
  for (int64_t i = R - 2; i < R; ++i)
    for (int64_t j = 0; j < C; ++j) expected.push_back(a_of(i) + b_of(j));
  require_close(tail, expected, kExact, 0.0, "broadcast add and narrow past 2^31");
  // Row sums (reduced innermost) and column sums (kept innermost).
  std::vector<double> row_sums, col_sums(size_t(C), 0.0);
  double b_total = 0.0;
  for (int64_t j = 0; j < C; ++j) b_total += b_of(j);
  for (int64_t i = 0; i < R; ++i) row_sums.push_back(double(C) * a_of(i) + b_total);
  double a_total = 0.0;
  for (int64_t i = 0; i < R; ++i) a_total += a_of(i);
  for (int64_t j = 0; j < C; ++j) col_sums[size_t(j)] = a_total + double(R) * b_of(j);
  require_close(sum(x, {1}), row_sums, 0.0, 6e-8, "row sums past 2^31");
  require_close(sum(x, {0}), col_sums, 0.0, 6e-8, "column sums past 2^31");
  // Max along each dim: first index of the largest a (i % 7 == 6) and b (j % 13 == 12).
  ValuesIndices along_rows = max(x, 1), along_cols = max(x, 0);
  std::vector<int64_t> idx_rows = along_rows.indices.to_vector<int64_t>();
  std::vector<int64_t> idx_cols = along_cols.indices.to_vector<int64_t>();
  CHECK(std::all_of(idx_rows.begin(), idx_rows.end(), [](int64_t i) { return i == 12; }));
  CHECK(std::all_of(idx_cols.begin(), idx_cols.end(), [](int64_t i) { return i == 6; }));
  // The tiled transpose; then reflect padding of the transposed image.
  {
    Tensor t = permute(x, {1, 0});
    x = Tensor();  // free 8 GiB before the next big tensor
    Tensor last_row = narrow(t, 0, C - 1, 1);
    std::vector<double> want;
    for (int64_t i = 0; i < R; ++i) want.push_back(a_of(i) + b_of(C - 1));
    require_close(last_row, want, kExact, 0.0, "transpose past 2^31");
    Tensor padded = pad2d(t.reshape({1, C, R}), {1, 1, 1, 1}, PadMode::Reflect);
    t = Tensor();
    Tensor corner = narrow(narrow(padded, 1, C + 1, 1), 2, R + 1, 1);  // mirrors (C - 2, R - 2)
    require_close(corner, {a_of(R - 2) + b_of(C - 2)}, kExact, 0.0, "reflect pad past 2^31");
  }
  allocator_empty_cache(kCUDA);
}
