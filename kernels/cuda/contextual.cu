// CUDA pairwise part of the contextual loss (dcsr-spec §9.2), float32,
// without ever holding the Nx x Ny matrices of the reference formulation.
// The notation and the derivation of the backward are those of
// kernels/cpu/contextual.cpp; per image:
//   d_ij = 1 - <x_i, y_j>,  rho_i = min_j d_ij + 1e-5 (first argmin a_i),
//   w_ij = exp((1 - d_ij / rho_i) / h),  Z_i = sum_j w_ij,  CX_ij = w_ij / Z_i,
//   M_j = max_i CX_ij (first argmax b_j),  c_j = exp((1 - d_{b_j j}) / 0.5),
//   cx = sum_j M_j c_j / sum_j c_j.
//
// Forward: three fused sweeps of kernels/cuda/dot_sweep.cuh (no score
// matrix in memory), each writing its statistics straight into the outputs:
//   1. lanes x, rows y: rho_i, a_i            -> row_stats[:, 0], row_arg
//   2. lanes x, rows y: Z_i, E_i = U_i / Z_i  -> row_stats[:, 1], row_stats[:, 2]
//   3. lanes y, rows x: M_j, d_{b_j j}, c_j, b_j -> col_stats, col_arg
// then one block per image sums cx (in double).
//
// Backward: per-row and per-column coefficients (a scatter over j into rows
// b_j: atomicAdd), then the pair gradient gcos one tile at a time: the tile's
// cosines by cuBLAS (X^T Y), the dense and sparse parts by two small
// kernels, and two cuBLAS GEMMs into grad_x and grad_y. The tile is at most
// workspace_bytes (a whole 4096 x 4096 image pair fits the default 64 MB).
#include <cmath>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_gemm.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/dot_sweep.cuh"

namespace dcsr::kernels::cuda {

namespace {
constexpr float kRowEps = 1e-5f;         // added to the row minimum of d
constexpr float kConfidenceBand = 0.5f;  // c_j = exp((1 - d) / 0.5), fixed in the reference

// Sweep 1 (lanes x, rows y): the first minimum of d over j.
struct RowMin {
  struct State {
    float value;
    int32_t index;
  };
  float* row_stats;  // (N, 3, Nx): writes [:, 0] = rho
  int64_t* row_arg;  // (N, Nx)
  int64_t Nx;

  __device__ State init() const { return {INFINITY, 0}; }
  __device__ void update(State& s, float dot, int64_t row, int64_t, int64_t) const {
    const float d = 1.0f - dot;
    if (d < s.value) s = {d, int32_t(row)};
  }
  __device__ void merge(State& a, const State& b) const {
    if (b.value < a.value || (b.value == a.value && b.index < a.index)) a = b;
  }
  __device__ void finish(const State& s, int64_t n, int64_t lane) const {
    row_stats[n * 3 * Nx + lane] = s.value + kRowEps;
    row_arg[n * Nx + lane] = s.index;
  }
};

// Sweep 2 (lanes x, rows y): Z_i and U_i = sum_j w_ij d_ij.
struct RowSums {
  struct State {
    float z, u;
  };
  float* row_stats;  // reads [:, 0] = rho, writes [:, 1] = Z and [:, 2] = U / Z
  int64_t Nx;
  float inv_h;

  __device__ State init() const { return {0.0f, 0.0f}; }
  __device__ void update(State& s, float dot, int64_t, int64_t lane, int64_t n) const {
    const float d = 1.0f - dot;
    const float w = expf((1.0f - d / row_stats[n * 3 * Nx + lane]) * inv_h);
    s.z += w;
    s.u += w * d;
  }
  __device__ void merge(State& a, const State& b) const {
    a.z += b.z;
    a.u += b.u;
  }
  __device__ void finish(const State& s, int64_t n, int64_t lane) const {
    row_stats[n * 3 * Nx + Nx + lane] = s.z;
    row_stats[n * 3 * Nx + 2 * Nx + lane] = s.u / s.z;
  }
};

// Sweep 3 (lanes y, rows x): the first maximum of CX_ij = w_ij / Z_i over i,
// compared as the reference compares it (so exact ties, e.g. columns that
// all underflow to 0, pick the first x as torch.max does).
struct ColMax {
  struct State {
    float value;
    int32_t index;
    float d;
  };
  const float* row_stats;  // reads rho and Z
  float* col_stats;        // (N, 3, Ny): M, d at the argmax, c
  int64_t* col_arg;        // (N, Ny)
  int64_t Nx, Ny;
  float inv_h;

  __device__ State init() const { return {-INFINITY, 0, 0.0f}; }
  __device__ void update(State& s, float dot, int64_t row, int64_t, int64_t n) const {
    const float d = 1.0f - dot;
    const float* rs = row_stats + n * 3 * Nx;
    const float c = expf((1.0f - d / rs[row]) * inv_h) / rs[Nx + row];
    if (c > s.value) s = {c, int32_t(row), d};
  }
  __device__ void merge(State& a, const State& b) const {
    if (b.value > a.value || (b.value == a.value && b.index < a.index)) a = b;
  }
  __device__ void finish(const State& s, int64_t n, int64_t lane) const {
    float* cs = col_stats + n * 3 * Ny;
    cs[lane] = s.value;
    cs[Ny + lane] = s.d;
    cs[2 * Ny + lane] = expf((1.0f - s.d) / kConfidenceBand);
    col_arg[n * Ny + lane] = s.index;
  }
};

// cx[n] = sum_j M_j c_j / sum_j c_j, one block per image.
__global__ void cx_kernel(const float* col_stats, float* cx, int64_t N, int64_t Ny) {
  for (int64_t n = blockIdx.x; n < N; n += gridDim.x) {
    const float* cs = col_stats + n * 3 * Ny;
    double a = 0.0, b = 0.0;
    for (int64_t j = threadIdx.x; j < Ny; j += blockDim.x) {
      a += double(cs[j]) * double(cs[2 * Ny + j]);
      b += double(cs[2 * Ny + j]);
    }
    a = block_reduce_sum(a);
    __syncthreads();  // the reduction's scratch is reused
    b = block_reduce_sum(b);
    if (threadIdx.x == 0) cx[n] = float(a / b);
    __syncthreads();
  }
}

// ---- backward ----

// B[n] = sum_j c_j, one block per image.
__global__ void c_sum_kernel(const float* col_stats, float* B, int64_t N, int64_t Ny) {
  for (int64_t n = blockIdx.x; n < N; n += gridDim.x) {
    const float* c = col_stats + n * 3 * Ny + 2 * Ny;
    double acc = 0.0;
    for (int64_t j = threadIdx.x; j < Ny; j += blockDim.x) acc += double(c[j]);
    acc = block_reduce_sum(acc);
    if (threadIdx.x == 0) B[n] = float(acc);
    __syncthreads();
  }
}

// Per column j: the sparse pair value at (b_j, j), and the sums S_i (into
// alpha) and T_i (into grho) over the columns whose argmax is row i.
__global__ void column_coefficients_kernel(const float* row_stats, const float* col_stats, const int64_t* col_arg,
                                           const float* cx, const float* grad_cx, const float* B, float* alpha,
                                           float* grho, float* sparse, int64_t N, int64_t Nx, int64_t Ny, float h) {
  DCSR_GRID_STRIDE_LOOP(e, N * Ny) {
    const int64_t n = e / Ny, j = e % Ny;
    const float* cs = col_stats + n * 3 * Ny;
    const float M = cs[j], dsel = cs[Ny + j], c = cs[2 * Ny + j];
    const float g = grad_cx[n], b = B[n];
    const float gM = g * c / b, gc = g * (M - cx[n]) / b;
    const int64_t i = col_arg[e];
    const float rho = row_stats[n * 3 * Nx + i];
    sparse[e] = gM * M / (h * rho) + gc * 2.0f * c;  // 2 = 1 / kConfidenceBand
    atomicAdd(alpha + n * Nx + i, gM * M);
    atomicAdd(grho + n * Nx + i, gM * M * dsel);
  }
}

// alpha_i = S_i / (Z_i h rho_i);  grho_i = (T_i - S_i E_i) / (h rho_i^2).
__global__ void row_coefficients_kernel(const float* row_stats, float* alpha, float* grho, int64_t N, int64_t Nx,
                                        float h) {
  DCSR_GRID_STRIDE_LOOP(e, N * Nx) {
    const int64_t n = e / Nx, i = e % Nx;
    const float* rs = row_stats + n * 3 * Nx;
    const float rho = rs[i], Z = rs[Nx + i], E = rs[2 * Nx + i];
    const float S = alpha[e];
    grho[e] = (grho[e] - S * E) / (h * rho * rho);
    alpha[e] = S / (Z * h * rho);
  }
}

// tile (ni x nj, cosines in, gcos out): the dense part -alpha_i w_ij.
__global__ void dense_tile_kernel(float* tile, int64_t ni, int64_t nj, const float* alpha, const float* rho,
                                  float inv_h) {
  DCSR_GRID_STRIDE_LOOP(e, ni * nj) {
    const int64_t r = e / nj;
    const float al = alpha[r];
    if (al == 0.0f) {
      tile[e] = 0.0f;  // also keeps an overflowing exp of an unused row out
      continue;
    }
    const float d = 1.0f - tile[e];
    tile[e] = -al * expf((1.0f - d / rho[r]) * inv_h);
  }
}

// The sparse parts inside the tile: + s_j at (b_j, j) and - grho_i at
// (i, a_i). Both may land on one entry, hence the atomics.
__global__ void sparse_tile_kernel(float* tile, int64_t i0, int64_t ni, int64_t j0, int64_t nj,
                                   const int64_t* col_arg, const float* sparse, const int64_t* row_arg,
                                   const float* grho) {
  DCSR_GRID_STRIDE_LOOP(t, max(ni, nj)) {
    if (t < nj) {
      const int64_t b = col_arg[j0 + t];
      if (b >= i0 && b < i0 + ni) atomicAdd(tile + (b - i0) * nj + t, sparse[j0 + t]);
    }
    if (t < ni) {
      const int64_t a = row_arg[i0 + t];
      if (a >= j0 && a < j0 + nj) atomicAdd(tile + t * nj + (a - j0), -grho[i0 + t]);
    }
  }
}

void check_types(const char* op, std::initializer_list<const Tensor*> tensors) {
  for (const Tensor* t : tensors) require_float32(*t, op);
}

}  // namespace

void contextual_forward(const Tensor& xh, const Tensor& yh, double band_width, int64_t workspace_bytes,
                        Tensor& row_stats, Tensor& row_arg, Tensor& col_stats, Tensor& col_arg, Tensor& cx) {
  check_types("contextual_forward", {&xh, &yh, &row_stats, &col_stats, &cx});
  const int64_t N = xh.size(0), C = xh.size(1), Nx = xh.size(2), Ny = yh.size(2);
  DCSR_CHECK(std::max(Nx, Ny) <= INT32_MAX, "contextual_loss: ", std::max(Nx, Ny),
             " features exceed the int32 index of the device states");
  const float inv_h = 1.0f / float(band_width);  // as the CPU: in float, from the float h
  const float* X = xh.data<float>();
  const float* Y = yh.data<float>();
  float* rs = row_stats.data<float>();
  float* cs = col_stats.data<float>();
  sweep::run(Y, Ny, X, Nx, C, N, workspace_bytes, RowMin{rs, row_arg.data<int64_t>(), Nx});
  sweep::run(Y, Ny, X, Nx, C, N, workspace_bytes, RowSums{rs, Nx, inv_h});
  sweep::run(X, Nx, Y, Ny, C, N, workspace_bytes, ColMax{rs, cs, col_arg.data<int64_t>(), Nx, Ny, inv_h});
  if (N == 0) return;
  cx_kernel<<<unsigned(std::min(N, kMaxGridBlocks)), kBlock>>>(cs, cx.data<float>(), N, Ny);
  DCSR_CUDA_CHECK_LAUNCH();
}

void contextual_backward(const Tensor& xh, const Tensor& yh, const Tensor& row_stats, const Tensor& row_arg,
                         const Tensor& col_stats, const Tensor& col_arg, const Tensor& cx, const Tensor& grad_cx,
                         double band_width, int64_t workspace_bytes, Tensor& grad_xh, Tensor& grad_yh) {
  check_types("contextual_backward", {&xh, &yh, &row_stats, &col_stats, &cx, &grad_cx, &grad_xh, &grad_yh});
  const int64_t N = xh.size(0), C = xh.size(1), Nx = xh.size(2), Ny = yh.size(2);
  if (N == 0) return;
  const float h = float(band_width), inv_h = 1.0f / h;
  const float* rs = row_stats.data<float>();
  const float* cs = col_stats.data<float>();
  const int64_t* ra = row_arg.data<int64_t>();
  const int64_t* ca = col_arg.data<int64_t>();
  // Coefficients: alpha, grho (N, Nx), the sparse values (N, Ny), B (N).
  Tensor coeffs = zeros({2 * N * Nx + N * Ny + N}, kFloat32, Device::CUDA);
  float* alpha = coeffs.data<float>();
  float* grho = alpha + N * Nx;
  float* sparse = grho + N * Nx;
  float* B = sparse + N * Ny;
  c_sum_kernel<<<unsigned(std::min(N, kMaxGridBlocks)), kBlock>>>(cs, B, N, Ny);
  DCSR_CUDA_CHECK_LAUNCH();
  if (N * Ny > 0) {
    column_coefficients_kernel<<<grid_for(N * Ny), kBlock>>>(rs, cs, ca, cx.data<float>(), grad_cx.data<float>(), B,
                                                             alpha, grho, sparse, N, Nx, Ny, h);
    DCSR_CUDA_CHECK_LAUNCH();
  }
  if (N * Nx > 0) {
    row_coefficients_kernel<<<grid_for(N * Nx), kBlock>>>(rs, alpha, grho, N, Nx, h);
    DCSR_CUDA_CHECK_LAUNCH();
  }
  if (Nx == 0 || Ny == 0 || C == 0) {
    fill(grad_xh, 0.0);
    fill(grad_yh, 0.0);
    return;
  }
  // Tiles of gcos within the workspace (at least one row).
  const int64_t tile_cols = std::min<int64_t>(Ny, 8192);
  const int64_t tile_rows =
      std::min<int64_t>(Nx, std::max<int64_t>(1, workspace_bytes / (tile_cols * int64_t(sizeof(float)))));
  Tensor tile_storage = empty({tile_rows * tile_cols}, kFloat32, Device::CUDA);
  float* tile = tile_storage.data<float>();
  const float* xd = xh.data<float>();
  const float* yd = yh.data<float>();
  float* gx = grad_xh.data<float>();
  float* gy = grad_yh.data<float>();
  for (int64_t n = 0; n < N; ++n) {
    const float* X = xd + n * C * Nx;
    const float* Y = yd + n * C * Ny;
    float* GX = gx + n * C * Nx;
    float* GY = gy + n * C * Ny;
    for (int64_t i0 = 0; i0 < Nx; i0 += tile_rows) {
      const int64_t ni = std::min(tile_rows, Nx - i0);
      for (int64_t j0 = 0; j0 < Ny; j0 += tile_cols) {
        const int64_t nj = std::min(tile_cols, Ny - j0);
        // cos tile (ni x nj) = X[:, i0:]^T Y[:, j0:]
        gemm_raw(X + i0, Nx, Y + j0, Ny, tile, nj, ni, nj, C, true, false, 1.0f, 0.0f);
        dense_tile_kernel<<<grid_for(ni * nj), kBlock>>>(tile, ni, nj, alpha + n * Nx + i0, rs + n * 3 * Nx + i0,
                                                         inv_h);
        DCSR_CUDA_CHECK_LAUNCH();
        sparse_tile_kernel<<<grid_for(std::max(ni, nj)), kBlock>>>(tile, i0, ni, j0, nj, ca + n * Ny,
                                                                   sparse + n * Ny, ra + n * Nx, grho + n * Nx);
        DCSR_CUDA_CHECK_LAUNCH();
        // GX[:, i0:] (+)= Y[:, j0:] tile^T ;  GY[:, j0:] (+)= X[:, i0:] tile
        gemm_raw(Y + j0, Ny, tile, nj, GX + i0, Nx, C, ni, nj, false, true, 1.0f, j0 == 0 ? 0.0f : 1.0f);
        gemm_raw(X + i0, Nx, tile, nj, GY + j0, Ny, C, nj, ni, false, false, 1.0f, i0 == 0 ? 0.0f : 1.0f);
      }
    }
  }
}

}  // namespace dcsr::kernels::cuda
