// The implicit-GEMM conv2d forward of conv2d_implicit.cuh on TF32 tensor
// cores (mma_tf32.cuh; sm_80 and later): the same GEMM
//
//   y[n][co][p] = act(b[co] + sum_{r < K} W[co][r] * cols_n[r][p] + res[n][co][p]),
//
// the same grid (M = 64 or 32 output channels x TileN = 128 or 256 pixels per
// block of 256 threads), the same loads (weights and implicit columns, K in steps of 8
// through double-buffered shared memory, the next step's loads in flight) and
// the same epilogue; the products run as mma.m16n8k8 with float32
// accumulation, the operands rounded to TF32 as they are stored to shared
// memory. conv2d.cu takes it instead of the float32 kernel when TF32 is on
// (DCSR_TF32=1, runtime/switches.h) and the GPU has TF32 tensor cores.
//
// Warps: M / 32 along the channels x 8 / (M / 32) along the pixels; each
// computes 32 channels (two 16-row tiles) x TileN / 4 pixels at M = 64, or
// TileN / 8 at M = 32 (tiles of 8 columns). Shared rows are padded by 8 floats
// (a row stride of 8 banks modulo 32, for M + 8 = 72 or 40), so that a warp's
// fragment loads (lane 4 g + t reads row t or t + 4, column c + g) hit 32
// different banks: bank 8 t + g + c.
//
// Timed on an H100 (2026-12-05, study_conv2d versions 14 and 15, M = 64):
// 0.075-0.249 ms on the study's 64-channel shapes, 1.4-1.5x faster than the
// float32 kernel, but only 20-38 TFLOP/s. M = 32 (version 17, for layers of at
// most 32 output channels) is not yet timed; its index math is checked on the
// host emulator (tests/test_cuda_conv_implicit.cpp).
// Error: each product's operands carry TF32's 2^-11 relative rounding, so
// |y - exact| <= (2^-10 + 2^-22 + K 2^-24) sum_r |W[co][r]| |cols_n[r][p]|
// up to the epilogue's roundings (the bound the tests use).
#pragma once
#include "kernels/cuda/conv2d_implicit.cuh"
#include "kernels/cuda/mma_tf32.cuh"

namespace dcsr::kernels::cuda {

constexpr int kTf32APad = 8, kTf32BPad = 8;  // shared-row padding, floats (see above)

// grid = (ceil(P / TileN), ceil(Cout / M), N); block = 256. b and res may be null.
template <int KS, int TileN, int M = kIgM>
__global__ void __launch_bounds__(kIgThreads)
    conv_implicit_gemm_tf32(const float* __restrict__ x, const float* __restrict__ w, const float* __restrict__ b,
                            const float* __restrict__ res, float* __restrict__ y, int Cin, int H, int W, int pad,
                            int Cout, float slope) {
  constexpr int kTaps = KS * KS;
  constexpr int kLoadRows = kIgK * TileN / kIgThreads;  // column values a thread loads per step
  constexpr int kWarpsM = M / 32, kChannelRuns = M / 32;  // warps along the channels; weights a thread loads
  constexpr int kWarpPixels = TileN / (8 / kWarpsM), kNTiles = kWarpPixels / 8, kMTiles = 2;
  static_assert(TileN == 128 || TileN == 256, "tile of 128 or 256 pixels");
  static_assert(M == 64 || M == 32, "tile of 64 or 32 output channels");
  __shared__ __align__(16) uint32_t As[2][kIgK][M + kTf32APad];        // weights as TF32, [k][channel]
  __shared__ __align__(16) uint32_t Bs[2][kIgK][TileN + kTf32BPad];    // implicit columns as TF32, [k][pixel]
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int g = lane >> 2, t = lane & 3;                               // mma_tf32.cuh's group and thread
  // The warp's first channel and pixel (kWarpsM is 2 or 1).
  const int warp_m = 32 * (warp & (kWarpsM - 1)), warp_n = kWarpPixels * (warp >> (kWarpsM - 1));
  const int Ho = H + 2 * pad - KS + 1, Wo = W + 2 * pad - KS + 1, P = Ho * Wo, K = Cin * kTaps;
  const int p0 = blockIdx.x * TileN, m0 = blockIdx.y * M;
  const float* xn = x + int64_t(blockIdx.z) * Cin * H * W;

  // The loads of conv_implicit_gemm, repeated rather than shared: this
  // thread's column of Bs (one pixel), rows load_row0 + j of every step;
  // weight element e = tid + 256 j of the step's M x 8 block is channel
  // e / 8, k = e % 8. (Moved into a helper both kernels call, they changed
  // the float32 kernel's machine code, 128-384 bytes longer with the same
  // registers: that kernel's speed was measured on an H100, and a change to
  // it waits for a GPU to time it.)
  const int load_col = tid % TileN, load_row0 = (tid / TileN) * kLoadRows;
  const int p_load = p0 + load_col;
  const bool p_ok = p_load < P;
  const int oy = p_ok ? p_load / Wo : 0, ox = p_ok ? p_load - oy * Wo : 0;
  float ra[kChannelRuns], rb[kLoadRows];
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
        const int c = r / kTaps, tap = r - kTaps * c, ky = tap / KS, kx = tap - KS * ky;
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
      As[buf][e & 7][e >> 3] = to_tf32(ra[j]);
    }
#pragma unroll
    for (int j = 0; j < kLoadRows; ++j) Bs[buf][load_row0 + j][load_col] = to_tf32(rb[j]);
  };

  float acc[kMTiles][kNTiles][4];
#pragma unroll
  for (int i = 0; i < kMTiles; ++i)
#pragma unroll
    for (int j = 0; j < kNTiles; ++j)
#pragma unroll
      for (int q = 0; q < 4; ++q) acc[i][j][q] = 0.0f;

  const int steps = (K + kIgK - 1) / kIgK;
  load_step(0);
  store_step(0);
  __syncthreads();
  for (int step = 0; step < steps; ++step) {
    const int buf = step & 1;
    if (step + 1 < steps) load_step((step + 1) * kIgK);
    // One k-step of 8 is one mma per (16-channel, 8-pixel) tile.
    uint32_t fa[kMTiles][4], fb[kNTiles][2];
#pragma unroll
    for (int i = 0; i < kMTiles; ++i) {
      const int m = warp_m + 16 * i + g;
      fa[i][0] = As[buf][t][m];
      fa[i][1] = As[buf][t][m + 8];
      fa[i][2] = As[buf][t + 4][m];
      fa[i][3] = As[buf][t + 4][m + 8];
    }
#pragma unroll
    for (int j = 0; j < kNTiles; ++j) {
      const int n = warp_n + 8 * j + g;
      fb[j][0] = Bs[buf][t][n];
      fb[j][1] = Bs[buf][t + 4][n];
    }
#pragma unroll
    for (int i = 0; i < kMTiles; ++i)
#pragma unroll
      for (int j = 0; j < kNTiles; ++j) mma_tf32_m16n8k8(acc[i][j], fa[i], fb[j]);
    // As in conv_implicit_gemm: the other buffer was last read before the
    // barrier that ended step - 1; it is refilled now and read after the next.
    if (step + 1 < steps) store_step(buf ^ 1);
    __syncthreads();
  }

  // The epilogue of conv_implicit_gemm (bias, then residual, then the
  // activation). acc[i][j][q] is channel warp_m + 16 i + g (+ 8 for q >= 2),
  // pixel warp_n + 8 j + 2 t (+ 1 for odd q).
  const int64_t image = int64_t(blockIdx.z) * Cout * P;
  float* yn = y + image;
  const float* rn = res ? res + image : nullptr;
  const bool vec2 = (P & 1) == 0;
#pragma unroll
  for (int i = 0; i < kMTiles; ++i)
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int co = m0 + warp_m + 16 * i + g + 8 * half;
      if (co >= Cout) continue;
#pragma unroll
      for (int j = 0; j < kNTiles; ++j) {
        const int p = p0 + warp_n + 8 * j + 2 * t;
        const int64_t at = int64_t(co) * P + p;
        float v[2];
#pragma unroll
        for (int q = 0; q < 2; ++q) {
          v[q] = acc[i][j][2 * half + q];
          if (b) v[q] += b[co];
          if (rn && p + q < P) v[q] += rn[at + q];
          v[q] = v[q] > 0.0f ? v[q] : slope * v[q];
        }
        if (vec2 && p + 1 < P) {
          *reinterpret_cast<float2*>(yn + at) = make_float2(v[0], v[1]);
        } else {
#pragma unroll
          for (int q = 0; q < 2; ++q)
            if (p + q < P) yn[at + q] = v[q];
        }
      }
    }
}

}  // namespace dcsr::kernels::cuda
