// Study: conv2d, forward and both gradients, dense 3x3 (the DCSR body's
// convolution), x: (N, Cin, H, W), weight (Cout, Cin, 3, 3), padding 1.
//
//   forward
//     version 0  production: kernels/cuda/conv2d.cu (im2col of whole images + one
//                strided-batched cuBLAS SGEMM per chunk), default 256 MB workspace
//     version 1  im2col + cuBLAS (forced) with a 16 MiB workspace: column chunks
//                that stay in the 50 MB L2 of an H100 between im2col and the GEMM,
//                at the price of narrower GEMMs and more launches (version 13 is
//                the same path with version 0's workspace)
//     version 2  direct convolution, one thread per output value (no workspace)
//   input gradient   version 0 production (GEMM W^T . gy, then col2im as a gather)
//   weight gradient  version 0 production (im2col, then gy . cols^T per image)
//   forward, by stage (where production's time goes)
//     version 5  im2col alone (kernels::cuda::unfold: the same device kernel)
//     version 6  the GEMM alone, on version 5's columns, called as production calls it
//     version 7  im2col specialised to 3x3, padding 1: four consecutive columns per
//                thread, one division per four values, float4 stores. Production's
//                im2col (version 5) was one value per thread, 5x slower than this on
//                an H200 (0.29 vs 0.058 ms at 64x256x256); it then took four columns
//                per thread in general, which measured 0.096-0.099 ms (version 9),
//                and 0.083 ms with k and the stride as compile-time constants. At
//                these sizes each thread writes one float4, so the set-up is the
//                work: production now has a lean 3x3 stride-1 kernel that follows
//                this one (im2col3x3_kernel), which version 5 times
//   forward, candidate without im2col
//     version 8  nine shifted GEMMs: the input is zero-padded once to (H+2) x (W+2);
//                on the padded-width output grid (H x (W+2), two wasted columns per
//                row) every tap (ky, kx) is then a plain GEMM, W_t (Cout x Cin) times
//                the padded planes read from offset ky*(W+2) + kx with the channel
//                stride as row stride, accumulated (beta = 1) into one output; a
//                last pass drops the wasted columns and adds the bias. Writes
//                Cin*(H+2)*(W+2) floats instead of im2col's 9*Cin*H*W, but reads
//                and writes the output nine times with K = Cin per GEMM.
//   forward stage, diagnosis
//     version 9  production's general im2col kernel (kernels/cuda/im2col.cuh; k and
//                the stride read at run time), compiled in this program; version 5
//                now takes production's 3x3 stride-1 specialisation. Against version
//                7 it tells apart a difference of code from one of build or launch
//   forward, candidate with a third of im2col's columns
//     version 10 three shifted GEMMs with K = 3*Cin: columns unfolded along x only,
//                cols3[(c*3 + kx)][yy*W + ox] = x[c][yy - 1][ox + kx - 1] for yy in
//                [0, H+2) (a zero row above and below); tap row ky is then the GEMM
//                W_ky (Cout x 3Cin) . cols3 from column ky*W (row stride (H+2)*W),
//                accumulated (beta = 1) into y; a last pass adds the bias. Writes
//                3*Cin*(H+2)*W floats (a third of im2col's), K = 192 per GEMM.
//                Measured on an H200, 64 -> 64 at 256^2: 0.297 ms against
//                production's 0.23 (0.45 of the equivalent GEMM): three K = 192
//                GEMMs cost more than one K = 576 GEMM plus im2col, as the nine
//                K = 64 GEMMs of version 8 (0.27 ms) did.
//   forward without a column matrix: production's implicit GEMM
//   (kernels/cuda/conv2d_implicit.cuh), which version 0 takes where
//   kernels/conv_forward_plan.h says so
//     version 11 64 channels x 256 pixels per block, each thread 8 x 8 (the
//                patch matching's FFMA tiling), columns loaded straight from the
//                image, the epilogue in the store. Measured on an H100
//                (7a792a5), 64 -> 64 at 256x256: 0.185 ms against version 0's
//                0.229 (then im2col + cuBLAS), 0.79 of the equivalent GEMM; 16
//                images of 48x48 (144 blocks for 132 SMs): 0.183 against 0.144.
//     version 12 64 x 128 pixels per block, each thread 8 x 4: twice the blocks
//                for a given output, so finer steps of blocks per SM. H100
//                (bfd0297): 0.346 ms at 332x332 against version 11's 0.374 and
//                im2col's 0.370; 0.207 at 256x256 against version 11's 0.192.
//     version 13 production with im2col + cuBLAS forced: what version 0 was
//                before production chose per convolution. Versions 11-13 on this program's five
//                shapes are the measurements kernels/conv_forward_plan.cpp's cost
//                model is fitted to.
//     version 14 version 11 on TF32 tensor cores (kernels/cuda/conv2d_implicit_tf32.cuh:
//                mma.m16n8k8, the operands rounded to TF32 as they are staged),
//                what production takes with DCSR_TF32=1. H100 (2026-12-05): 0.128 ms
//                at 256x256, 0.249 at 332x332 (float32: 0.192, 0.346).
//     version 15 version 12 on TF32 tensor cores likewise (0.140, 0.229 ms).
//     version 16 32 channels x 256 pixels per block, each thread 4 x 8, float32:
//                for layers of at most 32 output channels (the width-32 model's),
//                where a 64-channel block is half idle and im2col's column matrix
//                outweighs its GEMM. The last two default shapes are such layers
//                (the 4K tile's SR- and LR-resolution 32 -> 32); not yet timed.
//     version 17 version 16 on TF32 tensor cores (conv2d_implicit_tf32.cuh with
//                M = 32: eight warps along the pixels); not yet timed.
//     version 18 the direct tile kernel on TF32 tensor cores
//                (kernels/cuda/conv2d_tile_tf32.cuh, DCSR_CONV_PATH=tile): 32
//                channels x 16x16 pixels per block, the input staged once per 8
//                channels with the taps' halo, each tap reading it in place (no
//                column values, no division in the inner loop); 124 registers,
//                two 22 KB shared-memory buffers. Not yet timed.
//
// The goal (kernels/cuda/conv2d.cu): forward 64->64 at 256x256 at >= 70% of
// cuBLAS SGEMM on the equivalent GEMM (M = Cout = 64, N = H*W = 65536, K = 576),
// which this program times in the same run ("vs_equivalent_gemm" = GEMM time /
// conv time). The two numbers: 4.8 GFLOP per image (~0.1 ms at 50 TFLOP/s);
// im2col writes 151 MB (~0.05 ms at 3 TB/s).
//
// usage: study_conv2d [--quick] [--version V] [--shape NxCinxHxWxCout]...
#include "kernels/cpu/cpu_kernels.h"
#include "runtime/device.h"
#include "runtime/switches.h"
#include "kernels/cuda/cublas_handle.h"
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_gemm.h"
#include "kernels/cuda/conv2d_implicit_launch.cuh"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/im2col.cuh"
#include "kernels/study/study_common.cuh"

using namespace dcsr;
using dcsr::kernels::cuda::grid_for;
using dcsr::kernels::cuda::kBlock;

namespace {

struct ConvCase {
  int64_t N, Cin, H, W, Cout;
};

// ---- version 2: direct convolution (3x3, stride 1, padding 1) ----
__global__ void conv3x3_direct(const float* x, const float* w, const float* b, float* y, int64_t N, int64_t Cin,
                               int64_t H, int64_t W, int64_t Cout) {
  const int64_t total = N * Cout * H * W;
  DCSR_GRID_STRIDE_LOOP(e, total) {
    const int64_t ox = e % W, oy = (e / W) % H, co = (e / (H * W)) % Cout, n = e / (Cout * H * W);
    float acc = b[co];
    for (int64_t ci = 0; ci < Cin; ++ci) {
      const float* xp = x + (n * Cin + ci) * H * W;
      const float* wp = w + (co * Cin + ci) * 9;
      for (int ky = 0; ky < 3; ++ky) {
        const int64_t iy = oy + ky - 1;
        if (iy < 0 || iy >= H) continue;
        for (int kx = 0; kx < 3; ++kx) {
          const int64_t ix = ox + kx - 1;
          if (ix >= 0 && ix < W) acc = fmaf(wp[ky * 3 + kx], xp[iy * W + ix], acc);
        }
      }
    }
    y[e] = acc;
  }
}

// ---- version 7: im2col for 3x3, stride 1, padding 1, four columns per thread ----
// Grid: x strides over groups of four columns, y = row r of the column
// matrix, z = image. Needs P % 4 == 0 for the float4 stores (checked by the caller).
__global__ void im2col3x3_x4(const float* __restrict__ x, float* __restrict__ cols, int C, int H, int W) {
  const int K = C * 9, P = H * W, r = blockIdx.y, i = blockIdx.z;
  const int c = r / 9, ky = (r / 3) % 3, kx = r % 3;
  const float* plane = x + (int64_t(i) * C + c) * P;
  float4* dst = reinterpret_cast<float4*>(cols + (int64_t(i) * K + r) * P);
  for (int q = blockIdx.x * blockDim.x + threadIdx.x; q < P / 4; q += gridDim.x * blockDim.x) {
    int oy = (4 * q) / W, ox = 4 * q - oy * W;
    float v[4];
    for (int j = 0; j < 4; ++j) {
      const int iy = oy - 1 + ky, ix = ox - 1 + kx;
      v[j] = (iy >= 0 && iy < H && ix >= 0 && ix < W) ? plane[iy * W + ix] : 0.0f;
      if (++ox == W) ox = 0, ++oy;
    }
    dst[q] = make_float4(v[0], v[1], v[2], v[3]);
  }
}

// ---- version 8: shifted GEMMs over a zero-padded input ----
// wt[t][co][ci] = w[co][ci][t], t = ky*3 + kx: one Cout x Cin matrix per tap.
__global__ void taps_major(const float* w, float* wt, int64_t Cout, int64_t Cin) {
  DCSR_GRID_STRIDE_LOOP(e, Cout * Cin * 9) {
    const int64_t t = e % 9, ci = (e / 9) % Cin, co = e / (9 * Cin);
    wt[(t * Cout + co) * Cin + ci] = w[e];
  }
}

// xp[plane][(y+1)*(W+2) + x+1] = x[plane][y][x], zero border; planes = N*Cin.
__global__ void pad_one(const float* x, float* xp, int64_t planes, int64_t H, int64_t W) {
  const int64_t Wp = W + 2, Hp = H + 2;
  DCSR_GRID_STRIDE_LOOP(e, planes * Hp * Wp) {
    const int64_t px = e % Wp, py = (e / Wp) % Hp, plane = e / (Hp * Wp);
    const bool inside = py >= 1 && py <= H && px >= 1 && px <= W;
    xp[e] = inside ? x[(plane * H + py - 1) * W + px - 1] : 0.0f;
  }
}

// y[n][co][oy][ox] = wide[n][co][oy*(W+2) + ox] + b[co].
__global__ void crop_bias(const float* wide, const float* b, float* y, int64_t N, int64_t Cout, int64_t H,
                          int64_t W) {
  DCSR_GRID_STRIDE_LOOP(e, N * Cout * H * W) {
    const int64_t ox = e % W, oy = (e / W) % H, plane = e / (H * W), co = plane % Cout;
    y[e] = wide[(plane * H + oy) * (W + 2) + ox] + b[co];
  }
}

// ---- version 10: three shifted GEMMs over columns unfolded along x ----
// cols3[i][(c*3 + kx)][yy*W + ox] = x[i][c][yy - 1][ox + kx - 1] (0 outside), yy in [0, H+2).
__global__ void unfold_x3(const float* __restrict__ x, float* __restrict__ cols3, int64_t N, int64_t C, int64_t H,
                          int64_t W) {
  const int64_t P3 = (H + 2) * W;
  DCSR_GRID_STRIDE_LOOP(e, N * C * 3 * P3) {
    const int64_t p = e % P3, r = (e / P3) % (3 * C), i = e / (3 * C * P3);
    const int64_t c = r / 3, kx = r % 3, iy = p / W - 1, ix = p % W + kx - 1;
    cols3[e] = (iy >= 0 && iy < H && ix >= 0 && ix < W) ? x[((i * C + c) * H + iy) * W + ix] : 0.0f;
  }
}

// w3[ky][co][c*3 + kx] = w[co][c][ky][kx]: one Cout x 3Cin matrix per tap row.
__global__ void tap_rows_major(const float* w, float* w3, int64_t Cout, int64_t Cin) {
  DCSR_GRID_STRIDE_LOOP(e, Cout * Cin * 9) {
    const int64_t kx = e % 3, ky = (e / 3) % 3, ci = (e / 9) % Cin, co = e / (9 * Cin);
    w3[(ky * Cout + co) * 3 * Cin + ci * 3 + kx] = w[e];
  }
}

__global__ void add_bias(float* y, const float* b, int64_t n, int64_t Cout, int64_t P) {
  DCSR_GRID_STRIDE_LOOP(e, n) y[e] += b[(e / P) % Cout];
}

void run_case(const ConvCase& c, int only_version, const study::Peaks& peaks) {
  const std::string shape = study::dims({c.N, c.Cin, c.H, c.W}) + "->" + std::to_string(c.Cout);
  const int64_t K = c.Cin * 9, P = c.H * c.W;
  const double flop = 2.0 * double(c.N) * double(c.Cout) * double(P) * double(K);
  Generator gen(21);
  Tensor x = uniform({c.N, c.Cin, c.H, c.W}, gen, -1.0, 1.0), w = uniform({c.Cout, c.Cin, 3, 3}, gen, -0.1, 0.1);
  Tensor b = uniform({c.Cout}, gen, -0.1, 0.1), gy = uniform({c.N, c.Cout, c.H, c.W}, gen, -1.0, 1.0);
  // CPU references: the CPU backend's kernels.
  const int64_t cpu_ws = int64_t(256) << 20;
  Tensor y_ref = empty({c.N, c.Cout, c.H, c.W}), gx_ref = empty(x.shape()), gw_ref = empty(w.shape()), no_bias;
  kernels::cpu::conv2d_forward(x, w, b, Tensor(), y_ref, 1, 1, 1, cpu_ws, 1.0);
  kernels::cpu::conv2d_backward_input(gy, w, gx_ref, 1, 1, 1, cpu_ws);
  kernels::cpu::conv2d_backward_weight(gy, x, gw_ref, no_bias, 1, 1, 1, cpu_ws);
  // The forward's two stages: the column matrices, and the product without the bias.
  Tensor cols_ref = empty({c.N, K, P}), y_nobias_ref = empty(y_ref.shape());
  kernels::cpu::unfold(x, cols_ref, 3, 1, 1);
  kernels::cpu::conv2d_forward(x, w, no_bias, Tensor(), y_nobias_ref, 1, 1, 1, cpu_ws, 1.0);
  Tensor dx = x.to(kCUDA), dw = w.to(kCUDA), db = b.to(kCUDA), dgy = gy.to(kCUDA);
  Tensor dy = empty(y_ref.shape(), kFloat32, kCUDA), dgx = empty(x.shape(), kFloat32, kCUDA);
  Tensor dgw = empty(w.shape(), kFloat32, kCUDA), dgb;
  Tensor dcols = empty({c.N, K, P}, kFloat32, kCUDA), dy_nobias = empty(y_ref.shape(), kFloat32, kCUDA);
  // Version 8's buffers: taps-major weights, the padded input (+8 floats: the
  // last tap's GEMM reads two floats past the last plane, into wasted columns),
  // and the padded-width output.
  const int64_t Hp = c.H + 2, Wp = c.W + 2;
  Tensor dwt = empty({9 * c.Cout * c.Cin}, kFloat32, kCUDA);
  Tensor dxp = empty({c.N * c.Cin * Hp * Wp + 8}, kFloat32, kCUDA);
  Tensor dwide = empty({c.N * c.Cout * c.H * Wp}, kFloat32, kCUDA);
  // Version 10's buffers: the x-unfolded columns and the tap-row weights.
  Tensor dcols3 = empty({c.N * 3 * c.Cin * (c.H + 2) * c.W}, kFloat32, kCUDA);
  Tensor dw3 = empty({9 * c.Cout * c.Cin}, kFloat32, kCUDA);

  // The equivalent GEMM, timed on the same device: W (Cout x K) . cols (K x P),
  // per image, as one strided-batched cuBLAS call over a random cols buffer.
  Tensor cols = uniform({c.N, K, P}, gen, -1.0, 1.0, kFloat32, kCUDA);
  cublasHandle_t handle = kernels::cuda::cublas_handle();
  const float one = 1.0f, zero = 0.0f;
  const double gemm_ms = study::time_ms([&] {
    DCSR_CUBLAS_CHECK(cublasSgemmStridedBatched(handle, CUBLAS_OP_N, CUBLAS_OP_N, int(P), int(c.Cout), int(K), &one,
                                                cols.data<float>(), int(P), K * P, dw.data<float>(), int(K), 0, &zero,
                                                dy.data<float>(), int(P), c.Cout * P, int(c.N)));
  });
  cols = Tensor();
  study::print_baseline("conv2d", shape, "equivalent GEMM (cuBLAS SGEMM, batched over images)", gemm_ms, flop, peaks);

  // Versions 1 and 13: production's forward with the im2col path forced, with a given workspace.
  auto im2col_forward = [&](int64_t workspace_bytes) {
    const runtime::CudaConvPath before = runtime::cuda_conv_path();
    runtime::set_cuda_conv_path(runtime::CudaConvPath::kIm2col);
    kernels::cuda::conv2d_forward(dx, dw, db, Tensor(), dy, 1, 1, 1, workspace_bytes, 1.0);
    runtime::set_cuda_conv_path(before);
  };
  // Versions 11, 12, 16 (float32), 14, 15 and 17 (TF32 tensor cores): production's implicit GEMM with
  // one block shape, the bias in its store.
  auto implicit_gemm = [&](kernels::ConvForwardKernel block, bool tf32 = false) {
    kernels::cuda::launch_conv_implicit_gemm(block, tf32, dx.data<float>(), dw.data<float>(), db.data<float>(),
                                             nullptr, dy.data<float>(), c.N, c.Cin, c.H, c.W, 3, 1, c.Cout, 1.0f);
  };
  // float32 sums of 576 (forward, input gradient) or N*H*W (weight gradient) products; TF32 operands
  // (10 mantissa bits) each round by up to 2^-11 relative.
  const double tol = 1e-4, tf32_tol = 2e-3;
  // The im2col stages (versions 5, 7, 9) do no arithmetic: they read the input
  // and write the columns (9 Cin x H W per image), rated in GB/s against the copy.
  const double im2col_bytes = 4.0 * double(c.N) * double(c.Cin) * double(P) * (1.0 + 9.0);
  const std::vector<study::Version> versions = {
      {"forward: production (whole images per chunk, 256 MB workspace)", {&dy}, {&y_ref}, tol,
       [&] { kernels::cuda::conv2d_forward(dx, dw, db, Tensor(), dy, 1, 1, 1, int64_t(256) << 20, 1.0); }},
      {"forward: im2col + cuBLAS with a 16 MiB workspace (L2-sized column chunks)", {&dy}, {&y_ref}, tol,
       [&] { im2col_forward(int64_t(16) << 20); }},
      {"forward: direct, one thread per output", {&dy}, {&y_ref}, tol,
       [&] {
         conv3x3_direct<<<grid_for(dy.numel()), kBlock>>>(dx.data<float>(), dw.data<float>(), db.data<float>(),
                                                          dy.data<float>(), c.N, c.Cin, c.H, c.W, c.Cout);
         DCSR_CUDA_CHECK_LAUNCH();
       }},
      {"input gradient: production (GEMM + col2im gather)", {&dgx}, {&gx_ref}, tol,
       [&] { kernels::cuda::conv2d_backward_input(dgy, dw, dgx, 1, 1, 1, int64_t(256) << 20); }},
      {"weight gradient: production (im2col + GEMM per image)", {&dgw}, {&gw_ref}, tol,
       [&] { kernels::cuda::conv2d_backward_weight(dgy, dx, dgw, dgb, 1, 1, 1, int64_t(256) << 20); }},
      {"forward stage: im2col alone (whole images)", {&dcols}, {&cols_ref}, 0.0,
       [&] { kernels::cuda::unfold(dx, dcols, 3, 1, 1); }, 0.0, im2col_bytes},
      {"forward stage: the GEMM alone, on im2col's columns (as production calls it)", {&dy_nobias}, {&y_nobias_ref},
       tol,
       [&] {
         kernels::cuda::gemm_raw(dw.data<float>(), K, dcols.data<float>(), P, dy_nobias.data<float>(), P, c.Cout, P, K,
                                 false, false, 1.0f, 0.0f, c.N, 0, K * P, c.Cout * P);
       }},
      {"forward stage candidate: im2col, 4 columns per thread, float4 stores", {&dcols}, {&cols_ref}, 0.0,
       [&] {
         DCSR_CHECK(P % 4 == 0, "study version 7 needs H*W divisible by 4");
         const dim3 grid(unsigned(std::min<int64_t>((P / 4 + kBlock - 1) / kBlock, 1024)), unsigned(K), unsigned(c.N));
         im2col3x3_x4<<<grid, kBlock>>>(dx.data<float>(), dcols.data<float>(), int(c.Cin), int(c.H), int(c.W));
         DCSR_CUDA_CHECK_LAUNCH();
       }, 0.0, im2col_bytes},
      {"forward candidate: nine shifted GEMMs over a zero-padded input (no im2col)", {&dy}, {&y_ref}, tol,
       [&] {
         taps_major<<<grid_for(dwt.numel()), kBlock>>>(dw.data<float>(), dwt.data<float>(), c.Cout, c.Cin);
         DCSR_CUDA_CHECK_LAUNCH();
         pad_one<<<grid_for(c.N * c.Cin * Hp * Wp), kBlock>>>(dx.data<float>(), dxp.data<float>(), c.N * c.Cin, c.H,
                                                             c.W);
         DCSR_CUDA_CHECK_LAUNCH();
         for (int64_t t = 0; t < 9; ++t) {
           // wide (Cout x H*Wp) (+)= W_t (Cout x Cin) . padded planes from offset ky*Wp + kx (Cin x H*Wp, row
           // stride Hp*Wp), per image.
           kernels::cuda::gemm_raw(dwt.data<float>() + t * c.Cout * c.Cin, c.Cin, dxp.data<float>() + (t / 3) * Wp + t % 3,
                                   Hp * Wp, dwide.data<float>(), c.H * Wp, c.Cout, c.H * Wp, c.Cin, false, false, 1.0f,
                                   t == 0 ? 0.0f : 1.0f, c.N, 0, c.Cin * Hp * Wp, c.Cout * c.H * Wp);
         }
         crop_bias<<<grid_for(dy.numel()), kBlock>>>(dwide.data<float>(), db.data<float>(), dy.data<float>(), c.N,
                                                     c.Cout, c.H, c.W);
         DCSR_CUDA_CHECK_LAUNCH();
       }},
      {"forward stage: production's general im2col kernel (k, stride at run time), compiled here", {&dcols}, {&cols_ref}, 0.0,
       [&] {
         const kernels::cuda::ColumnGeometry g{c.Cin, c.H, c.W, 3, 1, 1, c.H, c.W};
         kernels::cuda::launch_im2col(dx.data<float>(), c.Cin * P, dcols.data<float>(), c.N, g, 0, P,
                                      /*specialise=*/false);
       }, 0.0, im2col_bytes},
      {"forward candidate: three shifted GEMMs, K = 3*Cin, over columns unfolded along x", {&dy}, {&y_ref}, tol,
       [&] {
         const int64_t P3 = (c.H + 2) * c.W, K3 = 3 * c.Cin;
         tap_rows_major<<<grid_for(dw3.numel()), kBlock>>>(dw.data<float>(), dw3.data<float>(), c.Cout, c.Cin);
         DCSR_CUDA_CHECK_LAUNCH();
         unfold_x3<<<grid_for(dcols3.numel()), kBlock>>>(dx.data<float>(), dcols3.data<float>(), c.N, c.Cin, c.H, c.W);
         DCSR_CUDA_CHECK_LAUNCH();
         for (int64_t ky = 0; ky < 3; ++ky) {
           // y (Cout x P) (+)= W_ky (Cout x 3Cin) . cols3 from column ky*W (3Cin x P, row stride P3), per image.
           kernels::cuda::gemm_raw(dw3.data<float>() + ky * c.Cout * K3, K3, dcols3.data<float>() + ky * c.W, P3,
                                   dy.data<float>(), P, c.Cout, P, K3, false, false, 1.0f, ky == 0 ? 0.0f : 1.0f, c.N,
                                   0, K3 * P3, c.Cout * P);
         }
         add_bias<<<grid_for(dy.numel()), kBlock>>>(dy.data<float>(), db.data<float>(), dy.numel(), c.Cout, P);
         DCSR_CUDA_CHECK_LAUNCH();
       }},
      {"forward: production's implicit GEMM, 64 channels x 256 pixels per block (8 x 8 per thread)", {&dy}, {&y_ref},
       tol, [&] { implicit_gemm(kernels::ConvForwardKernel::kImplicit64x256); }},
      {"forward: production's implicit GEMM, 64 channels x 128 pixels per block (8 x 4 per thread)", {&dy}, {&y_ref},
       tol, [&] { implicit_gemm(kernels::ConvForwardKernel::kImplicit64x128); }},
      {"forward: production with im2col + cuBLAS forced (DCSR_CONV_PATH=im2col)", {&dy}, {&y_ref}, tol,
       [&] { im2col_forward(int64_t(256) << 20); }},
      {"forward: production's implicit GEMM on TF32 tensor cores, 64 channels x 256 pixels per block", {&dy},
       {&y_ref}, tf32_tol, [&] { implicit_gemm(kernels::ConvForwardKernel::kImplicit64x256, true); }},
      {"forward: production's implicit GEMM on TF32 tensor cores, 64 channels x 128 pixels per block", {&dy},
       {&y_ref}, tf32_tol, [&] { implicit_gemm(kernels::ConvForwardKernel::kImplicit64x128, true); }},
      {"forward: production's implicit GEMM, 32 channels x 256 pixels per block (4 x 8 per thread)", {&dy}, {&y_ref},
       tol, [&] { implicit_gemm(kernels::ConvForwardKernel::kImplicit32x256); }},
      {"forward: production's implicit GEMM on TF32 tensor cores, 32 channels x 256 pixels per block", {&dy},
       {&y_ref}, tf32_tol, [&] { implicit_gemm(kernels::ConvForwardKernel::kImplicit32x256, true); }},
      {"forward: production's direct tile kernel on TF32 tensor cores, 32 channels x 16x16 pixels per block",
       {&dy}, {&y_ref}, tf32_tol,
       [&] {
         kernels::cuda::launch_conv_tile_tf32(8, dx.data<float>(), dw.data<float>(), db.data<float>(), nullptr,
                                              dy.data<float>(), c.N, c.Cin, c.H, c.W, 3, 1, c.Cout, 1.0f);
       }},
      {"forward: the tile kernel with 4 warps of 4 rows (an A fragment serves twice the n-tiles)", {&dy}, {&y_ref},
       tf32_tol,
       [&] {
         kernels::cuda::launch_conv_tile_tf32(4, dx.data<float>(), dw.data<float>(), db.data<float>(), nullptr,
                                              dy.data<float>(), c.N, c.Cin, c.H, c.W, 3, 1, c.Cout, 1.0f);
       }},
  };
  study::run_versions("conv2d", shape, versions, only_version, flop, 0.0, peaks,
                      [&](int v, const study::Check& check, double ms) {
                        if (check.ok && versions[size_t(v)].flop != 0.0)  // not for the im2col stages
                          std::printf("{\"study\": \"conv2d\", \"shape\": \"%s\", \"version\": %d, "
                                      "\"vs_equivalent_gemm\": %.3f}\n",
                                      shape.c_str(), v, gemm_ms / ms);
                      });
}

}  // namespace

int main(int argc, char** argv) {
  return study::study_main(argc, argv, "conv2d", "NxCinxHxWxCout", 5, [](const study::Options& o,
                                                                         const study::Peaks& peaks) {
    std::vector<ConvCase> cases;
    for (const std::vector<int64_t>& f : o.shapes) cases.push_back({f[0], f[1], f[2], f[3], f[4]});
    // The goal's shape (one image), a training batch of patches, the first layer.
    if (cases.empty() && study::quick_mode()) cases = {{2, 5, 11, 12, 7}};
    // Then the 4K inference tile's two most common layers (LR and SR resolution),
    // at width 64 and at the default model's width 32.
    if (cases.empty())
      cases = {{1, 64, 256, 256, 64}, {16, 64, 48, 48, 64}, {4, 3, 128, 128, 64}, {1, 64, 166, 166, 64},
               {1, 64, 332, 332, 64}, {1, 32, 332, 332, 32}, {1, 32, 166, 166, 32}};
    for (const ConvCase& c : cases) run_case(c, o.only_version, peaks);
  });
}
