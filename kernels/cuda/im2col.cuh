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
// division of p by Wo, in 64 bits.
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

// cols[i][r][pc] = entry (r, p0 + pc) of image i, whose channel 0 starts at
// x + i * image_stride.
__global__ void im2col_kernel(const float* __restrict__ x, int64_t image_stride, float* __restrict__ cols, int64_t nimg,
                              ColumnGeometry g, int64_t p0, int64_t len) {
  const int64_t K = g.C * g.k * g.k;
  for (int64_t i = blockIdx.z; i < nimg; i += gridDim.z) {
    for (int64_t r = blockIdx.y; r < K; r += gridDim.y) {
      const int64_t c = r / (g.k * g.k), ky = (r / g.k) % g.k, kx = r % g.k;
      const float* plane = x + i * image_stride + c * g.H * g.W;
      float* dst = cols + (i * K + r) * len;
      for (int64_t pc = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; pc < len;
           pc += int64_t(gridDim.x) * blockDim.x) {
        const int64_t p = p0 + pc, oy = p / g.Wo, ox = p - oy * g.Wo;
        const int64_t iy = oy * g.stride - g.pad + ky, ix = ox * g.stride - g.pad + kx;
        dst[pc] = (iy >= 0 && iy < g.H && ix >= 0 && ix < g.W) ? plane[iy * g.W + ix] : 0.0f;
      }
    }
  }
}

// The adjoint, as a gather (no atomics, deterministic): every pixel of image
// i sums the entries of columns [p0, p0 + len) that were read from it, over
// the k*k taps; x[pixel] = sum (accumulate false) or += sum (true).
__global__ void col2im_kernel(const float* __restrict__ cols, int64_t nimg, ColumnGeometry g, int64_t p0, int64_t len,
                              float* __restrict__ x, int64_t image_stride, bool accumulate) {
  const int64_t K = g.C * g.k * g.k, HW = g.H * g.W;
  for (int64_t i = blockIdx.z; i < nimg; i += gridDim.z) {
    for (int64_t c = blockIdx.y; c < g.C; c += gridDim.y) {
      float* plane = x + i * image_stride + c * HW;
      const float* rows = cols + (i * K + c * g.k * g.k) * len;
      for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < HW; e += int64_t(gridDim.x) * blockDim.x) {
        const int64_t iy = e / g.W, ix = e - iy * g.W;
        float acc = 0.0f;
        for (int64_t ky = 0; ky < g.k; ++ky) {
          // The window row oy whose tap ky reads input row iy: oy*s - pad + ky = iy.
          const int64_t ny = iy + g.pad - ky;
          if (ny < 0) break;  // ny only decreases with ky
          int64_t oy = ny;
          if (g.stride != 1) {
            if (ny % g.stride != 0) continue;
            oy = ny / g.stride;
          }
          if (oy >= g.Ho) continue;
          for (int64_t kx = 0; kx < g.k; ++kx) {
            const int64_t nx = ix + g.pad - kx;
            if (nx < 0) break;
            int64_t ox = nx;
            if (g.stride != 1) {
              if (nx % g.stride != 0) continue;
              ox = nx / g.stride;
            }
            if (ox >= g.Wo) continue;
            const int64_t pc = oy * g.Wo + ox - p0;
            if (pc < 0 || pc >= len) continue;
            acc += rows[(ky * g.k + kx) * len + pc];
          }
        }
        if (accumulate) plane[e] += acc;
        else plane[e] = acc;
      }
    }
  }
}

// Launch helpers (grid y and z are limited to 65535; the kernels loop).
inline void launch_im2col(const float* x, int64_t image_stride, float* cols, int64_t nimg, const ColumnGeometry& g,
                          int64_t p0, int64_t len) {
  if (nimg == 0 || len == 0 || g.rows() == 0) return;
  const dim3 grid(unsigned(std::min<int64_t>((len + kBlock - 1) / kBlock, std::min<int64_t>(1024, kMaxGridBlocks))),
                  unsigned(std::min<int64_t>(g.rows(), kMaxGridYZ)), unsigned(std::min<int64_t>(nimg, kMaxGridYZ)));
  im2col_kernel<<<grid, kBlock>>>(x, image_stride, cols, nimg, g, p0, len);
  DCSR_CUDA_CHECK_LAUNCH();
}

inline void launch_col2im(const float* cols, int64_t nimg, const ColumnGeometry& g, int64_t p0, int64_t len, float* x,
                          int64_t image_stride, bool accumulate) {
  if (nimg == 0 || g.C == 0 || g.H * g.W == 0) return;
  const dim3 grid(unsigned(std::min<int64_t>((g.H * g.W + kBlock - 1) / kBlock, std::min<int64_t>(1024, kMaxGridBlocks))),
                  unsigned(std::min<int64_t>(g.C, kMaxGridYZ)), unsigned(std::min<int64_t>(nimg, kMaxGridYZ)));
  col2im_kernel<<<grid, kBlock>>>(cols, nimg, g, p0, len, x, image_stride, accumulate);
  DCSR_CUDA_CHECK_LAUNCH();
}

}  // namespace

}  // namespace dcsr::kernels::cuda
