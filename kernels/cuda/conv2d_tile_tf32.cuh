// conv2d forward on TF32 tensor cores as a direct convolution over tiles of
// the output (sm_80 and later), KS x KS (3 or 5), stride 1, any padding, one
// group:
//
//   y[n][co][oy][ox] = act(b[co] + sum_{c, ky, kx} W[co][c][ky][kx] x[n][c][oy + ky - pad][ox + kx - pad]
//                          + res[n][co][oy][ox])
//
// Why another kernel: the width-32 model's layers have 32 output channels, so
// a GEMM over (Cout x Cin*KS*KS) . (Cin*KS*KS x pixels) is 32 rows tall. The
// implicit GEMM (conv2d_implicit_tf32.cuh) rebuilds each column value from x
// with a division per value and a barrier per 8 of K, and im2col + cuBLAS
// moves a column matrix KS*KS times the input (docs/gpu_check_h100.md: the
// whole image's convolutions ran at about 10 TFLOP/s). Here a block stages
// its tile's input once per 8 channels, with the halo the taps need, and
// every tap reads it from shared memory at a shifted place: no column
// values, no division in the inner loop.
//
// Block: kWarps warps compute 32 output channels x a 16 x 16 tile of output
// pixels; warp w owns the tile's rows R w .. R w + R - 1 (R = kRowsPerWarp =
// 16 / kWarps; each row is 2 runs of 8 pixels, an n-tile of mma.m16n8k8 each,
// times two 16-channel m-tiles: 16 R accumulators a thread). Two shapes:
//   8 warps x 2 rows (the first written): per 8 channels of a 3x3 a warp
//     loads 72 A and 48 B fragment words per lane for 72 mma, 1.7 an mma;
//   4 warps x 4 rows: each A fragment serves twice the n-tiles, 144 loads
//     for 144 mma, 1.0 an mma, at twice the accumulators a thread.
// Which is faster is for a GPU to say (DCSR_CONV_PATH=measure times both).
// The input channels go in chunks of 8, one mma k-step per tap:
//   Xs[c][(hy, hx)]   the chunk's 8 channels over the (16 + KS - 1)^2 halo, as TF32
//   Ws[tap][c][co]    the chunk's weights, as TF32
// A warp loads the B fragments of its R + KS - 1 halo rows once per kx and
// uses each for the KS taps ky that read it (row r + ky serves output row r
// at tap ky); the A fragments are loaded once per tap for the warp's 4 R
// products (2 R n-tiles, two m-tiles).
// The next chunk's global loads are in flight (registers) while the current
// one is multiplied, as in the implicit GEMM. At KS = 3 the shared memory is
// double-buffered (one barrier a chunk: a warp stores the next chunk as soon
// as it is done with the current one); 5x5's two buffers would not fit under
// 48 KB, so it has one and a second barrier before the store.
//
// Shared-memory banks: a fragment load has lane 4 g + t read channel (or k)
// t or t + 4 and pixel (or channel) g. The channel stride of Xs is the halo
// rounded up to 8 or 24 modulo 32 (328 for KS = 3, 408 for KS = 5) and Ws's
// channel row is 40 floats, so that the 32 lanes hit 32 banks (8 t + g). The
// weights' staging stores (a thread per (co, c), its KS*KS taps) meet two to
// a bank; a row of 36 would spare them and put two lanes on a bank in every
// A fragment load instead, which are far more.
// Size of a buffer: KS = 3: Xs 10.5 KB + Ws 11.5 KB (two buffers: 44 KB); KS = 5: 13.1 + 32 KB (one).
//
// Error: the operands are rounded to nearest TF32 as they are staged, as in
// conv2d_implicit_tf32.cuh, so the same bound holds:
//   |y - exact| <= (2^-10 + 2^-22 + K 2^-24) sum_r |W[co][r]| |x_r|  (K = Cin*KS*KS)
// up to the epilogue's roundings (tests/test_cuda_conv_implicit.cpp).
//
// Not yet timed on a GPU (study_conv2d versions 18 and 19; tools/gpu_check.sh
// runs them, the whole image with DCSR_CONV_PATH=tile DCSR_TF32=1, and
// DCSR_CONV_PATH=measure, which times both shapes on every layer). Their
// index math is checked on the host emulator.
#pragma once
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/mma_tf32.cuh"

namespace dcsr::kernels::cuda {

constexpr int kTileConvChannels = 32;  // output channels per block
constexpr int kTileConvSide = 16;      // output tile: 16 x 16 pixels
constexpr int kTileConvChunk = 8;      // input channels per shared-memory step (one mma k-step)

// The smallest stride >= n that is 8 or 24 modulo 32 (see the banks above).
__host__ __device__ constexpr int tile_conv_channel_stride(int n) {
  return (n % 32 == 8 || n % 32 == 24) ? n : tile_conv_channel_stride(n + 1);
}

// Blocks of a launch: the tiles of one output plane, for grid.x.
inline int64_t tile_conv_tiles(int64_t Ho, int64_t Wo) {
  return ((Ho + kTileConvSide - 1) / kTileConvSide) * ((Wo + kTileConvSide - 1) / kTileConvSide);
}

// The epilogue for one output value v of channel co: the bias, then the
// residual (rn[at], read only where in_range), then the LeakyReLU (slope 1:
// none), in the order of the default epilogue; b and rn may be null. The
// implicit GEMMs spell the same steps out: written through this function,
// four of their measured kernels compiled to other machine code (sm_90
// cubin compared), and their H100 times would no longer hold.
__device__ __forceinline__ float conv_epilogue(float v, const float* b, int co, const float* rn, int64_t at,
                                               bool in_range, float slope) {
  if (b) v += b[co];
  if (rn && in_range) v += rn[at];
  return v > 0.0f ? v : slope * v;
}

// Threads of a block with kWarps warps.
constexpr int tile_conv_threads(int warps) { return 32 * warps; }

// grid = (tile_conv_tiles(Ho, Wo), ceil(Cout / 32), N); block = tile_conv_threads(kWarps). b and res may be null.
template <int KS, int kWarps>
__global__ void __launch_bounds__(tile_conv_threads(kWarps), kWarps == 8 ? 2 : 3)
    conv_tile_tf32(const float* __restrict__ x, const float* __restrict__ w, const float* __restrict__ b,
                   const float* __restrict__ res, float* __restrict__ y, int Cin, int H, int W, int pad, int Cout,
                   float slope) {
  constexpr int kTaps = KS * KS, kCC = kTileConvChunk, kM = kTileConvChannels, kSide = kTileConvSide;
  constexpr int kThreads = tile_conv_threads(kWarps);
  constexpr int kHaloW = kSide + KS - 1, kHalo = kHaloW * kHaloW;
  constexpr int kXStride = tile_conv_channel_stride(kHalo);  // Xs: floats between channels
  constexpr int kWRow = kM + 8;                              // Ws: floats between input channels
  constexpr int kWTap = kCC * kWRow;                         // Ws: floats between taps
  constexpr int kRowsPerWarp = kSide / kWarps, kHaloRows = kRowsPerWarp + KS - 1;
  constexpr int kPlaces = (kHalo + kThreads - 1) / kThreads;  // halo places a thread stages
  constexpr int kPairs = kM * kCC / kThreads;                 // (output, input) channel pairs of weights a thread
  static_assert(KS == 3 || KS == 5, "3x3 or 5x5");
  static_assert(kWarps == 8 || kWarps == 4, "8 warps x 2 rows or 4 warps x 4 rows");
  static_assert(kPairs * kThreads == kM * kCC, "whole weight pairs a thread");
  constexpr int kBuffers = KS == 3 ? 2 : 1;  // (static shared memory is at most 48 KB)
  __shared__ __align__(16) uint32_t Xs_buffers[kBuffers][kCC * kXStride];
  __shared__ __align__(16) uint32_t Ws_buffers[kBuffers][kTaps * kWTap];

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int g = lane >> 2, t = lane & 3;  // mma_tf32.cuh's group and thread
  const int Ho = H + 2 * pad - KS + 1, Wo = W + 2 * pad - KS + 1;
  const int tiles_x = (Wo + kSide - 1) / kSide;
  const int oy0 = (int(blockIdx.x) / tiles_x) * kSide, ox0 = (int(blockIdx.x) % tiles_x) * kSide;
  const int m0 = int(blockIdx.y) * kM;
  const int64_t plane = int64_t(H) * W;
  const float* xn = x + int64_t(blockIdx.z) * Cin * plane;

  // Staging. Input: this thread's halo places tid + j * kThreads (those
  // inside the halo), all 8 channels of the chunk; offset -1 outside the
  // image (or the halo).
  int offsets[kPlaces];
#pragma unroll
  for (int j = 0; j < kPlaces; ++j) {
    const int place = tid + j * kThreads;
    const int iy = oy0 - pad + place / kHaloW, ix = ox0 - pad + place % kHaloW;
    offsets[j] = (place < kHalo && iy >= 0 && iy < H && ix >= 0 && ix < W) ? iy * W + ix : -1;
  }
  // Weights: this thread's pairs p = tid + j * kThreads, output channel
  // m0 + p / 8 and chunk channel p % 8, each with its KS*KS taps
  // (contiguous in w[co][c][ky][kx]).
  auto pair_co = [&](int j) { return (tid + j * kThreads) / kCC; };
  auto pair_c = [&](int j) { return (tid + j * kThreads) % kCC; };
  // 5x5's 25 weights would not fit beside the rest in registers (ptxas
  // spilled), nor 3x3's two pairs of 9 beside the 4-warp shape's 64
  // accumulators (16 bytes spilled at 168 registers): these load them from
  // global memory when they store them (they are small and cached; the SM's
  // other blocks compute meanwhile). sm_90, ptxas: 124 (3x3) and 122 (5x5)
  // registers with 8 warps, 166 and 168 with 4, no spill.
  constexpr bool kPrefetchWeights = KS == 3 && kWarps == 8;
  float rx[kPlaces][kCC], rw[kPairs][kTaps];
  int next_c0 = 0;  // the chunk load_chunk fetched
  auto load_weights = [&](int c0, int j, float(&into)[kTaps]) {
    const int co = m0 + pair_co(j), c = c0 + pair_c(j);
    const bool ok = co < Cout && c < Cin;
    const float* wc = w + (int64_t(ok ? co : 0) * Cin + (ok ? c : 0)) * kTaps;
#pragma unroll
    for (int tap = 0; tap < kTaps; ++tap) into[tap] = ok ? wc[tap] : 0.0f;
  };
  auto load_chunk = [&](int c0) {
#pragma unroll
    for (int c = 0; c < kCC; ++c) {
      const bool c_ok = c0 + c < Cin;
      const float* xc = xn + int64_t(c_ok ? c0 + c : 0) * plane;
#pragma unroll
      for (int j = 0; j < kPlaces; ++j) rx[j][c] = (c_ok && offsets[j] >= 0) ? xc[offsets[j]] : 0.0f;
    }
    if constexpr (kPrefetchWeights) {
#pragma unroll
      for (int j = 0; j < kPairs; ++j) load_weights(c0, j, rw[j]);
    }
    next_c0 = c0;
  };
  auto store_chunk = [&](int buf) {
    uint32_t* Xs = Xs_buffers[buf];
    uint32_t* Ws = Ws_buffers[buf];
#pragma unroll
    for (int c = 0; c < kCC; ++c)
#pragma unroll
      for (int j = 0; j < kPlaces; ++j)
        if (tid + j * kThreads < kHalo) Xs[c * kXStride + tid + j * kThreads] = to_tf32(rx[j][c]);
#pragma unroll
    for (int j = 0; j < kPairs; ++j) {
      if constexpr (!kPrefetchWeights) load_weights(next_c0, j, rw[j]);
#pragma unroll
      for (int tap = 0; tap < kTaps; ++tap) Ws[tap * kWTap + pair_c(j) * kWRow + pair_co(j)] = to_tf32(rw[j][tap]);
    }
  };

  // acc[i][r][s][q]: channel 16 i + g (+ 8 for q >= 2), tile row R warp + r,
  // tile column 8 s + 2 t (+ 1 for odd q).
  float acc[2][kRowsPerWarp][2][4];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r)
#pragma unroll
      for (int s = 0; s < 2; ++s)
#pragma unroll
        for (int q = 0; q < 4; ++q) acc[i][r][s][q] = 0.0f;

  const int warp_row = kRowsPerWarp * warp;
  load_chunk(0);
  store_chunk(0);
  __syncthreads();
  for (int c0 = 0, buf = 0; c0 < Cin; c0 += kCC, buf = (buf + 1) % kBuffers) {
    const bool more = c0 + kCC < Cin;
    if (more) load_chunk(c0 + kCC);  // in flight during the products
    const uint32_t* Xs = Xs_buffers[buf];
    const uint32_t* Ws = Ws_buffers[buf];
#pragma unroll
    for (int kx = 0; kx < KS; ++kx) {
      // B[k][n] = Xs[channel k][halo row, column n + kx]: fragments of the warp's halo rows.
      uint32_t fb[kHaloRows][2][2];
#pragma unroll
      for (int hr = 0; hr < kHaloRows; ++hr)
#pragma unroll
        for (int s = 0; s < 2; ++s) {
          const int at = (warp_row + hr) * kHaloW + 8 * s + kx + g;
          fb[hr][s][0] = Xs[t * kXStride + at];
          fb[hr][s][1] = Xs[(t + 4) * kXStride + at];
        }
#pragma unroll
      for (int ky = 0; ky < KS; ++ky) {
        // A[m][k] = Ws[tap][channel k][output channel m].
        const uint32_t* wt = Ws + (ky * KS + kx) * kWTap;
        uint32_t fa[2][4];
#pragma unroll
        for (int i = 0; i < 2; ++i) {
          const int m = 16 * i + g;
          fa[i][0] = wt[t * kWRow + m];
          fa[i][1] = wt[t * kWRow + m + 8];
          fa[i][2] = wt[(t + 4) * kWRow + m];
          fa[i][3] = wt[(t + 4) * kWRow + m + 8];
        }
#pragma unroll
        for (int i = 0; i < 2; ++i)
#pragma unroll
          for (int r = 0; r < kRowsPerWarp; ++r)
#pragma unroll
            for (int s = 0; s < 2; ++s) mma_tf32_m16n8k8(acc[i][r][s], fa[i], fb[r + ky][s]);
      }
    }
    if (!more) break;
    // With two buffers the other one was last read in the chunk before, which
    // every warp finished before the barrier that ended it.
    if constexpr (kBuffers == 1) __syncthreads();  // every warp is done with this chunk
    store_chunk((buf + 1) % kBuffers);
    __syncthreads();
  }

  // The epilogue of the implicit GEMM: bias, then residual, then the activation.
  const int64_t P = int64_t(Ho) * Wo, image = int64_t(blockIdx.z) * Cout * P;
  float* yn = y + image;
  const float* rn = res ? res + image : nullptr;
  const bool vec2 = (Wo & 1) == 0;  // then (co, oy, ox even) is an even offset
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int co = m0 + 16 * i + g + 8 * half;
      if (co >= Cout) continue;
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) {
        const int oy = oy0 + warp_row + r;
        if (oy >= Ho) continue;
#pragma unroll
        for (int s = 0; s < 2; ++s) {
          const int ox = ox0 + 8 * s + 2 * t;
          const int64_t at = int64_t(co) * P + int64_t(oy) * Wo + ox;
          float v[2];
#pragma unroll
          for (int q = 0; q < 2; ++q)
            v[q] = conv_epilogue(acc[i][r][s][2 * half + q], b, co, rn, at + q, ox + q < Wo, slope);
          if (vec2 && ox + 1 < Wo) {
            *reinterpret_cast<float2*>(yn + at) = make_float2(v[0], v[1]);
          } else {
#pragma unroll
            for (int q = 0; q < 2; ++q)
              if (ox + q < Wo) yn[at + q] = v[q];
          }
        }
      }
    }
}

}  // namespace dcsr::kernels::cuda
