// Study: float32 GEMM, C (M x N) = A (M x K) B (K x N), all row-major.
//
//   version 0  production: kernels/cuda/gemm.cu (cuBLAS SGEMM, operands swapped
//              for row-major storage; TF32 off unless DCSR_TF32=1)
//   version 1  naive: one thread per element of C, K loop from global memory
//   version 2  32x32 shared-memory tiles, one element per thread
//   version 3  128x128x8 block tiles, 8x8 register tile per thread (256 threads),
//              the thread's rows and columns 16 apart: 16 scalar shared-memory
//              loads per 64 FMAs
//   version 4  as 3, the thread's rows and columns as two runs of 4 (64 apart):
//              4 float4 shared-memory loads per 64 FMAs; the tiling of the fused
//              matching and contextual-loss sweeps (kernels/cuda/dot_sweep.cuh)
//
// The two numbers (method): a 2048^3 product is 17.2 GFLOP; at the ~50 TFLOP/s
// an H100 reaches in float32 FMA that is ~0.35 ms, while its bytes (48 MiB at
// ~3 TB/s) need ~0.02 ms: compute bound. The conv-like shape 64 x 65536 x 576
// (a 64->64 3x3 convolution of a 256x256 image as one GEMM) is 4.8 GFLOP over
// 160 MiB: ~0.1 ms of arithmetic against ~0.05 ms of memory, still compute
// bound but with little reuse along M = 64.
//
// usage: study_gemm [--quick] [--version V] [--shape MxNxK]...
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_gemm.h"
#include "kernels/study/study_common.cuh"
#include "tests/op_table.h"

using namespace dcsr;
using dcsr::kernels::cuda::grid_for;

namespace {

// ---- version 1: naive ----
// Thread x walks N so a warp reads 32 consecutive elements of a row of B
// (coalesced) and one element of A (broadcast).
__global__ void gemm_naive(const float* A, const float* B, float* C, int64_t M, int64_t N, int64_t K) {
  const int64_t n = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t m = int64_t(blockIdx.y) * blockDim.y + threadIdx.y;
  if (m >= M || n >= N) return;
  float acc = 0.0f;
  for (int64_t k = 0; k < K; ++k) acc += A[m * K + k] * B[k * N + n];
  C[m * N + n] = acc;
}

// ---- version 2: 32x32 shared-memory tiles ----
constexpr int T2 = 32;
__global__ void gemm_smem(const float* A, const float* B, float* C, int64_t M, int64_t N, int64_t K) {
  __shared__ float As[T2][T2], Bs[T2][T2 + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;  // 32 x 32 threads
  const int64_t m = int64_t(blockIdx.y) * T2 + ty, n = int64_t(blockIdx.x) * T2 + tx;
  float acc = 0.0f;
  for (int64_t k0 = 0; k0 < K; k0 += T2) {
    As[ty][tx] = (m < M && k0 + tx < K) ? A[m * K + k0 + tx] : 0.0f;
    Bs[ty][tx] = (k0 + ty < K && n < N) ? B[(k0 + ty) * N + n] : 0.0f;
    __syncthreads();
#pragma unroll
    for (int k = 0; k < T2; ++k) acc += As[ty][k] * Bs[k][tx];
    __syncthreads();
  }
  if (m < M && n < N) C[m * N + n] = acc;
}

// ---- version 3: register blocking ----
// Block tile BM x BN, K step BK; 256 threads as a 16 x 16 grid, each owning an
// 8 x 8 sub-tile spread with a stride of 16 rows / 16 columns (rows ty + 16 i,
// columns tx + 16 j): a warp's reads of the B tile are 16 consecutive floats
// (no bank conflicts), its reads of the A tile a broadcast, and its final
// stores of C coalesced. A is stored transposed in shared memory (As[k][m])
// so that both operands are read along their fast dim in the inner loop.
constexpr int BM = 128, BN = 128, BK = 8, TM = 8, TN = 8;
constexpr int kThreads3 = (BM / TM) * (BN / TN);  // 256

// The block's k step of both operands into shared memory (versions 3 and 4),
// zero past the matrices' edges. A is stored transposed (As[k][m]).
__device__ __forceinline__ void load_tiles(const float* A, const float* B, float (&As)[BK][BM], float (&Bs)[BK][BN],
                                           int64_t m0, int64_t n0, int64_t k0, int64_t M, int64_t N, int64_t K,
                                           int tid) {
  // A tile: 128 rows x 8 k; consecutive threads take consecutive k of a row.
#pragma unroll
  for (int e = tid; e < BM * BK; e += kThreads3) {
    const int r = e / BK, k = e % BK;
    const int64_t gm = m0 + r, gk = k0 + k;
    As[k][r] = (gm < M && gk < K) ? A[gm * K + gk] : 0.0f;
  }
  // B tile: 8 k x 128 columns; consecutive threads take consecutive columns.
#pragma unroll
  for (int e = tid; e < BK * BN; e += kThreads3) {
    const int k = e / BN, c = e % BN;
    const int64_t gk = k0 + k, gn = n0 + c;
    Bs[k][c] = (gk < K && gn < N) ? B[gk * N + gn] : 0.0f;
  }
}

__global__ void __launch_bounds__(kThreads3) gemm_blocked(const float* A, const float* B, float* C, int64_t M,
                                                          int64_t N, int64_t K) {
  __shared__ float As[BK][BM];
  __shared__ float Bs[BK][BN];
  const int tid = threadIdx.x, tx = tid % (BN / TN), ty = tid / (BN / TN);
  const int64_t m0 = int64_t(blockIdx.y) * BM, n0 = int64_t(blockIdx.x) * BN;
  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;
  for (int64_t k0 = 0; k0 < K; k0 += BK) {
    load_tiles(A, B, As, Bs, m0, n0, k0, M, N, K, tid);
    __syncthreads();
#pragma unroll
    for (int k = 0; k < BK; ++k) {
      float a[TM], b[TN];
#pragma unroll
      for (int i = 0; i < TM; ++i) a[i] = As[k][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < TN; ++j) b[j] = Bs[k][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] += a[i] * b[j];
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int64_t gm = m0 + ty + 16 * i;
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const int64_t gn = n0 + tx + 16 * j;
      if (gm < M && gn < N) C[gm * N + gn] = acc[i][j];
    }
  }
}

// ---- version 4: register blocking with 16-byte shared-memory loads ----
// Rows ty*4 .. ty*4+3 and 64 + ty*4 .. 64 + ty*4+3 (columns likewise with tx).
__device__ __forceinline__ int run_index(int t, int i) { return (i < 4 ? 0 : 64) + 4 * t + (i & 3); }

__global__ void __launch_bounds__(kThreads3) gemm_blocked4(const float* A, const float* B, float* C, int64_t M,
                                                           int64_t N, int64_t K) {
  __shared__ __align__(16) float As[BK][BM];
  __shared__ __align__(16) float Bs[BK][BN];
  const int tid = threadIdx.x, tx = tid % (BN / TN), ty = tid / (BN / TN);
  const int64_t m0 = int64_t(blockIdx.y) * BM, n0 = int64_t(blockIdx.x) * BN;
  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;
  for (int64_t k0 = 0; k0 < K; k0 += BK) {
    load_tiles(A, B, As, Bs, m0, n0, k0, M, N, K, tid);
    __syncthreads();
#pragma unroll
    for (int k = 0; k < BK; ++k) {
      const float4 a0 = *reinterpret_cast<const float4*>(&As[k][4 * ty]);
      const float4 a1 = *reinterpret_cast<const float4*>(&As[k][64 + 4 * ty]);
      const float4 b0 = *reinterpret_cast<const float4*>(&Bs[k][4 * tx]);
      const float4 b1 = *reinterpret_cast<const float4*>(&Bs[k][64 + 4 * tx]);
      const float a[TM] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
      const float b[TN] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] += a[i] * b[j];
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int64_t gm = m0 + run_index(ty, i);
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const int64_t gn = n0 + run_index(tx, j);
      if (gm < M && gn < N) C[gm * N + gn] = acc[i][j];
    }
  }
}

struct Shape3 {
  int64_t M, N, K;
};

void run_shape(const Shape3& s, int only_version, const study::Peaks& peaks) {
  Generator gen(11);
  Tensor a = uniform({s.M, s.K}, gen, -1.0, 1.0), b = uniform({s.K, s.N}, gen, -1.0, 1.0);
  Tensor ref = empty({s.M, s.N});
  kernels::cpu::gemm(a, b, ref, false, false);  // the CPU backend's kernel is the reference
  Tensor da = a.to(kCUDA), db = b.to(kCUDA), dc = empty({s.M, s.N}, kFloat32, kCUDA);
  const float* pa = da.data<float>();
  const float* pb = db.data<float>();
  float* pc = dc.data<float>();
  const double flop = 2.0 * double(s.M) * double(s.N) * double(s.K);
  const double tol = 1e-4;  // float32 accumulation over K terms in different orders: ~1e-6 relative.

  const std::vector<study::Version> versions = {
      {"production: cuBLAS SGEMM via kernels/cuda/gemm.cu", {&dc}, {&ref}, tol,
       [&] { kernels::cuda::gemm_raw(pa, s.K, pb, s.N, pc, s.N, s.M, s.N, s.K, false, false, 1.0f, 0.0f); }},
      {"naive, one thread per output", {&dc}, {&ref}, tol,
       [&] {
         dim3 block(32, 8), grid(unsigned((s.N + 31) / 32), unsigned((s.M + 7) / 8));
         gemm_naive<<<grid, block>>>(pa, pb, pc, s.M, s.N, s.K);
         DCSR_CUDA_CHECK_LAUNCH();
       }},
      {"32x32 shared-memory tiles", {&dc}, {&ref}, tol,
       [&] {
         dim3 block(T2, T2), grid(unsigned((s.N + T2 - 1) / T2), unsigned((s.M + T2 - 1) / T2));
         gemm_smem<<<grid, block>>>(pa, pb, pc, s.M, s.N, s.K);
         DCSR_CUDA_CHECK_LAUNCH();
       }},
      {"128x128x8 block tile, 8x8 registers per thread, scalar shared loads", {&dc}, {&ref}, tol,
       [&] {
         dim3 grid(unsigned((s.N + BN - 1) / BN), unsigned((s.M + BM - 1) / BM));
         gemm_blocked<<<grid, kThreads3>>>(pa, pb, pc, s.M, s.N, s.K);
         DCSR_CUDA_CHECK_LAUNCH();
       }},
      {"128x128x8 block tile, 8x8 registers per thread, float4 shared loads", {&dc}, {&ref}, tol,
       [&] {
         dim3 grid(unsigned((s.N + BN - 1) / BN), unsigned((s.M + BM - 1) / BM));
         gemm_blocked4<<<grid, kThreads3>>>(pa, pb, pc, s.M, s.N, s.K);
         DCSR_CUDA_CHECK_LAUNCH();
       }},
  };
  study::run_versions("gemm", study::dims({s.M, s.N, s.K}), versions, only_version, flop, 0.0, peaks);
}

}  // namespace

int main(int argc, char** argv) {
  return study::study_main(argc, argv, "gemm", "MxNxK", 3, [](const study::Options& o, const study::Peaks& peaks) {
    std::vector<Shape3> shapes;
    for (const std::vector<int64_t>& f : o.shapes) shapes.push_back({f[0], f[1], f[2]});
    if (shapes.empty() && study::quick_mode()) shapes = {{130, 70, 45}, {64, 300, 27}};
    // The op table's GPU sizes of matmul (tests/op_rows_core.h): n for n x n x n, or
    // (M, N, K, A stored transposed): square; the conv 64->64 3x3 at 256x256 as one GEMM;
    // a matching tile (4096 keys x 1600 queries x 576). The versions here are all
    // A B products: a transposed A is timed as the A B product of the same size.
    if (shapes.empty())
      for (const std::vector<int64_t>& s : study::table_gpu_sizes(test::op_row("matmul")))
        shapes.push_back(s.size() == 1 ? Shape3{s[0], s[0], s[0]} : Shape3{s.at(0), s.at(1), s.at(2)});
    for (const Shape3& s : shapes) run_shape(s, o.only_version, peaks);
  });
}
