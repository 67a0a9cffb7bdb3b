// CUDA bilinear sampling at arbitrary points with the three border rules of
// dcsr::GridBorder, and its gradients, float32. x: (N, C, H, W); grid: (N,
// 2, Ho, Wo) (row, column in pixel units) -> out: (N, C, Ho, Wo).
// The tap rules are the CPU's (kernels/cpu/grid_sample.cpp), line for line:
//   Zeros          corners outside the image contribute 0;
//   Clamp          the point is clamped into the image; no gradient at or beyond the edges;
//   DcsrReference  dcsr-spec §5 step 7: floor, then clamp both corner indices and the point
//                  to [0, size - 1], weights from the clamped values (the border pixel counts
//                  twice per axis at or beyond the last row/column).
// Forward and the grid gradient: one thread per point, looping over the
// channels (the taps are found once per point; for each channel a warp
// touches 32 neighbouring points). The image gradient: one thread per
// (point, channel) adding its four shares with atomicAdd into the zeroed
// grad_x (many points may read one pixel).
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace dcsr::kernels::cuda {

namespace {

struct Taps {
  int64_t q0, q1;
  float w0, w1;
  bool valid0, valid1;
  float gate;
};

// floor(p) saturated well outside [0, size): huge or NaN coordinates cannot
// overflow the conversion.
__device__ __forceinline__ int64_t safe_floor(float p, int64_t size) {
  const float f = floorf(p);
  if (!(f > -2.0f)) return -2;
  if (f > float(size + 1)) return size + 1;
  return int64_t(f);
}

__device__ __forceinline__ int64_t clamp_index(int64_t i, int64_t size) {
  return min(max(i, int64_t(0)), size - 1);
}

// std::min(std::max(p, 0), last) with std's NaN behaviour (a NaN stays NaN;
// fminf/fmaxf would turn it into a bound).
__device__ __forceinline__ float clamp_point(float p, float last) {
  const float m = p < 0.0f ? 0.0f : p;
  return last < m ? last : m;
}

__device__ __forceinline__ Taps taps(float p, int64_t size, SampleBorder border) {
  Taps t;
  const float last = float(size - 1);
  if (border == SampleBorder::Zeros) {
    const int64_t f = safe_floor(p, size);
    t.q0 = f;
    t.q1 = f + 1;
    t.w1 = p - float(f);
    t.w0 = 1.0f - t.w1;
    t.valid0 = f >= 0 && f < size;
    t.valid1 = f + 1 >= 0 && f + 1 < size;
    t.gate = 1.0f;
    if (!t.valid0) t.q0 = 0;
    if (!t.valid1) t.q1 = 0;
  } else if (border == SampleBorder::Clamp) {
    const float pc = clamp_point(p, last);
    const int64_t f = clamp_index(safe_floor(pc, size), size);
    t.q0 = f;
    t.q1 = min(f + 1, size - 1);
    t.w1 = pc - float(f);
    t.w0 = 1.0f - t.w1;
    t.valid0 = t.valid1 = true;
    t.gate = (p > 0.0f && p < last) ? 1.0f : 0.0f;
  } else {  // DcsrReference
    const int64_t f = safe_floor(p, size);
    t.q0 = clamp_index(f, size);
    t.q1 = clamp_index(f + 1, size);
    const float pc = clamp_point(p, last);
    t.w0 = 1.0f + (float(t.q0) - pc);
    t.w1 = 1.0f - (float(t.q1) - pc);
    t.valid0 = t.valid1 = true;
    t.gate = (p >= 0.0f && p <= last) ? 1.0f : 0.0f;
  }
  return t;
}

// The four corners in the reference's order (00, 11, 01, 10): plane offsets
// and weights (0 for an invalid corner).
struct Corners {
  int64_t off[4];
  float w[4];
};

__device__ __forceinline__ Corners corners(const Taps& r, const Taps& c, int64_t W) {
  Corners k;
  k.off[0] = r.q0 * W + c.q0;
  k.w[0] = (r.valid0 && c.valid0) ? r.w0 * c.w0 : 0.0f;
  k.off[1] = r.q1 * W + c.q1;
  k.w[1] = (r.valid1 && c.valid1) ? r.w1 * c.w1 : 0.0f;
  k.off[2] = r.q0 * W + c.q1;
  k.w[2] = (r.valid0 && c.valid1) ? r.w0 * c.w1 : 0.0f;
  k.off[3] = r.q1 * W + c.q0;
  k.w[3] = (r.valid1 && c.valid0) ? r.w1 * c.w0 : 0.0f;
  return k;
}

struct SampleGeometry {
  int64_t N, C, H, W, P;
};

__global__ void grid_sample_kernel(const float* x, const float* grid, float* out, SampleGeometry g,
                                   SampleBorder border) {
  DCSR_GRID_STRIDE_LOOP(e, g.N * g.P) {
    const int64_t n = e / g.P, p = e % g.P;
    const float* gr = grid + n * 2 * g.P;
    const Corners k = corners(taps(gr[p], g.H, border), taps(gr[g.P + p], g.W, border), g.W);
    for (int64_t c = 0; c < g.C; ++c) {
      const float* plane = x + (n * g.C + c) * g.H * g.W;
      out[(n * g.C + c) * g.P + p] =
          k.w[0] * plane[k.off[0]] + k.w[1] * plane[k.off[1]] + k.w[2] * plane[k.off[2]] + k.w[3] * plane[k.off[3]];
    }
  }
}

__global__ void grid_sample_grad_x_kernel(const float* grid, const float* grad_out, float* grad_x, SampleGeometry g,
                                          SampleBorder border) {
  DCSR_GRID_STRIDE_LOOP(e, g.N * g.C * g.P) {
    const int64_t p = e % g.P, nc = e / g.P, n = nc / g.C;
    const float* gr = grid + n * 2 * g.P;
    const Corners k = corners(taps(gr[p], g.H, border), taps(gr[g.P + p], g.W, border), g.W);
    float* plane = grad_x + nc * g.H * g.W;
    const float go = grad_out[e];
    for (int corner = 0; corner < 4; ++corner)
      if (k.w[corner] != 0.0f) atomicAdd(plane + k.off[corner], k.w[corner] * go);
  }
}

// d value / d P_row = gate_row * sum_b wc_b (X[q1, qc_b] - X[q0, qc_b]), and
// likewise for the column; invalid corners read 0. Summed over channels.
__global__ void grid_sample_grad_grid_kernel(const float* x, const float* grid, const float* grad_out,
                                             float* grad_grid, SampleGeometry g, SampleBorder border) {
  DCSR_GRID_STRIDE_LOOP(e, g.N * g.P) {
    const int64_t n = e / g.P, p = e % g.P;
    const float* gr = grid + n * 2 * g.P;
    const Taps r = taps(gr[p], g.H, border), c = taps(gr[g.P + p], g.W, border);
    float grad_r = 0.0f, grad_c = 0.0f;
    for (int64_t ch = 0; ch < g.C; ++ch) {
      const float* plane = x + (n * g.C + ch) * g.H * g.W;
      const float x00 = (r.valid0 && c.valid0) ? plane[r.q0 * g.W + c.q0] : 0.0f;
      const float x01 = (r.valid0 && c.valid1) ? plane[r.q0 * g.W + c.q1] : 0.0f;
      const float x10 = (r.valid1 && c.valid0) ? plane[r.q1 * g.W + c.q0] : 0.0f;
      const float x11 = (r.valid1 && c.valid1) ? plane[r.q1 * g.W + c.q1] : 0.0f;
      const float go = grad_out[(n * g.C + ch) * g.P + p];
      grad_r += go * (c.w0 * (x10 - x00) + c.w1 * (x11 - x01));
      grad_c += go * (r.w0 * (x01 - x00) + r.w1 * (x11 - x10));
    }
    grad_grid[n * 2 * g.P + p] = grad_r * r.gate;
    grad_grid[n * 2 * g.P + g.P + p] = grad_c * c.gate;
  }
}

SampleGeometry geometry(const Tensor& x, const Tensor& grid) {
  return {x.size(0), x.size(1), x.size(2), x.size(3), grid.size(2) * grid.size(3)};
}

}  // namespace

void grid_sample(const Tensor& x, const Tensor& grid, SampleBorder border, Tensor& out) {
  require_float32(x, "grid_sample");
  require_float32(grid, "grid_sample");
  const SampleGeometry g = geometry(x, grid);
  if (g.N * g.P == 0) return;
  grid_sample_kernel<<<grid_for(g.N * g.P), kBlock>>>(x.data<float>(), grid.data<float>(), out.data<float>(), g,
                                                      border);
  DCSR_CUDA_CHECK_LAUNCH();
}

void grid_sample_backward(const Tensor& x, const Tensor& grid, const Tensor& grad_out, SampleBorder border,
                          Tensor& grad_x, Tensor& grad_grid) {
  require_float32(x, "grid_sample_backward");
  require_float32(grid, "grid_sample_backward");
  require_float32(grad_out, "grid_sample_backward");
  const SampleGeometry g = geometry(x, grid);
  if (grad_x.defined()) {
    fill(grad_x, 0.0);
    if (g.N * g.C * g.P > 0) {
      grid_sample_grad_x_kernel<<<grid_for(g.N * g.C * g.P), kBlock>>>(grid.data<float>(), grad_out.data<float>(),
                                                                       grad_x.data<float>(), g, border);
      DCSR_CUDA_CHECK_LAUNCH();
    }
  }
  if (grad_grid.defined() && g.N * g.P > 0) {
    grid_sample_grad_grid_kernel<<<grid_for(g.N * g.P), kBlock>>>(x.data<float>(), grid.data<float>(),
                                                                  grad_out.data<float>(), grad_grid.data<float>(), g,
                                                                  border);
    DCSR_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace dcsr::kernels::cuda
