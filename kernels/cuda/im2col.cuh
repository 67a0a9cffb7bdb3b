// im2col and its adjoint on the device, over a range of images and a range
// of output pixels, for conv2d (kernels/cuda/conv2d.cu) and unfold / fold
// (kernels/cuda/unfold.cu).
//
// Geometry (as kernels/cpu/im2col.h): C channels of H x W, a k x k window
// moved with stride s over the image padded by `pad` zeros on every side, Ho x
// Wo window positions. The column matrix of one image has K = C*k*k rows,
// row r = (c*k + ky)*k + kx (F.unfold's order), and P = Ho*Wo columns, column
// p = oy*Wo + ox; entry (r, p) is x[c][oy*s - pad + ky][ox*s - pad + kx], 0
// in the padding.
//
// A chunk holds columns [p0, p0 + len) of images i < nimg, stored as
// cols[i][r][p - p0] (len-long rows). Launch geometry: grid z = image, grid
// y = row (im2col) or channel (col2im), grid x strides over the pixels; each
// block decodes its row once, so the per-element index math is a single
// division of p by Wo (32-bit where the sizes allow, see IndexWidth).
#pragma once
#include "kernels/cuda/cuda_common.cuh"

namespace dcsr::kernels::cuda {

// Everything below has internal linkage: each .cu file that includes this
// header gets its own copies of the kernels (no -rdc, so no shared device
// symbols).
namespace {

struct ColumnGeometry {
  int64_t C, H, W, k, stride, pad, Ho, Wo;
  int64_t rows() const { return C * k * k; }
  int64_t cols() const { return Ho * Wo; }
};

// Index math runs in `I`: int32_t whenever the plane, the pixel range and
// the chunk fit in 30 bits (always, for images the model sees), else int64_t
// (64-bit division is emulated on the GPU in dozens of instructions). Offsets
// of whole planes and rows stay in 64 bits; they are computed once per block.
struct IndexWidth {
  static bool fits_int32(const ColumnGeometry& g, int64_t p0, int64_t len) {
    const int64_t lim = int64_t(1) << 30;  // headroom for iy * W + ix and the grid stride
    return g.H * g.W < lim && g.Ho * g.Wo < lim && p0 + len < lim && g.H + g.pad + g.k < lim &&
           g.W + g.pad + g.k < lim;
  }
};

// cols[i][r][pc] = entry (r, p0 + pc) of image i, whose channel 0 starts at
// x + i * image_stride. Each thread writes four consecutive columns: one
// division by Wo per four values, then the window walks right (and wraps to
// the next row). With `kVec4` (len % 4 == 0, so every row starts 16-byte
// aligned) the four values go out as one float4 store.
template <typename I, bool kVec4>
__global__ void im2col_kernel(const float* __restrict__ x, int64_t image_stride, float* __restrict__ cols, int64_t nimg,
                              ColumnGeometry g, int64_t p0, int64_t len) {
  const int64_t K = g.C * g.k * g.k;
  const I H = I(g.H), W = I(g.W), Wo = I(g.Wo), k = I(g.k), stride = I(g.stride), pad = I(g.pad);
  const I first = I(p0), n = I(len), quads = (n + 3) / 4;
  for (int64_t i = blockIdx.z; i < nimg; i += gridDim.z) {
    for (int64_t r = blockIdx.y; r < K; r += gridDim.y) {
      const I c = I(r / (g.k * g.k)), ky = I(r / g.k) % k, kx = I(r % g.k);
      const float* plane = x + i * image_stride + int64_t(c) * g.H * g.W;
      float* dst = cols + (i * K + r) * len;
      for (I q = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); q < quads; q += I(gridDim.x) * I(blockDim.x)) {
        const I p = first + 4 * q;
        I oy = p / Wo, ox = p - oy * Wo;
        float v[4];
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          const I iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
          v[j] = (iy >= 0 && iy < H && ix >= 0 && ix < W) ? plane[iy * W + ix] : 0.0f;
          if (++ox == Wo) ox = 0, ++oy;
        }
        if (kVec4) {
          reinterpret_cast<float4*>(dst)[q] = make_float4(v[0], v[1], v[2], v[3]);
        } else {
#pragma unroll
          for (int j = 0; j < 4; ++j)
            if (4 * q + j < n) dst[4 * q + j] = v[j];
        }
      }
    }
  }
}

// The model's case, 3x3 with stride 1, kept lean: each thread of the general
// kernel writes a single float4 at the model's sizes, so its set-up (64-bit
// loops over images and rows, the window's divisions, k and the stride from
// memory) is most of its work. Here a block has exactly one row r =
// blockIdx.y of one image i = blockIdx.z, 32-bit index math, the tap's
// offsets folded once. Needs len % 4 == 0 (float4 stores), 32-bit indices,
// rows and images within the grid's y and z limits (launch_im2col checks).
// Measured on an H200 (kernels/study/conv2d.cu), 64 channels at 256x256 (151
// MB of columns): one value per thread 0.29 ms; the general kernel 0.096 ms
// (version 9); the general kernel with k and the stride as compile-time
// constants 0.083 ms; the study's lean 3x3 kernel, which this follows, 0.057 ms
// (version 7).
__global__ void im2col3x3_kernel(const float* __restrict__ x, int64_t image_stride, float* __restrict__ cols, int C,
                                 int H, int W, int Wo, int pad, int p0, int len) {
  const int K = C * 9, r = blockIdx.y, i = blockIdx.z;
  const int c = r / 9, dy = (r / 3) % 3 - pad, dx = r % 3 - pad;  // input offset of the tap
  const float* plane = x + int64_t(i) * image_stride + int64_t(c) * H * W;
  float4* dst = reinterpret_cast<float4*>(cols + (int64_t(i) * K + r) * len);
  for (int q = blockIdx.x * blockDim.x + threadIdx.x; q < len / 4; q += gridDim.x * blockDim.x) {
    const int p = p0 + 4 * q;
    int oy = p / Wo, ox = p - oy * Wo;
    float v[4];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int iy = oy + dy, ix = ox + dx;
      v[j] = (iy >= 0 && iy < H && ix >= 0 && ix < W) ? plane[iy * W + ix] : 0.0f;
      if (++ox == Wo) ox = 0, ++oy;
    }
    dst[q] = make_float4(v[0], v[1], v[2], v[3]);
  }
}

// The adjoint, as a gather (no atomics, deterministic): every pixel of image
// i sums the entries of columns [p0, p0 + len) that were read from it, over
// the k*k taps; x[pixel] = sum (accumulate false) or += sum (true).
template <typename I>
__global__ void col2im_kernel(const float* __restrict__ cols, int64_t nimg, ColumnGeometry g, int64_t p0, int64_t len,
                              float* __restrict__ x, int64_t image_stride, bool accumulate) {
  const int64_t K = g.C * g.k * g.k;
  const I H = I(g.H), W = I(g.W), Ho = I(g.Ho), Wo = I(g.Wo), k = I(g.k), stride = I(g.stride), pad = I(g.pad);
  const I HW = H * W, first = I(p0), n = I(len);
  for (int64_t i = blockIdx.z; i < nimg; i += gridDim.z) {
    for (int64_t c = blockIdx.y; c < g.C; c += gridDim.y) {
      float* plane = x + i * image_stride + c * g.H * g.W;
      const float* rows = cols + (i * K + c * g.k * g.k) * len;
      for (I e = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); e < HW; e += I(gridDim.x) * I(blockDim.x)) {
        const I iy = e / W, ix = e - iy * W;
        float acc = 0.0f;
        for (I ky = 0; ky < k; ++ky) {
          // The window row oy whose tap ky reads input row iy: oy*s - pad + ky = iy.
          const I ny = iy + pad - ky;
          if (ny < 0) break;  // ny only decreases with ky
          I oy = ny;
          if (stride != 1) {
            if (ny % stride != 0) continue;
            oy = ny / stride;
          }
          if (oy >= Ho) continue;
          for (I kx = 0; kx < k; ++kx) {
            const I nx = ix + pad - kx;
            if (nx < 0) break;
            I ox = nx;
            if (stride != 1) {
              if (nx % stride != 0) continue;
              ox = nx / stride;
            }
            if (ox >= Wo) continue;
            const I pc = oy * Wo + ox - first;
            if (pc < 0 || pc >= n) continue;
            acc += rows[int64_t(ky * k + kx) * len + pc];
          }
        }
        if (accumulate) plane[e] += acc;
        else plane[e] = acc;
      }
    }
  }
}

// Launch helpers (grid y and z are limited to 65535; the kernels loop).
// `specialise` false keeps the general kernel for a 3x3, stride-1 window too
// (kernels/study/conv2d.cu times the two).
inline void launch_im2col(const float* x, int64_t image_stride, float* cols, int64_t nimg, const ColumnGeometry& g,
                          int64_t p0, int64_t len, bool specialise = true) {
  if (nimg == 0 || len == 0 || g.rows() == 0) return;
  const int64_t quads = (len + 3) / 4;
  const dim3 grid(unsigned(std::min<int64_t>((quads + kBlock - 1) / kBlock, std::min<int64_t>(1024, kMaxGridBlocks))),
                  unsigned(std::min<int64_t>(g.rows(), kMaxGridYZ)), unsigned(std::min<int64_t>(nimg, kMaxGridYZ)));
  const bool narrow = IndexWidth::fits_int32(g, p0, len);
  // Rows of the chunk start at cols + (i*K + r)*len: 16-byte aligned when len % 4 == 0
  // (the workspace itself comes 256-byte aligned from the pool).
  const bool vec4 = len % 4 == 0 && reinterpret_cast<uintptr_t>(cols) % 16 == 0;
  if (specialise && narrow && vec4 && g.k == 3 && g.stride == 1 && g.rows() <= 65535 && nimg <= 65535) {
    // One block row per column-matrix row and one block layer per image (the hardware's limits on grid y and z).
    const dim3 grid3(grid.x, unsigned(g.rows()), unsigned(nimg));
    im2col3x3_kernel<<<grid3, kBlock>>>(x, image_stride, cols, int(g.C), int(g.H), int(g.W), int(g.Wo), int(g.pad),
                                        int(p0), int(len));
  } else if (narrow && vec4) im2col_kernel<int32_t, true><<<grid, kBlock>>>(x, image_stride, cols, nimg, g, p0, len);
  else if (narrow) im2col_kernel<int32_t, false><<<grid, kBlock>>>(x, image_stride, cols, nimg, g, p0, len);
  else im2col_kernel<int64_t, false><<<grid, kBlock>>>(x, image_stride, cols, nimg, g, p0, len);
  DCSR_CUDA_CHECK_LAUNCH();
}

inline void launch_col2im(const float* cols, int64_t nimg, const ColumnGeometry& g, int64_t p0, int64_t len, float* x,
                          int64_t image_stride, bool accumulate) {
  if (nimg == 0 || g.C == 0 || g.H * g.W == 0) return;
  const dim3 grid(unsigned(std::min<int64_t>((g.H * g.W + kBlock - 1) / kBlock, std::min<int64_t>(1024, kMaxGridBlocks))),
                  unsigned(std::min<int64_t>(g.C, kMaxGridYZ)), unsigned(std::min<int64_t>(nimg, kMaxGridYZ)));
  if (IndexWidth::fits_int32(g, p0, len))
    col2im_kernel<int32_t><<<grid, kBlock>>>(cols, nimg, g, p0, len, x, image_stride, accumulate);
  else col2im_kernel<int64_t><<<grid, kBlock>>>(cols, nimg, g, p0, len, x, image_stride, accumulate);
  DCSR_CUDA_CHECK_LAUNCH();
}

}  // namespace

}  // namespace dcsr::kernels::cuda
