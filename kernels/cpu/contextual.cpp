// The pairwise part of the contextual loss (dcsr-spec §9.2) on the CPU,
// without ever holding the Nx x Ny matrices of the reference formulation.
//
// Notation, per image: x_i, y_j the L2-normalised feature columns,
//   cos_ij = <x_i, y_j>,  d_ij = 1 - cos_ij,
//   rho_i = min_j d_ij + 1e-5            (first argmin a_i)
//   w_ij  = exp((1 - d_ij / rho_i) / h), Z_i = sum_j w_ij, CX_ij = w_ij / Z_i
//   M_j   = max_i CX_ij                  (first argmax b_j)
//   c_j   = exp((1 - d_{b_j j}) / 0.5)   (the reference fixes 0.5 here, whatever h)
//   cx    = A / B,  A = sum_j M_j c_j,  B = sum_j c_j.
//
// Forward: two sweeps over the pairs with dot_sweep.h (lanes = the vectors
// a statistic belongs to, rows streamed in increasing index order so strict
// comparisons keep the first index, as torch.min / torch.max):
//   1. lanes x, rows y: each job keeps its lanes' d for every y in a tile, then
//      takes rho_i and a_i from it, then Z_i and U_i = sum_j w_ij d_ij
//      (E_i = U_i / Z_i, for backward). Z needs rho first, and rho changes the
//      exponent's scale (not a factor that could be rescaled on the fly), hence
//      the tile; when it does not fit the workspace, two sweeps instead.
//   2. lanes y, rows x: M_j, b_j and d_{b_j j}, comparing CX_ij = w_ij / Z_i as the
//      reference does (so exact ties, e.g. columns that all underflow to 0, pick the
//      first x like torch.max).
//
// Backward (g = d loss / d cx of the image). Differentiating cx = A / B:
//   dcx/dM_j = c_j / B  =: gM_j (times g);   dcx/dc_j = (M_j - cx) / B =: gc_j.
//   c_j = exp(2 cos_{b_j j})        -> gcos_{b_j j} += gc_j * 2 c_j.
//   M_j = CX_{b_j j} (argmax fixed) -> gCX_{b_j j} = gM_j; all other gCX are 0.
//   CX_ik = w_ik / Z_i              -> gw_ik = (gCX_ik - S_i) / Z_i,
//                                      S_i = sum_k gCX_ik CX_ik = sum over j with b_j = i of gM_j M_j.
//   w_ik = exp((1 - d_ik / rho_i)/h)-> dw/dd = -w / (h rho_i),  dw/drho_i = w d_ik / (h rho_i^2).
//     so gd_ik = -gw_ik w_ik / (h rho_i): a dense part S_i CX_ik / (h rho_i) on every pair of a
//     row with S_i != 0, and a sparse part -gM_j M_j / (h rho_i) at (b_j, j);
//     and grho_i = sum_k gw_ik w_ik d_ik / (h rho_i^2) = (T_i - S_i E_i) / (h rho_i^2),
//     T_i = sum over j with b_j = i of gM_j M_j d_{b_j j},  E_i = sum_k CX_ik d_ik.
//   rho_i = d_{i a_i} + 1e-5        -> gd_{i a_i} += grho_i.
//   cos = 1 - d                     -> gcos = -gd.
// Altogether gcos_ik = -alpha_i w_ik  (alpha_i = S_i / (Z_i h rho_i))
//                      + [k = j, i = b_j] (gM_j M_j / (h rho_i) + 2 gc_j c_j)
//                      - [k = a_i] grho_i,
// and grad x_i = sum_k gcos_ik y_k, grad y_k = sum_i gcos_ik x_i: one tile of gcos at a time,
// recomputing its cosines, then two GEMMs per tile. (Rows that no column
// selects have gcos = 0; with random features about 40 % of them, with
// matching SR / HR features almost none, so they are not treated apart.)
#include <cmath>
#include <limits>

#include "kernels/cpu/cpu_common.h"
#include "kernels/cpu/cpu_gemm.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/dot_sweep.h"
#include "kernels/cpu/vec_exp.h"

namespace dcsr::kernels::cpu {

namespace {
constexpr double kRowEps = 1e-5;         // added to the row minimum of d
constexpr double kConfidenceBand = 0.5;  // c_j = exp((1 - d) / 0.5), fixed in the reference

template <typename T>
void contextual_forward_typed(const Tensor& xh, const Tensor& yh, double band_width, int64_t workspace_bytes,
                              Tensor& row_stats, Tensor& row_arg, Tensor& col_stats, Tensor& col_arg, Tensor& cx) {
  using namespace dot;
  using I = Index<T>;
  using V = Vec<T>;
  using M = Mask<T>;
  const int64_t N = xh.size(0), C = xh.size(1), Nx = xh.size(2), Ny = yh.size(2);
  DCSR_CHECK(std::max(Nx, Ny) <= int64_t(std::numeric_limits<I>::max()), "contextual_loss: ", std::max(Nx, Ny),
             " features exceed the index lanes");
  const int64_t L = kLanes<T>;
  const int64_t Nx_pad = round_up(Nx, kWidth<T>), Ny_pad = round_up(Ny, kWidth<T>);
  // Pass 1 keeps each job's d values for all of y in its scratch (a lane
  // block x Ny tile), takes the row minimum from them and then the row sums.
  // When even one panel's tile does not fit the workspace, it runs as two
  // sweeps instead (the minimum, then the sums): the same values, bit for bit.
  const Blocking by_x_tile = choose_blocking<T>(C, Nx, Ny, workspace_bytes, Ny);
  const bool one_sweep = by_x_tile.fits;
  const Blocking by_x = one_sweep ? by_x_tile : choose_blocking<T>(C, Nx, Ny, workspace_bytes);
  const Blocking by_y = choose_blocking<T>(C, Ny, Nx, workspace_bytes);
  const int64_t pack_elems = std::max(work_elements<T>(by_x, C), work_elements<T>(by_y, C));
  // Packing buffers, then lane states: row min, its index, rho, Z, U over x
  // (padded lanes hold harmless values: they see d = 1), M, its index, d_sel over y.
  Tensor work = empty({pack_elems + 5 * Nx_pad + 3 * Ny_pad}, xh.dtype());
  T* packs = work.data<T>();
  T* dmin = packs + pack_elems;
  I* amin = reinterpret_cast<I*>(dmin + Nx_pad);
  T* rho = dmin + 2 * Nx_pad;
  T* Z = dmin + 3 * Nx_pad;
  T* U = dmin + 4 * Nx_pad;
  T* best = dmin + 5 * Nx_pad;
  I* bidx = reinterpret_cast<I*>(best + Ny_pad);
  T* dsel = best + 2 * Ny_pad;
  const T inv_h = T(1) / T(band_width);
  const T* xd = xh.data<T>();
  const T* yd = yh.data<T>();
  T* rs = row_stats.data<T>();
  T* cs = col_stats.data<T>();
  int64_t* ra = row_arg.data<int64_t>();
  int64_t* ca = col_arg.data<int64_t>();
  T* cxd = cx.data<T>();

  // The two reductions of pass 1, on one vector of lanes, rows in increasing j:
  // the first index among equal minima of d (strict <), and Z, U summed in order.
  auto take_min = [](const V& d, I j, V& b, M& bi) {
    const M smaller = d < b;
    b = smaller ? d : b;
    bi = smaller ? (M{} + j) : bi;
  };
  auto add_weight = [inv_h](const V& d, const V& rh, V& z, V& u) {
    const V w = vexp<T>((T(1) - d / rh) * inv_h);
    z += w;
    u += w * d;
  };

  for (int64_t n = 0; n < N; ++n) {
    const T* X = xd + n * C * Nx;
    const T* Y = yd + n * C * Ny;
    std::fill(dmin, dmin + Nx_pad, std::numeric_limits<T>::infinity());
    std::fill(amin, amin + Nx_pad, I(0));
    std::fill(Z, Z + Nx_pad, T(0));
    std::fill(U, U + Nx_pad, T(0));
    if (one_sweep) {
      // 1. d into the job's tile [j][lane], then per vector of lanes: the
      //    minimum over j, rho, and the sums over j.
      const int64_t lb = by_x.lane_block;
      sweep<T>(
          Y, Ny, Ny, X, Nx, Nx, C, by_x, packs,
          [&](const Block<T>& acc, int64_t row0, int rows, int64_t lane0, T* tile) {
            T* at = tile + lane0 % lb;
            for (int r = 0; r < rows; ++r)
              for (int v = 0; v < kVecs; ++v) store(at + (row0 + r) * lb + v * L, T(1) - acc[r][v]);
          },
          [&](int64_t l0, int64_t nl, T* tile) {
            for (int64_t lv = 0; lv < round_up(nl, L); lv += L) {
              V b = load(dmin + l0 + lv);
              M bi = *reinterpret_cast<const M*>(amin + l0 + lv);
              for (int64_t j = 0; j < Ny; ++j) take_min(load(tile + j * lb + lv), I(j), b, bi);
              store(dmin + l0 + lv, b);
              *reinterpret_cast<M*>(amin + l0 + lv) = bi;
              const V rh = b + T(kRowEps);
              V z = Vec<T>{}, u = Vec<T>{};
              for (int64_t j = 0; j < Ny; ++j) add_weight(load(tile + j * lb + lv), rh, z, u);
              store(Z + l0 + lv, z);
              store(U + l0 + lv, u);
            }
          });
      for (int64_t i = 0; i < Nx_pad; ++i) rho[i] = i < Nx ? dmin[i] + T(kRowEps) : T(1);
    } else {
      // 1a. rho_i;  1b. Z_i and U_i.
      sweep<T>(Y, Ny, Ny, X, Nx, Nx, C, by_x, packs,
               [&](const Block<T>& acc, int64_t row0, int rows, int64_t lane0, T*) {
                 for (int v = 0; v < kVecs; ++v) {
                   V b = load(dmin + lane0 + v * L);
                   M bi = *reinterpret_cast<const M*>(amin + lane0 + v * L);
                   for (int r = 0; r < rows; ++r) take_min(T(1) - acc[r][v], I(row0 + r), b, bi);
                   store(dmin + lane0 + v * L, b);
                   *reinterpret_cast<M*>(amin + lane0 + v * L) = bi;
                 }
               });
      for (int64_t i = 0; i < Nx_pad; ++i) rho[i] = i < Nx ? dmin[i] + T(kRowEps) : T(1);
      sweep<T>(Y, Ny, Ny, X, Nx, Nx, C, by_x, packs, [&](const Block<T>& acc, int64_t, int rows, int64_t lane0, T*) {
        for (int v = 0; v < kVecs; ++v) {
          const V rh = load(rho + lane0 + v * L);
          V z = load(Z + lane0 + v * L), u = load(U + lane0 + v * L);
          for (int r = 0; r < rows; ++r) add_weight(T(1) - acc[r][v], rh, z, u);
          store(Z + lane0 + v * L, z);
          store(U + lane0 + v * L, u);
        }
      });
    }
    // 2. M_j = max_i CX_ij with the first argmax, and d at that argmax.
    std::fill(best, best + Ny_pad, -std::numeric_limits<T>::infinity());
    std::fill(bidx, bidx + Ny_pad, I(0));
    std::fill(dsel, dsel + Ny_pad, T(0));
    sweep<T>(X, Nx, Nx, Y, Ny, Ny, C, by_y, packs, [&](const Block<T>& acc, int64_t row0, int rows, int64_t lane0, T*) {
      for (int v = 0; v < kVecs; ++v) {
        V b = load(best + lane0 + v * L), ds = load(dsel + lane0 + v * L);
        M bi = *reinterpret_cast<const M*>(bidx + lane0 + v * L);
        for (int r = 0; r < rows; ++r) {
          const int64_t i = row0 + r;
          const V d = T(1) - acc[r][v];
          const V c = vexp<T>((T(1) - d / rho[i]) * inv_h) / Z[i];
          const M greater = c > b;
          b = greater ? c : b;
          ds = greater ? d : ds;
          bi = greater ? (M{} + I(i)) : bi;
        }
        store(best + lane0 + v * L, b);
        store(dsel + lane0 + v * L, ds);
        *reinterpret_cast<M*>(bidx + lane0 + v * L) = bi;
      }
    });
    // Row and column statistics, then cx = sum M c / sum c.
    T* rn = rs + n * 3 * Nx;
    for (int64_t i = 0; i < Nx; ++i) {
      rn[i] = rho[i];
      rn[Nx + i] = Z[i];
      rn[2 * Nx + i] = U[i] / Z[i];
      ra[n * Nx + i] = amin[i];
    }
    T* cn = cs + n * 3 * Ny;
    T A = 0, B = 0;
    for (int64_t j = 0; j < Ny; ++j) {
      const T c = std::exp((T(1) - dsel[j]) / T(kConfidenceBand));
      cn[j] = best[j];
      cn[Ny + j] = dsel[j];
      cn[2 * Ny + j] = c;
      ca[n * Ny + j] = bidx[j];
      A += best[j] * c;
      B += c;
    }
    cxd[n] = A / B;
  }
}

template <typename T>
void contextual_backward_typed(const Tensor& xh, const Tensor& yh, const Tensor& row_stats, const Tensor& row_arg,
                               const Tensor& col_stats, const Tensor& col_arg, const Tensor& cx,
                               const Tensor& grad_cx, double band_width, int64_t workspace_bytes, Tensor& grad_xh,
                               Tensor& grad_yh) {
  using namespace dot;
  using V = Vec<T>;
  const int64_t N = xh.size(0), C = xh.size(1), Nx = xh.size(2), Ny = yh.size(2);
  const int64_t L = kLanes<T>;
  const T h = T(band_width), inv_h = T(1) / h;
  // Tile of gcos: tile_cols (a multiple of the SIMD width) x tile_rows, at
  // most 8 MB and within the workspace, at least one vector row.
  const int64_t tile_cols = round_up(std::min<int64_t>(Ny, 2048), L);
  const int64_t budget = std::min<int64_t>(workspace_bytes, int64_t(8) << 20);
  const int64_t tile_rows =
      std::min<int64_t>(Nx, std::max<int64_t>(1, budget / (tile_cols * int64_t(sizeof(T)))));
  // The tile, then per row: alpha, grho, and per column the sparse value s_j.
  Tensor work = empty({tile_rows * tile_cols + 2 * Nx + Ny}, xh.dtype());
  T* tile = work.data<T>();
  T* alpha = tile + tile_rows * tile_cols;
  T* grho = alpha + Nx;
  T* sparse = grho + Nx;
  const T* xd = xh.data<T>();
  const T* yd = yh.data<T>();
  const T* rs = row_stats.data<T>();
  const T* cs = col_stats.data<T>();
  const int64_t* ra = row_arg.data<int64_t>();
  const int64_t* ca = col_arg.data<int64_t>();
  T* gx = grad_xh.data<T>();
  T* gy = grad_yh.data<T>();

  for (int64_t n = 0; n < N; ++n) {
    const T* X = xd + n * C * Nx;
    const T* Y = yd + n * C * Ny;
    const T* rho = rs + n * 3 * Nx;
    const T* Z = rho + Nx;
    const T* E = rho + 2 * Nx;
    const T* Mj = cs + n * 3 * Ny;
    const T* dsel = Mj + Ny;
    const T* c = Mj + 2 * Ny;
    const int64_t* a = ra + n * Nx;
    const int64_t* b = ca + n * Ny;
    const T g = grad_cx.data<T>()[n], cxn = cx.data<T>()[n];
    T* GX = gx + n * C * Nx;
    T* GY = gy + n * C * Ny;
    T B = 0;
    for (int64_t j = 0; j < Ny; ++j) B += c[j];
    // Per-column and per-row coefficients (S_i in alpha, T_i in grho first).
    std::fill(alpha, alpha + Nx, T(0));
    std::fill(grho, grho + Nx, T(0));
    for (int64_t j = 0; j < Ny; ++j) {
      const T gM = g * c[j] / B, gc = g * (Mj[j] - cxn) / B;
      const int64_t i = b[j];
      sparse[j] = gM * Mj[j] / (h * rho[i]) + gc * T(2) * c[j];  // T(2) = 1 / kConfidenceBand
      alpha[i] += gM * Mj[j];
      grho[i] += gM * Mj[j] * dsel[j];
    }
    for (int64_t i = 0; i < Nx; ++i) {
      const T S = alpha[i];
      grho[i] = (grho[i] - S * E[i]) / (h * rho[i] * rho[i]);
      alpha[i] = S / (Z[i] * h * rho[i]);
    }
    std::fill(GY, GY + C * Ny, T(0));
    for (int64_t i0 = 0; i0 < Nx; i0 += tile_rows) {
      const int64_t ni = std::min(tile_rows, Nx - i0);
      for (int64_t j0 = 0; j0 < Ny; j0 += tile_cols) {
        const int64_t nj = std::min(tile_cols, Ny - j0);
        // Threads split the tile's rows, then its columns, and every GEMM
        // below runs single-threaded inside the parallel region: Eigen's own
        // threading spin-waits between its blocks, which on a busy machine
        // cost more than the products themselves.
        // Phase 1, rows [r0, r1) of the tile per thread:
        //   cos = X[:, rows]^T Y[:, cols];  gcos from it (dense and sparse parts);
        //   GX[:, rows] (+)= Y[:, cols] gcos^T  (a thread owns its rows of GX).
        parallel_for(ni, 16, [&](int64_t r0, int64_t r1) {
          T* rows = tile + r0 * tile_cols;
          gemm_raw<T>(X + i0 + r0, Nx, Y + j0, Ny, rows, tile_cols, r1 - r0, nj, C, true, false, T(1), T(0));
          for (int64_t r = r0; r < r1; ++r) {
            T* row = tile + r * tile_cols;
            const T al = alpha[i0 + r], rh = rho[i0 + r];
            if (al == T(0)) {
              std::fill(row, row + nj, T(0));
            } else {  // whole vectors: the padding columns compute garbage that no GEMM reads
              for (int64_t col = 0; col < nj; col += L) {
                const V d = T(1) - load(row + col);
                store(row + col, -al * vexp<T>((T(1) - d / rh) * inv_h));
              }
            }
            if (a[i0 + r] >= j0 && a[i0 + r] < j0 + nj) row[a[i0 + r] - j0] -= grho[i0 + r];
          }
          for (int64_t j = j0; j < j0 + nj; ++j)
            if (b[j] >= i0 + r0 && b[j] < i0 + r1) tile[(b[j] - i0) * tile_cols + (j - j0)] += sparse[j];
          gemm_raw<T>(Y + j0, Ny, rows, tile_cols, GX + i0 + r0, Nx, C, r1 - r0, nj, false, true, T(1),
                      j0 == 0 ? T(0) : T(1));
        });
        // Phase 2, columns [c0, c1) per thread: GY[:, cols] += X[:, rows] gcos.
        parallel_for(nj, 16, [&](int64_t c0, int64_t c1) {
          gemm_raw<T>(X + i0, Nx, tile + c0, tile_cols, GY + j0 + c0, Ny, C, c1 - c0, ni, false, false, T(1), T(1));
        });
      }
    }
  }
}
}  // namespace

void contextual_forward(const Tensor& xh, const Tensor& yh, double band_width, int64_t workspace_bytes,
                        Tensor& row_stats, Tensor& row_arg, Tensor& col_stats, Tensor& col_arg, Tensor& cx) {
  dispatch_floating(xh.dtype(), "contextual_forward", [&](auto zero) {
    contextual_forward_typed<decltype(zero)>(xh, yh, band_width, workspace_bytes, row_stats, row_arg, col_stats,
                                             col_arg, cx);
  });
}

void contextual_backward(const Tensor& xh, const Tensor& yh, const Tensor& row_stats, const Tensor& row_arg,
                         const Tensor& col_stats, const Tensor& col_arg, const Tensor& cx, const Tensor& grad_cx,
                         double band_width, int64_t workspace_bytes, Tensor& grad_xh, Tensor& grad_yh) {
  dispatch_floating(xh.dtype(), "contextual_backward", [&](auto zero) {
    contextual_backward_typed<decltype(zero)>(xh, yh, row_stats, row_arg, col_stats, col_arg, cx, grad_cx,
                                              band_width, workspace_bytes, grad_xh, grad_yh);
  });
}

}  // namespace dcsr::kernels::cpu
