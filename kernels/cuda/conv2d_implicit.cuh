// conv2d forward as an implicit GEMM, KS x KS (3 or 5) with stride 1 and any
// padding, one group: no column matrix in memory. kernels/cuda/conv2d.cu
// chooses between it and im2col + cuBLAS per convolution
// (kernels/conv_forward_plan.h, whose cost model has the H100's times) and
// launches it through conv2d_implicit_launch.cuh, or its TF32 tensor-core
// twin (conv2d_implicit_tf32.cuh) when TF32 is on.
//
//   y[n][co][p] = act(b[co] + sum_{r < K} W[co][r] * cols_n[r][p] + res[n][co][p]),
//   K = Cin*KS*KS, p < P = Ho*Wo, Ho = H + 2 pad - KS + 1, Wo likewise,
//
// where cols_n[r][p] (r = c*KS*KS + ky*KS + kx) is never stored: the tile
// loader reads x[n][c][oy + ky - pad][ox + kx - pad] (0 outside the image)
// straight into shared memory. The register tiling is that of the patch
// matching's sweep (kernels/cuda/dot_sweep.cuh), shaped for the model's
// Cout = 64: a block of 256 threads (8 x 32) computes 64 output channels x
// TileN pixels, each thread 8 channels (two runs of four, half the channel
// tile apart) x TileN/32 pixels (runs of four, 128 apart), so that every
// operand comes from shared memory as a float4. K goes in steps of 8 through
// double-buffered shared memory, the next step's global loads in flight while
// the current one is multiplied. The bias, the residual and the LeakyReLU are
// applied as the results are stored, in the order of the default epilogue.
//
// Three block shapes: 64 x 256 pixels (8 x 8 per thread; 127 registers, two
// blocks per SM), 64 x 128 (8 x 4 per thread; 75 registers, three per SM) and
// 32 x 256 (M = 32: 4 x 8 per thread, one run of four channels), for layers of
// at most 32 output channels. A 64-channel block leaves half its threads'
// work unused there, and im2col + cuBLAS, which the plan takes instead, moves
// a column matrix that at 32 channels costs more than its GEMM (a 32 -> 32
// conv at 332x332: 127 MB of columns for 2 GFLOP; docs/gpu_check_h100.md).
// Per k the 32-channel thread reads one broadcast float4 of weights and two
// float4 of columns for 32 FMAs (the 64-channel one: two and two for 64), so
// it is more bound by shared memory; not yet timed on a GPU (nor its TF32
// twin, conv2d_implicit_tf32.cuh with M = 32).
// The second has half the work per block, so its time comes in finer steps of
// blocks per SM. Measured on an H100 (study_conv2d versions 11 and 12): 64 ->
// 64 at 256x256 in 0.19 ms with 64 x 256 blocks against im2col + cuBLAS's
// 0.22 (0.71-0.79 of the equivalent GEMM's rate over two runs; goal 0.70);
// at 332x332 in 0.346 ms with 64 x 128 blocks against 0.370.
#pragma once
#include "kernels/conv_forward_plan.h"
#include "kernels/cuda/cuda_common.cuh"

namespace dcsr::kernels::cuda {

constexpr int kIgM = int(kImplicitChannels);  // output channels per block
constexpr int kIgK = 8;          // K per shared-memory step
constexpr int kIgThreads = 256;  // 8 (channel groups) x 32 (pixel groups)

// grid = (ceil(P / TileN), ceil(Cout / M), N); block = 256. b and res may be null.
template <int KS, int TileN, int M = kIgM>
__global__ void __launch_bounds__(kIgThreads)
    conv_implicit_gemm(const float* __restrict__ x, const float* __restrict__ w, const float* __restrict__ b,
                       const float* __restrict__ res, float* __restrict__ y, int Cin, int H, int W, int pad, int Cout,
                       float slope) {
  constexpr int kTaps = KS * KS;
  constexpr int kRuns = TileN / 128;                       // runs of four pixels per thread
  constexpr int kChannelRuns = M / 32;                     // runs of four channels per thread, 32 apart
  constexpr int kLoadRows = kIgK * TileN / kIgThreads;     // column values a thread loads per step
  static_assert(TileN == 128 || TileN == 256, "tile of 128 or 256 pixels");
  static_assert(M == 64 || M == 32, "tile of 64 or 32 output channels");
  __shared__ __align__(16) float As[2][kIgK][M];      // weights, [k][channel]
  __shared__ __align__(16) float Bs[2][kIgK][TileN];  // implicit columns, [k][pixel]
  const int tid = threadIdx.x, tx = tid & 31, ty = tid >> 5;
  const int Ho = H + 2 * pad - KS + 1, Wo = W + 2 * pad - KS + 1, P = Ho * Wo, K = Cin * kTaps;
  const int p0 = blockIdx.x * TileN, m0 = blockIdx.y * M;
  const float* xn = x + int64_t(blockIdx.z) * Cin * H * W;

  // The column of Bs this thread loads (one pixel), rows load_row0 + j of every step.
  const int load_col = tid % TileN, load_row0 = (tid / TileN) * kLoadRows;
  const int p_load = p0 + load_col;
  const bool p_ok = p_load < P;
  const int oy = p_ok ? p_load / Wo : 0, ox = p_ok ? p_load - oy * Wo : 0;

  float ra[kChannelRuns], rb[kLoadRows];
  // Weights: element e = tid + 256 j of the step's M x 8 block is channel
  // e / 8, k = e % 8 (eight consecutive floats of one weight row per channel).
  auto load_step = [&](int k0) {
#pragma unroll
    for (int j = 0; j < kChannelRuns; ++j) {
      const int e = tid + kIgThreads * j, m = e >> 3, r = k0 + (e & 7);
      ra[j] = (m0 + m < Cout && r < K) ? w[int64_t(m0 + m) * K + r] : 0.0f;
    }
#pragma unroll
    for (int j = 0; j < kLoadRows; ++j) {
      const int r = k0 + load_row0 + j;
      float v = 0.0f;
      if (p_ok && r < K) {
        const int c = r / kTaps, t = r - kTaps * c, ky = t / KS, kx = t - KS * ky;
        const int iy = oy + ky - pad, ix = ox + kx - pad;
        if (iy >= 0 && iy < H && ix >= 0 && ix < W) v = xn[int64_t(c) * H * W + iy * W + ix];
      }
      rb[j] = v;
    }
  };
  auto store_step = [&](int buf) {
#pragma unroll
    for (int j = 0; j < kChannelRuns; ++j) {
      const int e = tid + kIgThreads * j;
      As[buf][e & 7][e >> 3] = ra[j];
    }
#pragma unroll
    for (int j = 0; j < kLoadRows; ++j) Bs[buf][load_row0 + j][load_col] = rb[j];
  };

  float acc[4 * kChannelRuns][4 * kRuns];
#pragma unroll
  for (int i = 0; i < 4 * kChannelRuns; ++i)
#pragma unroll
    for (int j = 0; j < 4 * kRuns; ++j) acc[i][j] = 0.0f;

  const int steps = (K + kIgK - 1) / kIgK;
  load_step(0);
  store_step(0);
  __syncthreads();
  for (int t = 0; t < steps; ++t) {
    const int buf = t & 1;
    if (t + 1 < steps) load_step((t + 1) * kIgK);
    // The k-step of dot_sweep.cuh's tile, with this tile's run offsets. (Not
    // shared through a helper: that changed the sweep's machine code.)
#pragma unroll
    for (int k = 0; k < kIgK; ++k) {
      float a[4 * kChannelRuns];
#pragma unroll
      for (int r = 0; r < kChannelRuns; ++r) {
        const float4 ar = *reinterpret_cast<const float4*>(&As[buf][k][32 * r + 4 * ty]);
        a[4 * r] = ar.x, a[4 * r + 1] = ar.y, a[4 * r + 2] = ar.z, a[4 * r + 3] = ar.w;
      }
      float bv[4 * kRuns];
#pragma unroll
      for (int h = 0; h < kRuns; ++h) {
        const float4 bh = *reinterpret_cast<const float4*>(&Bs[buf][k][128 * h + 4 * tx]);
        bv[4 * h] = bh.x, bv[4 * h + 1] = bh.y, bv[4 * h + 2] = bh.z, bv[4 * h + 3] = bh.w;
      }
#pragma unroll
      for (int i = 0; i < 4 * kChannelRuns; ++i)
#pragma unroll
        for (int j = 0; j < 4 * kRuns; ++j) acc[i][j] = fmaf(a[i], bv[j], acc[i][j]);
    }
    // The other buffer was last read in step t - 1, before the barrier that
    // ended it; it is refilled now and read after the next barrier.
    if (t + 1 < steps) store_step(buf ^ 1);
    __syncthreads();
  }

  // The epilogue, as the default path's (bias, then residual, then the
  // activation; slope 1: none). Channel i of this thread is 4 ty + i (i < 4)
  // or 32 + 4 ty + i - 4 (M = 64 only); pixel 4 h + j is 128 h + 4 tx + j.
  const int64_t image = int64_t(blockIdx.z) * Cout * P;
  float* yn = y + image;
  const float* rn = res ? res + image : nullptr;
  const bool vec4 = (P & 3) == 0;
#pragma unroll
  for (int i = 0; i < 4 * kChannelRuns; ++i) {
    const int co = m0 + (i < 4 ? 4 * ty + i : 32 + 4 * ty + i - 4);
    if (co >= Cout) continue;
#pragma unroll
    for (int h = 0; h < kRuns; ++h) {
      const int p = p0 + 128 * h + 4 * tx;
      const int64_t at = int64_t(co) * P + p;
      float v[4];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        v[j] = acc[i][4 * h + j];
        if (b) v[j] += b[co];
        if (rn && p + j < P) v[j] += rn[at + j];
        v[j] = v[j] > 0.0f ? v[j] : slope * v[j];
      }
      if (vec4 && p + 3 < P) {
        *reinterpret_cast<float4*>(yn + at) = make_float4(v[0], v[1], v[2], v[3]);
      } else {
#pragma unroll
        for (int j = 0; j < 4; ++j)
          if (p + j < P) yn[at + j] = v[j];
      }
    }
  }
}

}  // namespace dcsr::kernels::cuda
