// conv2d forward as an implicit GEMM, 3x3 with stride 1 and any padding, one
// group: no column matrix in memory. An option of kernels/cuda/conv2d.cu,
// off by default (DCSR_CONV_IMPLICIT=1 or kernels::set_cuda_conv_implicit):
// it has passed the host emulator's checks (tools/cuda_emu), not yet a GPU's,
// and has not been timed; kernels/study/conv2d.cu (version 11) and
// tools/gpu_check.sh measure it against the default im2col + cuBLAS path.
//
//   y[n][co][p] = act(b[co] + sum_{r < K} W[co][r] * cols_n[r][p] + res[n][co][p]),
//   K = Cin*9, p < P = Ho*Wo, Ho = H + 2 pad - 2, Wo = W + 2 pad - 2,
//
// where cols_n[r][p] (r = c*9 + ky*3 + kx) is never stored: the tile loader
// reads x[n][c][oy + ky - pad][ox + kx - pad] (0 outside the image) straight
// into shared memory. The register tiling is that of the patch matching's
// sweep (kernels/cuda/dot_sweep.cuh, 32 TFLOP/s on an H200 at D = 576),
// shaped for the model's Cout = 64: a block computes 64 output channels x 256
// pixels with 256 threads as 8 x 32, each thread 8 channels x 8 pixels (two
// runs of four, half a tile apart, so that every operand comes from shared
// memory as a float4); K goes in steps of 8 through double-buffered shared
// memory, the next step's global loads in flight while the current one is
// multiplied. The bias, the residual and the LeakyReLU are applied as the
// results are stored, in the order of the default path's epilogue.
//
// What it would save: the default path writes and re-reads the 151 MB column
// matrix of a 64-channel 256x256 image (im2col 0.060 ms of its 0.212 ms on an
// H200) and runs the epilogue as its own pass; cuBLAS reaches 35 TFLOP/s on
// the equivalent GEMM (M = 64 is narrow for it).
#pragma once
#include "kernels/cuda/cuda_common.cuh"

namespace dcsr::kernels::cuda {

constexpr int kIgM = 64;        // output channels per block
constexpr int kIgN = 256;       // pixels per block
constexpr int kIgK = 8;         // K per shared-memory step
constexpr int kIgThreads = 256; // 8 (channels) x 32 (pixels)

// grid = (ceil(P / 256), ceil(Cout / 64), N); block = 256. b and res may be null.
__global__ void __launch_bounds__(kIgThreads)
    conv3x3_implicit_gemm(const float* __restrict__ x, const float* __restrict__ w, const float* __restrict__ b,
                          const float* __restrict__ res, float* __restrict__ y, int Cin, int H, int W, int pad,
                          int Cout, float slope) {
  __shared__ __align__(16) float As[2][kIgK][kIgM];  // weights, [k][channel]
  __shared__ __align__(16) float Bs[2][kIgK][kIgN];  // implicit columns, [k][pixel]
  const int tid = threadIdx.x, tx = tid & 31, ty = tid >> 5;
  const int Ho = H + 2 * pad - 2, Wo = W + 2 * pad - 2, P = Ho * Wo, K = Cin * 9;
  const int p0 = blockIdx.x * kIgN, m0 = blockIdx.y * kIgM;
  const float* xn = x + int64_t(blockIdx.z) * Cin * H * W;

  // The pixel this thread loads for every K step (its own column of Bs).
  const int p_load = p0 + tid;
  const bool p_ok = p_load < P;
  const int oy = p_ok ? p_load / Wo : 0, ox = p_ok ? p_load - oy * Wo : 0;

  float ra[2], rb[kIgK];
  // Weights: element e = tid + 256 j of the step's 64 x 8 block is channel
  // e / 8, k = e % 8 (eight consecutive floats of one weight row per channel).
  // Columns: thread tid loads pixel p0 + tid for the step's eight rows r.
  auto load_step = [&](int k0) {
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      const int e = tid + kIgThreads * j, m = e >> 3, r = k0 + (e & 7);
      ra[j] = (m0 + m < Cout && r < K) ? w[int64_t(m0 + m) * K + r] : 0.0f;
    }
#pragma unroll
    for (int j = 0; j < kIgK; ++j) {
      const int r = k0 + j;
      float v = 0.0f;
      if (p_ok && r < K) {
        const int c = r / 9, t = r - 9 * c, ky = t / 3, kx = t - 3 * ky;
        const int iy = oy + ky - pad, ix = ox + kx - pad;
        if (iy >= 0 && iy < H && ix >= 0 && ix < W) v = xn[int64_t(c) * H * W + iy * W + ix];
      }
      rb[j] = v;
    }
  };
  auto store_step = [&](int buf) {
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      const int e = tid + kIgThreads * j;
      As[buf][e & 7][e >> 3] = ra[j];
    }
#pragma unroll
    for (int j = 0; j < kIgK; ++j) Bs[buf][j][tid] = rb[j];
  };

  float acc[8][8];
#pragma unroll
  for (int i = 0; i < 8; ++i)
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[i][j] = 0.0f;

  const int steps = (K + kIgK - 1) / kIgK;
  load_step(0);
  store_step(0);
  __syncthreads();
  for (int t = 0; t < steps; ++t) {
    const int buf = t & 1;
    if (t + 1 < steps) load_step((t + 1) * kIgK);
    // The k-step of dot_sweep.cuh's tile, with this tile's half-offsets. (Not
    // shared through a helper: that changed the sweep's machine code, which
    // could not be re-timed without a GPU.)
#pragma unroll
    for (int k = 0; k < kIgK; ++k) {
      const float4 a0 = *reinterpret_cast<const float4*>(&As[buf][k][4 * ty]);
      const float4 a1 = *reinterpret_cast<const float4*>(&As[buf][k][kIgM / 2 + 4 * ty]);
      const float4 b0 = *reinterpret_cast<const float4*>(&Bs[buf][k][4 * tx]);
      const float4 b1 = *reinterpret_cast<const float4*>(&Bs[buf][k][kIgN / 2 + 4 * tx]);
      const float a[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
      const float bv[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
      for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(a[i], bv[j], acc[i][j]);
    }
    // The other buffer was last read in step t - 1, before the barrier that
    // ended it; it is refilled now and read after the next barrier.
    if (t + 1 < steps) store_step(buf ^ 1);
    __syncthreads();
  }

  // The epilogue, as the default path's (bias, then residual, then the
  // activation; slope 1: none). Channel i of this thread is 4 ty + i (i < 4)
  // or 32 + 4 ty + i - 4; pixel j is 4 tx + j (j < 4) or 128 + 4 tx + j - 4.
  const int64_t image = int64_t(blockIdx.z) * Cout * P;
  float* yn = y + image;
  const float* rn = res ? res + image : nullptr;
  const bool vec4 = (P & 3) == 0;
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int co = m0 + (i < 4 ? 4 * ty + i : kIgM / 2 + 4 * ty + i - 4);
    if (co >= Cout) continue;
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int p = p0 + half * (kIgN / 2) + 4 * tx;
      const int64_t at = int64_t(co) * P + p;
      float v[4];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        v[j] = acc[i][4 * half + j];
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

// Whether the kernel takes a convolution: 3x3, stride 1, one group, and
// 32-bit pixel and plane offsets.
inline bool implicit_gemm_fits(int64_t N, int64_t Cin, int64_t H, int64_t W, int64_t Cout, int64_t k, int64_t stride,
                               int64_t pad, int64_t groups) {
  const int64_t Ho = H + 2 * pad - 2, Wo = W + 2 * pad - 2, lim = int64_t(1) << 30;
  return k == 3 && stride == 1 && groups == 1 && Ho > 0 && Wo > 0 && N <= 65535 && (Cout + kIgM - 1) / kIgM <= 65535 &&
         Cin * H * W < lim && Cout * Ho * Wo < lim && Cin * 9 < lim && H + pad < lim && W + pad < lim;
}

inline void launch_conv3x3_implicit_gemm(const float* x, const float* w, const float* b, const float* res, float* y,
                                         int64_t N, int64_t Cin, int64_t H, int64_t W, int64_t pad, int64_t Cout,
                                         float slope) {
  const int64_t P = (H + 2 * pad - 2) * (W + 2 * pad - 2);
  const dim3 grid(unsigned((P + kIgN - 1) / kIgN), unsigned((Cout + kIgM - 1) / kIgM), unsigned(N));
  conv3x3_implicit_gemm<<<grid, kIgThreads>>>(x, w, b, res, y, int(Cin), int(H), int(W), int(pad), int(Cout), slope);
  DCSR_CUDA_CHECK_LAUNCH();
}

}  // namespace dcsr::kernels::cuda
