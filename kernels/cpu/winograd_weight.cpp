// The Winograd weight gradient (winograd.h): the adjoint of the forward
//   y_tile = A^T [ (G w G^T) . (B^T x_tile B) ] A,
// so that for every pair of channels
//   dW[co][ci] (3x3) = G^T [ sum over images and tiles of Z[co] . V[ci] ] G,
//   Z = A dY_tile A^T, V = B^T x_tile B (both (m+2) x (m+2)).
// Tiles are the forward's: m x m blocks of the output, in groups of eight
// side by side; the input window of a tile is the forward's, zero outside
// the image (padding 0..2), and the output-gradient tiles past Ho or Wo are
// zero, so tiles crossing the edge count only what the conv read.
//
// A job takes `block` tiles: the input transform of every input channel
// (V: P x Cin x block, Kernels::input), the gradient transform of every
// output channel (Z: P x Cout x block), then for every position the GEMM
// acc[pos] (Cout x Cin) += Z[pos] V[pos]^T, contracting over the tiles, into
// the thread's own float accumulator, which every kJobsPerFlush jobs is
// added into the thread's double accumulator. Jobs are split into fixed
// ranges per thread and the accumulators are added in thread order, in
// double, at the end, then G^T (.) G takes every channel pair down to 3x3
// (in double). Scratch per thread: V, Z and the two accumulators (P x Cout x
// Cin each), about 2.4 MB for 64 channels, F(4x4) and 32 tiles per job.
//
// This file also has the portable versions of the two steps of
// WeightKernels; the AVX2 and AVX-512 ones are in winograd_avx2.cpp and
// winograd_avx512.cpp.
#include <algorithm>
#include <vector>

#include "kernels/cpu/cpu_common.h"
#include "kernels/cpu/winograd.h"
#include "kernels/cpu/winograd_transforms.h"

namespace dcsr::kernels::cpu {

namespace winograd {

namespace {

constexpr int64_t kGenericRows = 4, kGenericCols = 8, kGenericBlock = 16;

// A thread's float accumulator takes the products of this many jobs (512
// tiles on the SIMD paths), then is added into its double accumulator and
// cleared: float sums over a whole batch of large images would otherwise
// add most of the float32 error (the products of F(4x4)'s transforms are
// large against the gradient they cancel down to).
constexpr int64_t kJobsPerFlush = 16;

// A thread's sums: the double accumulator and the float one (P x cout_pad x cin_pad each).
struct SlotSums {
  const double* wide;
  const float* recent;
};

template <int M>
void gradient_generic(const float* p, int64_t ld, float* z, int64_t pos_stride) {
  constexpr int N = M + 2;
  for (int64_t t = 0; t < 8; ++t) {
    float h[M][N];  // h[r][l]: row r of the tile transformed along x
    for (int r = 0; r < M; ++r) {
      float d[M];
      for (int c = 0; c < M; ++c) d[c] = p[r * ld + M * t + c];
      gradient_1d<M>(d, h[r]);
    }
    for (int l = 0; l < N; ++l) {
      float col[M], o[N];
      for (int r = 0; r < M; ++r) col[r] = h[r][l];
      gradient_1d<M>(col, o);
      for (int k = 0; k < N; ++k) z[(k * N + l) * pos_stride + t] = o[k];
    }
  }
}

void gradient_generic_any(int m, const float* p, int64_t ld, float* z, int64_t pos_stride) {
  if (m == 4) return gradient_generic<4>(p, ld, z, pos_stride);
  gradient_generic<2>(p, ld, z, pos_stride);
}

void accumulate_generic(int m, const float* z, int64_t z_pos, const float* v, int64_t v_pos, float* vt, float* acc,
                        int64_t cin, int64_t cout_pad, int64_t cin_pad) {
  const int64_t positions = (m + 2) * (m + 2), block = kGenericBlock;
  for (int64_t pos = 0; pos < positions; ++pos) {
    const float* vp = v + pos * v_pos;
    for (int64_t ci = 0; ci < cin; ++ci)
      for (int64_t t = 0; t < block; ++t) vt[t * cin_pad + ci] = vp[ci * block + t];
    for (int64_t co = 0; co < cout_pad; ++co) {
      const float* zr = z + pos * z_pos + co * block;
      float* a = acc + (pos * cout_pad + co) * cin_pad;
      for (int64_t t = 0; t < block; ++t) {
        const float zt = zr[t];
        const float* vr = vt + t * cin_pad;
        for (int64_t ci = 0; ci < cin_pad; ++ci) a[ci] += zt * vr[ci];
      }
    }
  }
}

// gw[co][ci] (3x3) = G^T T G of T[pos] = the sum of the threads' accumulators at [pos][co][ci], in slot order.
// A small part of the work (Cout Cin P per thread): on one thread unless the
// channels are many, since on shared cores every parallel region can cost a
// scheduler time slice.
template <int M>
void finish(const ConvShape& s, const std::vector<SlotSums>& sums, int64_t cout_pad, int64_t cin_pad, float* gw) {
  constexpr int N = M + 2;
  const int64_t per_channel = s.Cin * N * N * int64_t(sums.size() + 4);
  parallel_for(s.Cout, std::max<int64_t>(1, (int64_t(1) << 23) / per_channel), [&](int64_t begin, int64_t end) {
    std::vector<double> row(s.Cin * N * N);  // one output channel's sums: row[ci*P + pos]
    for (int64_t co = begin; co < end; ++co) {
      std::fill(row.begin(), row.end(), 0.0);
      for (const SlotSums& slot : sums)  // in slot order; each position's Cin values are contiguous
        for (int pos = 0; pos < N * N; ++pos) {
          const int64_t at = (pos * cout_pad + co) * cin_pad;
          for (int64_t ci = 0; ci < s.Cin; ++ci)
            row[ci * N * N + pos] += slot.wide[at + ci] + double(slot.recent[at + ci]);
        }
      for (int64_t ci = 0; ci < s.Cin; ++ci) {
        const double* t = row.data() + ci * N * N;  // t[k*N + l], k along y, l along x
        double rows[N][3];                          // rows[k] = G^T t[k][.] (along x)
        for (int k = 0; k < N; ++k) {
          double tk[N];
          std::copy(t + k * N, t + (k + 1) * N, tk);
          weight_gradient_1d<M>(tk, rows[k]);
        }
        float* g = gw + (co * s.Cin + ci) * 9;
        for (int kx = 0; kx < 3; ++kx) {
          double col[N], o[3];
          for (int k = 0; k < N; ++k) col[k] = rows[k][kx];
          weight_gradient_1d<M>(col, o);
          for (int ky = 0; ky < 3; ++ky) g[ky * 3 + kx] = float(o[ky]);
        }
      }
    }
  });
}

}  // namespace

const WeightKernels& generic_weight_kernels() {
  static const WeightKernels kernels{kGenericRows, kGenericCols, kGenericBlock, gradient_generic_any,
                                     accumulate_generic};
  return kernels;
}

const WeightKernels& weight_kernels_for(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kAvx512: return avx512_weight_kernels();
    case CpuIsa::kAvx2: return avx2_weight_kernels();
    case CpuIsa::kGeneric: break;
  }
  return generic_weight_kernels();
}

}  // namespace winograd

bool winograd_backward_weight(const ConvShape& s, const float* gy, const float* x, float* gw, int64_t limit, int m,
                              CpuIsa isa) {
  const winograd::Kernels& kern = winograd::kernels_for(isa);
  const winograd::WeightKernels& wk = winograd::weight_kernels_for(isa);
  const int64_t N = m + 2, positions = N * N, block = wk.block, per_job = block / 8;
  // The forward's groups of 8 tiles side by side, along tile rows, then tile rows, then images.
  const int64_t tiles_y = (s.Ho + m - 1) / m, per_row = (s.Wo + 8 * m - 1) / (8 * m);
  const int64_t all_groups = s.N * tiles_y * per_row, jobs = (all_groups + per_job - 1) / per_job;
  const int64_t window_cols = 8 * m + 2, group_cols = 8 * m;  // a group's input window and output columns
  const int64_t cout_pad = (s.Cout + wk.mr - 1) / wk.mr * wk.mr, cin_pad = (s.Cin + wk.nr - 1) / wk.nr * wk.nr;
  // V and Z: a position's rows, then 16 floats of padding, so that the transforms' stores to the P
  // positions do not all fall in the same cache set (a position is 8 KB for 64 channels otherwise).
  const int64_t v_pos = s.Cin * block + 16, z_pos = cout_pad * block + 16;
  const int64_t v_floats = positions * v_pos, z_floats = positions * z_pos;
  const int64_t vt_floats = block * cin_pad, acc_floats = positions * cout_pad * cin_pad;
  const int64_t acc_offset = v_floats + z_floats + vt_floats + N * window_cols + m * group_cols;
  const int64_t slot_floats = acc_offset + acc_floats;
  // Two passes over the data (both transforms), the GEMMs about 2 Cin Cout P / m^2 per pixel.
  const int workers = job_workers(jobs, s.flops());
  const int64_t bytes_per_slot = slot_floats * int64_t(sizeof(float)) + acc_floats * int64_t(sizeof(double));
  if (int64_t(workers) * bytes_per_slot > limit) return false;

  Tensor scratch = empty({int64_t(workers) * slot_floats}, kFloat32);
  Tensor wide_sums = empty({int64_t(workers) * acc_floats}, kFloat64);
  float* ws = scratch.data<float>();
  double* wide = wide_sums.data<double>();
  // Per slot: whether it has run a job (a thread may get none), and its jobs since the last flush.
  std::vector<char> used(workers, 0);
  std::vector<int64_t> pending(workers, 0);
  struct Group {
    int64_t n, y0, x0;  // image, first output row and column
  };
  auto group_at = [&](int64_t q) {
    return Group{q / (tiles_y * per_row), m * ((q / per_row) % tiles_y), group_cols * (q % per_row)};
  };
  run_jobs(jobs, workers, [&](int64_t job, int slot) {
    const int64_t first = job * per_job, count = std::min(per_job, all_groups - first);
    float* v = ws + slot * slot_floats;
    float* z = v + v_floats;
    float* vt = z + z_floats;
    float* x_window = vt + vt_floats;                 // an edge group's staged input window
    float* gy_window = x_window + N * window_cols;  // an edge group's staged output-gradient rows
    float* acc = ws + slot * slot_floats + acc_offset;
    if (!used[slot]) {  // the slot's first job (one thread per slot): Z's padding rows, vt's padding columns and
      used[slot] = 1;   // acc start at zero and stay so
      std::fill(z, z + z_floats + vt_floats, 0.0f);
      std::fill_n(acc, acc_floats, 0.0f);
      std::fill_n(wide + slot * acc_floats, acc_floats, 0.0);
    }
    for (int64_t g = 0; g < per_job; ++g) {
      if (g >= count) {  // past the last group: zeros, which add nothing
        for (int64_t pos = 0; pos < positions; ++pos) {
          for (int64_t ci = 0; ci < s.Cin; ++ci) std::fill_n(v + pos * v_pos + ci * block + 8 * g, 8, 0.0f);
          for (int64_t co = 0; co < s.Cout; ++co) std::fill_n(z + pos * z_pos + co * block + 8 * g, 8, 0.0f);
        }
        continue;
      }
      const Group grp = group_at(first + g);
      winograd::input_group(kern, m, s, x, grp.n, grp.y0, grp.x0, v + 8 * g, block, v_pos, x_window);
      // The output-gradient tiles: rows y0 .. y0 + m - 1, columns x0 .. x0 + 8m - 1, zero past Ho, Wo.
      const bool gy_inside = grp.y0 + m <= s.Ho && grp.x0 + group_cols <= s.Wo;
      for (int64_t co = 0; co < s.Cout; ++co) {
        const float* plane = gy + (grp.n * s.Cout + co) * s.Ho * s.Wo;
        float* zg = z + co * block + 8 * g;
        if (gy_inside) {
          wk.gradient(m, plane + grp.y0 * s.Wo + grp.x0, s.Wo, zg, z_pos);
        } else {
          winograd::stage_window(plane, s.Ho, s.Wo, grp.y0, grp.x0, m, group_cols, gy_window);
          wk.gradient(m, gy_window, group_cols, zg, z_pos);
        }
      }
    }
    wk.accumulate(m, z, z_pos, v, v_pos, vt, acc, s.Cin, cout_pad, cin_pad);
    if (++pending[slot] == winograd::kJobsPerFlush) {
      pending[slot] = 0;
      double* w = wide + slot * acc_floats;
      for (int64_t i = 0; i < acc_floats; ++i) w[i] += double(acc[i]);
      std::fill_n(acc, acc_floats, 0.0f);
    }
  }, /*fixed=*/true);
  std::vector<winograd::SlotSums> sums;  // the used slots' accumulators, in slot order
  for (int slot = 0; slot < workers; ++slot)
    if (used[slot]) sums.push_back({wide + slot * acc_floats, ws + slot * slot_floats + acc_offset});
  if (m == 4) {
    winograd::finish<4>(s, sums, cout_pad, cin_pad, gw);
  } else {
    winograd::finish<2>(s, sums, cout_pad, cin_pad, gw);
  }
  return true;
}

}  // namespace dcsr::kernels::cpu
