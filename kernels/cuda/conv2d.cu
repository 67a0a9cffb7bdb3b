// CUDA conv2d, float32: forward, input gradient, weight (and bias) gradient.
// x: (N, Cin, H, W); weight: (Cout, Cin/groups, k, k); y: (N, Cout, Ho, Wo).
//
// Dense and grouped convolutions are im2col + cuBLAS GEMM over chunks
// (kernels/cuda/im2col.cuh). Per group g, with K = Cin/groups * k * k rows and
// P = Ho * Wo columns per image:
//   forward         y_n,g (cout_g x P)  = W_g (cout_g x K) . cols_n (K x P)
//   input gradient  gcols_n (K x P)     = W_g^T . gy_n,g,  then col2im (a gather)
//   weight gradient gW_g (cout_g x K)  += gy_n,g . cols_n^T
// A chunk is `nimg` whole images (or, for images whose column matrix exceeds
// the workspace, a range of columns of one image): one im2col launch fills
// the workspace (nimg, K, len) and ONE strided-batched GEMM covers the chunk,
// the weight shared across the batch with stride 0. The workspace is a tensor
// from the caching pool, at most `workspace_bytes` (one column at least).
//
// Pointwise convolutions (1x1, stride 1, no padding) skip im2col: the input
// planes are the column matrix. Depthwise convolutions (one channel per
// group) are direct kernels: a GEMM with one row per group is all overhead.
//
// 3x3 and 5x5 stride-1 single-group forwards can instead run as an implicit
// GEMM (kernels/cuda/conv2d_implicit.cuh): kernels/conv_forward_plan.h picks
// the kernel per convolution with a cost model fitted to H100 timings;
// runtime::set_cuda_conv_path / DCSR_CONV_PATH can force one path, or have
// each shape's first call time every candidate and keep the fastest
// (measure: kernels/cuda/conv_forward_measure.h). With TF32
// on (DCSR_TF32=1) and a GPU that has TF32 tensor cores, the implicit GEMM
// runs its tensor-core twin (kernels/cuda/conv2d_implicit_tf32.cuh), as
// cuBLAS then runs the im2col path's GEMMs on them; with DCSR_CONV_PATH=tile
// as well, these convolutions run the direct tile kernel on the tensor cores
// (kernels/cuda/conv2d_tile_tf32.cuh).
//
// Performance design (measured by kernels/study/conv2d.cu and dcsr_bench):
// the goal is a 64->64 3x3 forward at 256x256 at >= 70% of cuBLAS SGEMM on
// the equivalent GEMM (64 x 65536 x 576). The GEMM itself is that SGEMM; the
// extra cost is im2col, which writes K*P floats (151 MB for that shape,
// ~0.05 ms at 3 TB/s) against ~0.1 ms of GEMM arithmetic. Whole images per
// chunk keep the GEMM wide (N = P columns: enough tiles for every SM even at
// M = Cout = 64); the study also times smaller, L2-sized chunks. Measured on
// an H200 (fd13acf): im2col 0.060 ms + GEMM 0.14 ms + the epilogue = 0.212 ms,
// 0.68 of the equivalent GEMM's rate; shifted GEMMs without im2col (nine with
// K = Cin, three with K = 3 Cin) were slower (study versions 8 and 10). The
// implicit GEMM, with no column matrix and the epilogue in its store, reached
// 0.71-0.79 of it on an H100 (0.19 ms; kernels/conv_forward_plan.cpp).
#include "kernels/cuda/conv2d_implicit_launch.cuh"
#include "kernels/cuda/conv_forward_measure.h"
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_gemm.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/im2col.cuh"
#include "runtime/device.h"
#include "runtime/profiler.h"
#include "runtime/switches.h"

namespace dcsr::kernels::cuda {

namespace {

struct ConvShape {
  int64_t N, Cin, H, W, Cout, k, stride, pad, groups, Ho, Wo;
  int64_t cin_g() const { return Cin / groups; }
  int64_t cout_g() const { return Cout / groups; }
  int64_t K() const { return cin_g() * k * k; }
  int64_t P() const { return Ho * Wo; }
  bool pointwise() const { return k == 1 && stride == 1 && pad == 0; }
  bool depthwise() const { return cin_g() == 1 && cout_g() == 1; }
  ColumnGeometry geometry() const { return {cin_g(), H, W, k, stride, pad, Ho, Wo}; }
};

ConvShape conv_shape(const Tensor& x, const Tensor& weight, int64_t stride, int64_t pad, int64_t groups, int64_t Ho,
                     int64_t Wo) {
  return {x.size(0), x.size(1), x.size(2), x.size(3), weight.size(0), weight.size(2), stride, pad, groups, Ho, Wo};
}

// Chunks of the column matrices: `images` whole images per chunk, or (when
// one image does not fit) `len` columns of one image.
struct Chunking {
  int64_t images = 1, len = 1;
};

Chunking plan_chunks(const ConvShape& s, int64_t workspace_bytes) {
  const int64_t column_bytes = s.K() * int64_t(sizeof(float));
  const int64_t image_bytes = column_bytes * s.P();
  Chunking c;
  if (image_bytes <= workspace_bytes) {
    c.len = s.P();
    c.images = std::max<int64_t>(1, std::min(s.N, workspace_bytes / std::max<int64_t>(image_bytes, 1)));
  } else {
    c.images = 1;
    c.len = std::max<int64_t>(1, std::min(s.P(), workspace_bytes / column_bytes));
  }
  return c;
}

// Calls fn(n0, ni, p0, len) for every chunk, images outer, columns inner.
template <typename Fn>
void for_each_chunk(const ConvShape& s, const Chunking& c, Fn&& fn) {
  for (int64_t n0 = 0; n0 < s.N; n0 += c.images)
    for (int64_t p0 = 0; p0 < s.P(); p0 += c.len) fn(n0, std::min(c.images, s.N - n0), p0, std::min(c.len, s.P() - p0));
}

// The epilogue: y[n][co][p] = act((y[n][co][p] + b[co]) + r[n][co][p]); b and r
// may be null; act(v) = v > 0 ? v : slope * v (slope 1: none).
__global__ void epilogue_kernel(float* y, const float* b, const float* r, int64_t n, int64_t Cout, int64_t P,
                                float slope) {
  DCSR_GRID_STRIDE_LOOP(e, n) {
    float v = y[e];
    if (b) v += b[(e / P) % Cout];
    if (r) v += r[e];
    y[e] = v > 0.0f ? v : slope * v;
  }
}

// ---- depthwise: direct loops, in the CPU's summation order ----

__global__ void depthwise_forward_kernel(const float* x, const float* w, const float* b, const float* r, float* y,
                                         ConvShape s, float slope) {
  const int64_t n_out = s.N * s.Cout * s.Ho * s.Wo;
  DCSR_GRID_STRIDE_LOOP(e, n_out) {
    const int64_t ox = e % s.Wo, oy = (e / s.Wo) % s.Ho, plane = e / (s.Ho * s.Wo), c = plane % s.Cin;
    const float* xp = x + plane * s.H * s.W;
    const float* wc = w + c * s.k * s.k;
    float acc = b ? b[c] : 0.0f;
    for (int64_t ky = 0; ky < s.k; ++ky) {
      const int64_t iy = oy * s.stride - s.pad + ky;
      if (iy < 0 || iy >= s.H) continue;
      for (int64_t kx = 0; kx < s.k; ++kx) {
        const int64_t ix = ox * s.stride - s.pad + kx;
        if (ix < 0 || ix >= s.W) continue;
        acc = fmaf(wc[ky * s.k + kx], xp[iy * s.W + ix], acc);
      }
    }
    if (r) acc += r[e];
    y[e] = acc > 0.0f ? acc : slope * acc;
  }
}

// One thread per input pixel gathers the outputs that read it.
__global__ void depthwise_backward_input_kernel(const float* gy, const float* w, float* gx, ConvShape s) {
  const int64_t n_in = s.N * s.Cin * s.H * s.W;
  DCSR_GRID_STRIDE_LOOP(e, n_in) {
    const int64_t ix = e % s.W, iy = (e / s.W) % s.H, plane = e / (s.H * s.W), c = plane % s.Cin;
    const float* g = gy + plane * s.Ho * s.Wo;
    const float* wc = w + c * s.k * s.k;
    float acc = 0.0f;
    for (int64_t ky = 0; ky < s.k; ++ky) {
      const int64_t ny = iy + s.pad - ky;
      if (ny < 0 || ny % s.stride != 0 || ny / s.stride >= s.Ho) continue;
      for (int64_t kx = 0; kx < s.k; ++kx) {
        const int64_t nx = ix + s.pad - kx;
        if (nx < 0 || nx % s.stride != 0 || nx / s.stride >= s.Wo) continue;
        acc = fmaf(wc[ky * s.k + kx], g[(ny / s.stride) * s.Wo + nx / s.stride], acc);
      }
    }
    gx[e] = acc;
  }
}

// One block per tap (c, ky, kx): sum over the batch and the output pixels of
// grad_y times the input pixel the tap read, in double, then a block tree.
__global__ void depthwise_backward_weight_kernel(const float* gy, const float* x, float* gw, ConvShape s) {
  const int64_t taps = s.Cin * s.k * s.k, per_tap = s.N * s.Ho * s.Wo;
  for (int64_t t = blockIdx.x; t < taps; t += gridDim.x) {
    const int64_t c = t / (s.k * s.k), ky = (t / s.k) % s.k, kx = t % s.k;
    double acc = 0.0;
    for (int64_t e = threadIdx.x; e < per_tap; e += blockDim.x) {
      const int64_t ox = e % s.Wo, oy = (e / s.Wo) % s.Ho, n = e / (s.Ho * s.Wo);
      const int64_t iy = oy * s.stride - s.pad + ky, ix = ox * s.stride - s.pad + kx;
      if (iy < 0 || iy >= s.H || ix < 0 || ix >= s.W) continue;
      const int64_t plane = n * s.Cin + c;
      acc += double(gy[(plane * s.Ho + oy) * s.Wo + ox]) * double(x[(plane * s.H + iy) * s.W + ix]);
    }
    acc = block_reduce_sum(acc);
    if (threadIdx.x == 0) gw[t] = float(acc);
    __syncthreads();
  }
}

void check_types(const char* op, std::initializer_list<const Tensor*> tensors) {
  for (const Tensor* t : tensors)
    if (t->defined()) require_float32(*t, op);
}

// The im2col + cuBLAS forward, then the epilogue as a pass of its own.
void conv_forward_im2col(const ConvShape& s, const float* xd, const float* wd, const float* bd, const float* rd,
                         float* yd, int64_t workspace_bytes, double activation_slope) {
  const int64_t K = s.K(), P = s.P(), cin_g = s.cin_g(), cout_g = s.cout_g();
  if (s.pointwise()) {
    // y_n,g = W_g . x_n,g for the whole batch in one batched GEMM per group.
    for (int64_t g = 0; g < s.groups; ++g)
      gemm_raw(wd + g * cout_g * cin_g, cin_g, xd + g * cin_g * P, P, yd + g * cout_g * P, P, cout_g, P, cin_g, false,
               false, 1.0f, 0.0f, s.N, 0, s.Cin * P, s.Cout * P);
  } else {
    const Chunking c = plan_chunks(s, workspace_bytes);
    Tensor workspace = empty({c.images * K * c.len}, kFloat32, Device::CUDA);
    float* cols = workspace.data<float>();
    const ColumnGeometry geo = s.geometry();
    for (int64_t g = 0; g < s.groups; ++g) {
      for_each_chunk(s, c, [&](int64_t n0, int64_t ni, int64_t p0, int64_t len) {
        launch_im2col(xd + (n0 * s.Cin + g * cin_g) * s.H * s.W, s.Cin * s.H * s.W, cols, ni, geo, p0, len);
        // y chunk (cout_g x len, row stride P) = W_g (cout_g x K) . cols_i (K x len), per image i.
        gemm_raw(wd + g * cout_g * K, K, cols, len, yd + (n0 * s.Cout + g * cout_g) * P + p0, P, cout_g, len, K,
                 false, false, 1.0f, 0.0f, ni, 0, K * len, s.Cout * P);
      });
    }
  }
  if (bd || rd || activation_slope != 1.0) {
    const int64_t numel = s.N * s.Cout * P;
    epilogue_kernel<<<grid_for(numel), kBlock>>>(yd, bd, rd, numel, s.Cout, P, float(activation_slope));
    DCSR_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace

void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& residual, Tensor& y,
                    int64_t stride, int64_t padding, int64_t groups, int64_t workspace_bytes,
                    double activation_slope) {
  check_types("conv2d_forward", {&x, &weight, &bias, &residual, &y});
  const ConvShape s = conv_shape(x, weight, stride, padding, groups, y.size(2), y.size(3));
  if (y.numel() == 0) return;
  const float* xd = x.data<float>();
  const float* wd = weight.data<float>();
  const float* bd = bias.defined() ? bias.data<float>() : nullptr;
  const float* rd = residual.defined() ? residual.data<float>() : nullptr;
  float* yd = y.data<float>();
  if (s.depthwise()) {
    runtime::note_kernel_path("depthwise");
    depthwise_forward_kernel<<<grid_for(y.numel()), kBlock>>>(xd, wd, bd, rd, yd, s, float(activation_slope));
    DCSR_CUDA_CHECK_LAUNCH();
    return;
  }
  const ConvForwardShape plan_shape{s.N, s.Cin, s.H, s.W, s.Cout, s.k, s.stride, s.pad, s.groups};
  // With TF32 on, the products run on the tensor cores, as cuBLAS's do below.
  const bool tf32 = runtime::cuda_tf32() && tf32_tensor_cores();
  const bool epilogue = bd || rd || activation_slope != 1.0;
  auto run = [&](ConvForwardKernel kernel) {
    runtime::note_kernel_path(conv_forward_kernel_name(kernel, tf32));
    if (kernel == ConvForwardKernel::kTileTf32 || kernel == ConvForwardKernel::kTileTf32Warps4) {
      launch_conv_tile_tf32(kernel == ConvForwardKernel::kTileTf32Warps4 ? 4 : 8, xd, wd, bd, rd, yd, s.N, s.Cin, s.H,
                            s.W, s.k, s.pad, s.Cout, float(activation_slope));
    } else if (kernel != ConvForwardKernel::kIm2col) {
      // Bias, residual and activation happen in the kernel's own store.
      launch_conv_implicit_gemm(kernel, tf32, xd, wd, bd, rd, yd, s.N, s.Cin, s.H, s.W, s.k, s.pad, s.Cout,
                                float(activation_slope));
    } else {
      conv_forward_im2col(s, xd, wd, bd, rd, yd, workspace_bytes, activation_slope);
    }
  };
  const runtime::CudaConvPath path = runtime::cuda_conv_path();
  // Measuring runs every candidate into y, which never holds the residual
  // (kernels::conv2d_forward refuses a residual that shares y's memory).
  if (path == runtime::CudaConvPath::kMeasure)
    return run(measured_conv_forward(plan_shape, tf32, epilogue, run));
  run(plan_conv_forward(plan_shape, path, multiprocessors(), tf32));
}

void conv2d_backward_input(const Tensor& grad_y, const Tensor& weight, Tensor& grad_x, int64_t stride,
                           int64_t padding, int64_t groups, int64_t workspace_bytes) {
  check_types("conv2d_backward_input", {&grad_y, &weight, &grad_x});
  const ConvShape s = conv_shape(grad_x, weight, stride, padding, groups, grad_y.size(2), grad_y.size(3));
  if (grad_x.numel() == 0) return;
  const float* gy = grad_y.data<float>();
  const float* wd = weight.data<float>();
  float* gx = grad_x.data<float>();
  if (s.depthwise()) {
    depthwise_backward_input_kernel<<<grid_for(grad_x.numel()), kBlock>>>(gy, wd, gx, s);
    DCSR_CUDA_CHECK_LAUNCH();
    return;
  }
  const int64_t K = s.K(), P = s.P(), cin_g = s.cin_g(), cout_g = s.cout_g();
  if (s.pointwise()) {
    // gx_n,g (cin_g x P) = W_g^T . gy_n,g, W_g stored (cout_g x cin_g).
    for (int64_t g = 0; g < s.groups; ++g)
      gemm_raw(wd + g * cout_g * cin_g, cin_g, gy + g * cout_g * P, P, gx + g * cin_g * P, P, cin_g, P, cout_g, true,
               false, 1.0f, 0.0f, s.N, 0, s.Cout * P, s.Cin * P);
    return;
  }
  if (P == 0) return fill(grad_x, 0.0);
  const Chunking c = plan_chunks(s, workspace_bytes);
  Tensor workspace = empty({c.images * K * c.len}, kFloat32, Device::CUDA);
  float* cols = workspace.data<float>();
  const ColumnGeometry geo = s.geometry();
  // A chunk of whole images overwrites its pixels; column ranges of one image add up.
  const bool whole_images = c.len == P;
  if (!whole_images) fill(grad_x, 0.0);
  for (int64_t g = 0; g < s.groups; ++g) {
    for_each_chunk(s, c, [&](int64_t n0, int64_t ni, int64_t p0, int64_t len) {
      // gcols_i (K x len) = W_g^T (K x cout_g) . gy_i (cout_g x len, row stride P).
      gemm_raw(wd + g * cout_g * K, K, gy + (n0 * s.Cout + g * cout_g) * P + p0, P, cols, len, K, len, cout_g, true,
               false, 1.0f, 0.0f, ni, 0, s.Cout * P, K * len);
      launch_col2im(cols, ni, geo, p0, len, gx + (n0 * s.Cin + g * cin_g) * s.H * s.W, s.Cin * s.H * s.W,
                    !whole_images);
    });
  }
}

void conv2d_backward_weight(const Tensor& grad_y, const Tensor& x, Tensor& grad_weight, Tensor& grad_bias,
                            int64_t stride, int64_t padding, int64_t groups, int64_t workspace_bytes) {
  check_types("conv2d_backward_weight", {&grad_y, &x, &grad_weight, &grad_bias});
  const ConvShape s = conv_shape(x, grad_weight, stride, padding, groups, grad_y.size(2), grad_y.size(3));
  if (grad_bias.defined()) {
    // grad_b[co] = sum over the batch and the pixels: the sum kernel over dims {0, 2, 3}.
    Tensor gb = grad_bias.detach();
    gb.impl().shape = {1, s.Cout, 1, 1};  // keepdim layout of the sum; same storage
    sum(grad_y, {0, 2, 3}, gb);
  }
  if (grad_weight.numel() == 0) return;
  const float* gy = grad_y.data<float>();
  const float* xd = x.data<float>();
  float* gw = grad_weight.data<float>();
  if (s.N * s.P() == 0) return fill(grad_weight, 0.0);
  if (s.depthwise()) {
    const int64_t taps = s.Cin * s.k * s.k;
    depthwise_backward_weight_kernel<<<unsigned(std::min(taps, kMaxGridBlocks)), kBlock>>>(gy, xd, gw, s);
    DCSR_CUDA_CHECK_LAUNCH();
    return;
  }
  const int64_t K = s.K(), P = s.P(), cin_g = s.cin_g(), cout_g = s.cout_g();
  if (s.pointwise()) {
    // gW_g (cout_g x cin_g) = sum_n gy_n,g (cout_g x P) . x_n,g^T (P x cin_g).
    for (int64_t g = 0; g < s.groups; ++g)
      for (int64_t n = 0; n < s.N; ++n)
        gemm_raw(gy + (n * s.Cout + g * cout_g) * P, P, xd + (n * s.Cin + g * cin_g) * P, P, gw + g * cout_g * cin_g,
                 cin_g, cout_g, cin_g, P, false, true, 1.0f, n == 0 ? 0.0f : 1.0f);
    return;
  }
  const Chunking c = plan_chunks(s, workspace_bytes);
  Tensor workspace = empty({c.images * K * c.len}, kFloat32, Device::CUDA);
  float* cols = workspace.data<float>();
  const ColumnGeometry geo = s.geometry();
  for (int64_t g = 0; g < s.groups; ++g) {
    bool first = true;
    for_each_chunk(s, c, [&](int64_t n0, int64_t ni, int64_t p0, int64_t len) {
      launch_im2col(xd + (n0 * s.Cin + g * cin_g) * s.H * s.W, s.Cin * s.H * s.W, cols, ni, geo, p0, len);
      // gW_g (cout_g x K) += gy_i (cout_g x len, row stride P) . cols_i^T, image by image
      // (a batched GEMM would write every entry's product to the same gW_g).
      for (int64_t i = 0; i < ni; ++i) {
        gemm_raw(gy + ((n0 + i) * s.Cout + g * cout_g) * P + p0, P, cols + i * K * len, len, gw + g * cout_g * K, K,
                 cout_g, K, len, false, true, 1.0f, first ? 0.0f : 1.0f);
        first = false;
      }
    });
  }
}

}  // namespace dcsr::kernels::cuda
