// Bilinear sampling at arbitrary points on the CPU, with the three border
// rules of dcsr::GridBorder, and its gradients wrt the image and the points.
#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_common.h"
#include "kernels/cpu/cpu_kernels.h"

namespace dcsr::kernels::cpu {

namespace {

// The two taps of one axis: value = sum over (a, b) of w_a(row) w_b(col)
// X[q_a(row), q_b(col)] over the corners that are `valid`, and
// d w0 / dP = -gate, d w1 / dP = +gate in every rule.
template <typename T>
struct Taps {
  int64_t q0, q1;
  T w0, w1;
  bool valid0, valid1;
  T gate;
};

// floor(P) as an integer, saturated well outside [0, size) so that huge (or
// NaN) coordinates cannot overflow the conversion.
template <typename T>
inline int64_t safe_floor(T p, int64_t size) {
  const T f = std::floor(p);
  if (!(f > T(-2))) return -2;
  if (f > T(size + 1)) return size + 1;
  return int64_t(f);
}

inline int64_t clamp_index(int64_t i, int64_t size) { return std::min(std::max(i, int64_t(0)), size - 1); }

template <typename T>
inline Taps<T> taps(T p, int64_t size, SampleBorder border) {
  Taps<T> t;
  const T last = T(size - 1);
  switch (border) {
    case SampleBorder::Zeros: {  // grid_sample padding_mode='zeros': outside corners read 0
      const int64_t f = safe_floor(p, size);
      t.q0 = f;
      t.q1 = f + 1;
      t.w1 = p - T(f);
      t.w0 = T(1) - t.w1;
      t.valid0 = f >= 0 && f < size;
      t.valid1 = f + 1 >= 0 && f + 1 < size;
      t.gate = T(1);
      if (!t.valid0) t.q0 = 0;
      if (!t.valid1) t.q1 = 0;
      break;
    }
    case SampleBorder::Clamp: {  // padding_mode='border': the point is clamped into the image;
      // as PyTorch, no gradient at or beyond the edges (clip_coordinates)
      const T pc = std::min(std::max(p, T(0)), last);
      const int64_t f = clamp_index(safe_floor(pc, size), size);
      t.q0 = f;
      t.q1 = std::min(f + 1, size - 1);  // w1 = 0 whenever this clamp acts
      t.w1 = pc - T(f);
      t.w0 = T(1) - t.w1;
      t.valid0 = t.valid1 = true;
      t.gate = (p > T(0) && p < last) ? T(1) : T(0);
      break;
    }
    case SampleBorder::DcsrReference: {  // dcsr-spec §5 step 7, literally: floor, then clamp
      // both corner indices and P itself to [0, size-1], weights from the
      // clamped values. At or beyond the last row/column (and below 0) q0 = q1
      // and both weights are 1: the border pixel counts twice.
      const int64_t f = safe_floor(p, size);
      t.q0 = clamp_index(f, size);
      t.q1 = clamp_index(f + 1, size);
      const T pc = std::min(std::max(p, T(0)), last);
      t.w0 = T(1) + (T(t.q0) - pc);
      t.w1 = T(1) - (T(t.q1) - pc);
      t.valid0 = t.valid1 = true;
      t.gate = (p >= T(0) && p <= last) ? T(1) : T(0);  // torch.clamp passes the gradient at the bounds
      break;
    }
  }
  return t;
}

// The four corners of a point: offsets into a plane and weights (0 for an
// invalid corner), in the reference's order (00, 11, 01, 10).
template <typename T>
struct Corners {
  int64_t off[4];
  T w[4];
};

template <typename T>
inline Corners<T> corners(const Taps<T>& r, const Taps<T>& c, int64_t W) {
  Corners<T> k;
  k.off[0] = r.q0 * W + c.q0;
  k.w[0] = (r.valid0 && c.valid0) ? r.w0 * c.w0 : T(0);
  k.off[1] = r.q1 * W + c.q1;
  k.w[1] = (r.valid1 && c.valid1) ? r.w1 * c.w1 : T(0);
  k.off[2] = r.q0 * W + c.q1;
  k.w[2] = (r.valid0 && c.valid1) ? r.w0 * c.w1 : T(0);
  k.off[3] = r.q1 * W + c.q0;
  k.w[3] = (r.valid1 && c.valid0) ? r.w1 * c.w0 : T(0);
  return k;
}

// Runs row(n, y, gr, gc) for every row of output points, one job each (the
// grain sized for the C channels every point touches); gr and gc are the
// row's Wo row and column coordinates in grid (N, 2, Ho, Wo).
template <typename T, typename Row>
void for_each_point_row(const T* grid, int64_t N, int64_t Ho, int64_t Wo, int64_t C, const Row& row) {
  const int64_t P = Ho * Wo;
  parallel_for(N * Ho, std::max<int64_t>(1, (1 << 12) / std::max<int64_t>(Wo * C, 1)), [&](int64_t begin, int64_t end) {
    for (int64_t job = begin; job < end; ++job) {
      const int64_t n = job / Ho, y = job % Ho;
      const T* gr = grid + n * 2 * P + y * Wo;
      row(n, y, gr, gr + P);
    }
  });
}

template <typename T>
void grid_sample_typed(const Tensor& x, const Tensor& grid, SampleBorder border, Tensor& out) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t Ho = grid.size(2), Wo = grid.size(3), P = Ho * Wo;
  const T* xd = x.data<T>();
  const T* gd = grid.data<T>();
  T* od = out.data<T>();
  auto sample = [](const Corners<T>& k, const T* plane) {
    return k.w[0] * plane[k.off[0]] + k.w[1] * plane[k.off[1]] + k.w[2] * plane[k.off[2]] + k.w[3] * plane[k.off[3]];
  };
  // The corners are found once per point and applied to every channel, point
  // by point. Where the output planes are a multiple of 4 KB apart (288 x 288
  // or 256 x 256 points), a point's stores to its channels share their
  // addresses' low 12 bits, and the loads after them wait on the stores (4K
  // aliasing): there a row of points' corners is found first and applied
  // channel by channel, each channel's row of outputs stored in one run. 32
  // channels at 288 x 288: 6.6-7.1 -> 3.6-3.8 ms, at 256 x 256 5.6 -> 2.8-3.8
  // ms (Zen 4, 2 threads). Elsewhere that order is slower, reloading each
  // point's corners for every channel (332 x 332: 4.8 -> 5.8 ms). The same
  // sums either way.
  const bool output_planes_alias = (P * int64_t(sizeof(T))) % 4096 == 0;
  for_each_point_row(gd, N, Ho, Wo, C, [&](int64_t n, int64_t y, const T* gr, const T* gc) {
    if (!output_planes_alias) {
      for (int64_t xo = 0; xo < Wo; ++xo) {
        const Corners<T> k = corners(taps(gr[xo], H, border), taps(gc[xo], W, border), W);
        for (int64_t c = 0; c < C; ++c) od[(n * C + c) * P + y * Wo + xo] = sample(k, xd + (n * C + c) * H * W);
      }
      return;
    }
    thread_local std::vector<Corners<T>> row;
    row.resize(size_t(Wo));
    for (int64_t xo = 0; xo < Wo; ++xo) row[size_t(xo)] = corners(taps(gr[xo], H, border), taps(gc[xo], W, border), W);
    for (int64_t c = 0; c < C; ++c) {
      const T* plane = xd + (n * C + c) * H * W;
      T* o = od + (n * C + c) * P + y * Wo;
      for (int64_t xo = 0; xo < Wo; ++xo) o[xo] = sample(row[size_t(xo)], plane);
    }
  });
}

template <typename T>
void grid_sample_backward_typed(const Tensor& x, const Tensor& grid, const Tensor& grad_out, SampleBorder border,
                                Tensor& grad_x, Tensor& grad_grid) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t Ho = grid.size(2), Wo = grid.size(3), P = Ho * Wo;
  const T* xd = x.data<T>();
  const T* gd = grid.data<T>();
  const T* go = grad_out.data<T>();
  if (grad_x.defined()) {
    // One job per (n, c) plane: many points may read the same pixel, and all
    // their contributions land in that plane, summed by one thread.
    T* gx = grad_x.data<T>();
    parallel_for(N * C, 1, [&](int64_t begin, int64_t end) {
      for (int64_t nc = begin; nc < end; ++nc) {
        const int64_t n = nc / C;
        T* plane = gx + nc * H * W;
        std::fill(plane, plane + H * W, T(0));
        const T* gr = gd + n * 2 * P;
        const T* gc = gr + P;
        const T* g = go + nc * P;
        for (int64_t p = 0; p < P; ++p) {
          const Corners<T> k = corners(taps(gr[p], H, border), taps(gc[p], W, border), W);
          for (int corner = 0; corner < 4; ++corner) plane[k.off[corner]] += k.w[corner] * g[p];
        }
      }
    });
  }
  if (grad_grid.defined()) {
    // d value / d P_row = gate_row * sum_b wc_b (X[q1, qc_b] - X[q0, qc_b]) and
    // likewise for the column; invalid corners read 0. Summed over channels.
    T* gg = grad_grid.data<T>();
    for_each_point_row(gd, N, Ho, Wo, C, [&](int64_t n, int64_t y, const T* gr, const T* gc) {
      for (int64_t xo = 0; xo < Wo; ++xo) {
        const Taps<T> r = taps(gr[xo], H, border), c = taps(gc[xo], W, border);
        T grad_r = T(0), grad_c = T(0);
        for (int64_t ch = 0; ch < C; ++ch) {
          const T* plane = xd + (n * C + ch) * H * W;
          auto at = [&](bool valid, int64_t off) { return valid ? plane[off] : T(0); };
          const T x00 = at(r.valid0 && c.valid0, r.q0 * W + c.q0), x01 = at(r.valid0 && c.valid1, r.q0 * W + c.q1);
          const T x10 = at(r.valid1 && c.valid0, r.q1 * W + c.q0), x11 = at(r.valid1 && c.valid1, r.q1 * W + c.q1);
          const T g = go[(n * C + ch) * P + y * Wo + xo];
          grad_r += g * (c.w0 * (x10 - x00) + c.w1 * (x11 - x01));
          grad_c += g * (r.w0 * (x01 - x00) + r.w1 * (x11 - x10));
        }
        gg[n * 2 * P + y * Wo + xo] = grad_r * r.gate;
        gg[n * 2 * P + P + y * Wo + xo] = grad_c * c.gate;
      }
    });
  }
}

}  // namespace

void grid_sample(const Tensor& x, const Tensor& grid, SampleBorder border, Tensor& out) {
  dispatch_floating(x.dtype(), "grid_sample", [&](auto zero) { grid_sample_typed<decltype(zero)>(x, grid, border, out); });
}

void grid_sample_backward(const Tensor& x, const Tensor& grid, const Tensor& grad_out, SampleBorder border,
                          Tensor& grad_x, Tensor& grad_grid) {
  dispatch_floating(x.dtype(), "grid_sample_backward", [&](auto zero) {
    grid_sample_backward_typed<decltype(zero)>(x, grid, grad_out, border, grad_x, grad_grid);
  });
}

}  // namespace dcsr::kernels::cpu
