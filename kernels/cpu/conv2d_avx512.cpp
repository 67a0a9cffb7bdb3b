// Float32 conv2d fast paths for AVX-512 targets, on the micro-kernels of
// packed_gemm.h. conv2d.cpp calls them first and falls back to its generic
// im2col + gemm_raw code when they return false.
//
// Stride 1 (the DCSR convs, and every input gradient through the flipped
// kernel) needs no im2col at all. The output is cut into bands of R rows; a
// band's input is copied once into a padded buffer: the cin_g planes, rows
// oy0 - pad .. oy0 - pad + R + k - 2 (zero rows outside the image), each row
// with `pad` zeros on both sides, Wp = W + 2 pad wide:
//   band[c*plane + j*Wp + i] = x[c][oy0 - pad + j][i - pad],  plane = (R + k - 1) Wp.
// Indexing output pixels by p' = j*Wp + ox (row oy0 + j), the column-matrix
// entry of tap (c, ky, kx) at p' is band[c*plane + ky*Wp + kx + p']: a fixed
// offset per tap plus p'. So 48 consecutive p' are 48 consecutive floats and
// the GEMM reads its B panels in place (an implicit im2col). The k - 1 columns
// with ox >= Wo at the end of every Wp wrap into the next row: they are
// computed and dropped (forward) or multiplied by a zero gradient (weights).
// The copy is 1/k^2 of what im2col would write.
#include <type_traits>

#include "kernels/cpu/conv2d_common.h"
#include "kernels/cpu/cpu_common.h"

#ifdef DCSR_PACKED_GEMM

namespace dcsr::kernels::cpu {

namespace {

using namespace packed;

// Per-thread scratch target for one band (band copy + staging).
constexpr int64_t kBandBytes = int64_t(1) << 20;
// Depth steps per weight-gradient micro-kernel call: a 128 x 64 B block is
// 32 KB and stays in L1 while the six A rows stream past it.
constexpr int64_t kDepthBlock = 128;

struct BandPlan {
  int64_t rows = 1;       // output rows per band (R)
  int64_t Wp = 0;         // padded row width
  int64_t plane = 0;      // floats per band plane, (R + k - 1) * Wp
  int64_t band_floats = 0;
  int64_t per_image = 1;  // bands per (image, group)
  int64_t jobs = 1;
  int workers = 1;
  bool fits = true;
};

// The largest R whose slot (band copy + `extra_per_pixel` floats per p') fits
// in kBandBytes and in limit / threads, with enough bands to give every
// thread work. fits = false when not even one row fits the limit.
BandPlan plan_bands(const ConvShape& s, int64_t extra_per_pixel, int64_t limit) {
  BandPlan plan;
  plan.Wp = s.W + 2 * s.pad;
  const int threads = job_workers(s.images() * s.Ho);
  auto slot_bytes = [&](int64_t R) {
    const int64_t band = s.cin_g() * (R + s.k - 1) * plan.Wp + s.k + NR;  // + slack read by wrapped columns
    return int64_t(sizeof(float)) * (band + extra_per_pixel * round_up(R * plan.Wp, NR));
  };
  const int64_t budget = limit / threads;
  plan.fits = slot_bytes(1) <= budget;
  const int64_t wanted = (threads + s.images() - 1) / s.images();  // bands per image so that no thread idles
  const int64_t most = std::max<int64_t>(1, (s.Ho + wanted - 1) / wanted);
  int64_t R = 1;
  while (R < most && slot_bytes(R + 1) <= std::min(kBandBytes, budget)) ++R;
  plan.rows = R;
  plan.plane = (R + s.k - 1) * plan.Wp;
  plan.band_floats = s.cin_g() * plan.plane + s.k + NR;
  plan.per_image = (s.Ho + R - 1) / R;
  plan.jobs = s.images() * plan.per_image;
  plan.workers = job_workers(plan.jobs);
  return plan;
}

// Copies the input of the band starting at output row oy0 with `rows` rows
// (rows <= plan.rows) into `band`. x: the cin_g planes (H x W) of the group.
// The floats that wrapped columns read past the filled rows are zeroed too,
// so no stale bits (NaN, denormals) ever enter the FMAs.
void fill_band(const ConvShape& s, const BandPlan& plan, const float* x, int64_t oy0, int64_t rows, float* band) {
  const int64_t filled = (rows + s.k - 1) * plan.Wp;
  for (int64_t c = 0; c < s.cin_g(); ++c) {
    float* dst_plane = band + c * plan.plane;
    for (int64_t j = 0; j < rows + s.k - 1; ++j) {
      float* dst = dst_plane + j * plan.Wp;
      const int64_t iy = oy0 - s.pad + j;
      if (iy < 0 || iy >= s.H) {
        std::fill(dst, dst + plan.Wp, 0.0f);
        continue;
      }
      std::fill(dst, dst + s.pad, 0.0f);
      std::copy(x + (c * s.H + iy) * s.W, x + (c * s.H + iy + 1) * s.W, dst + s.pad);
      std::fill(dst + s.pad + s.W, dst + plan.Wp, 0.0f);
    }
    std::fill(dst_plane + filled, dst_plane + std::min(plan.plane, filled + s.k + NR), 0.0f);
  }
  std::fill(band + s.cin_g() * plan.plane, band + plan.band_floats, 0.0f);
}

// offset[(c*k + ky)*k + kx] = c*plane + ky*Wp + kx, in the order of the
// weight's (cin_g, k, k) dims = the column-matrix row order.
Tensor tap_offsets(const ConvShape& s, const BandPlan& plan) {
  Tensor t = empty({s.K()}, kInt64);
  int64_t* offset = t.data<int64_t>();
  for (int64_t c = 0; c < s.cin_g(); ++c)
    for (int64_t ky = 0; ky < s.k; ++ky)
      for (int64_t kx = 0; kx < s.k; ++kx) offset[(c * s.k + ky) * s.k + kx] = c * plan.plane + ky * plan.Wp + kx;
  return t;
}

// Stride 1: per band, y rows (cout_g x R*Wp, staged) = packed weights (A)
// times the band read in place (B), then the Wo valid columns of every row
// copied out.
bool forward_implicit(const ConvShape& s, const float* x, const float* w, const float* b, float* y, int64_t limit) {
  const int64_t K = s.K(), cout_g = s.cout_g(), cin_g = s.cin_g(), P = s.P();
  const BandPlan plan = plan_bands(s, cout_g, limit);
  if (!plan.fits) return false;
  const int64_t ld = round_up(plan.rows * plan.Wp, NR);  // staging row stride
  const int64_t slot_floats = plan.band_floats + cout_g * ld;
  const int64_t a_stride = a_size(cout_g, K);
  Tensor a_storage = empty({s.groups * a_stride}, kFloat32);
  Tensor scratch = empty({plan.workers * slot_floats}, kFloat32);
  Tensor offsets = tap_offsets(s, plan);
  float* ap = a_storage.data<float>();
  float* ws = scratch.data<float>();
  const int64_t* off = offsets.data<int64_t>();
  for (int64_t g = 0; g < s.groups; ++g) pack_a(w + g * cout_g * K, K, cout_g, K, false, ap + g * a_stride);
  run_jobs(plan.jobs, plan.workers, [&](int64_t job, int slot) {
    const int64_t image = job / plan.per_image, n = image / s.groups, g = image % s.groups;
    const int64_t oy0 = (job % plan.per_image) * plan.rows, rows = std::min(plan.rows, s.Ho - oy0);
    float* band = ws + slot * slot_floats;
    float* stage = band + plan.band_floats;
    fill_band(s, plan, x + (n * s.Cin + g * cin_g) * s.H * s.W, oy0, rows, band);
    const float* a = ap + g * a_stride;
    const float* bias = b ? b + g * cout_g : nullptr;
    for (int64_t p0 = 0; p0 < rows * plan.Wp; p0 += NR)
      for (int64_t m0 = 0; m0 < cout_g; m0 += MR)
        micro_kernel_offsets(K, a + m0 * K, band + p0, off, stage + m0 * ld + p0, ld, std::min(MR, cout_g - m0),
                             bias ? bias + m0 : nullptr);
    float* yg = y + (n * s.Cout + g * cout_g) * P + oy0 * s.Wo;
    for (int64_t co = 0; co < cout_g; ++co)
      for (int64_t j = 0; j < rows; ++j)
        std::copy(stage + co * ld + j * plan.Wp, stage + co * ld + j * plan.Wp + s.Wo, yg + co * P + j * s.Wo);
  });
  return true;
}

// Stride 1: grad_w^T (K x cout_g) += band rows (A, read in place, six taps at
// a time) times grad_y^T (B: the band's grad_y rows transposed to depth-major,
// 64 output channels per panel, 0 at the wrapped columns and past cout_g).
// Each slot accumulates its own grad_w^T; they are summed and transposed
// into grad_w at the end. Used for cout_g >= 32, where the 64-wide panels
// waste at most half their FMAs.
bool backward_weight_implicit(const ConvShape& s, const float* gy, const float* x, float* gw, int64_t limit) {
  const int64_t K = s.K(), cout_g = s.cout_g(), cin_g = s.cin_g(), P = s.P();
  const int64_t panels = (cout_g + NR_T - 1) / NR_T, ldc = panels * NR_T;
  const BandPlan plan = plan_bands(s, ldc, limit);
  if (!plan.fits) return false;
  const int64_t depth_max = plan.rows * plan.Wp;
  const int64_t slot_floats = plan.band_floats + ldc * round_up(depth_max, NR);
  const int64_t acc_floats = s.groups * K * ldc;
  Tensor scratch = empty({plan.workers * slot_floats}, kFloat32);
  Tensor accumulators = zeros({plan.workers * acc_floats}, kFloat32);
  Tensor offsets = tap_offsets(s, plan);
  float* ws = scratch.data<float>();
  float* accs = accumulators.data<float>();
  const int64_t* off = offsets.data<int64_t>();
  run_jobs(plan.jobs, plan.workers, [&](int64_t job, int slot) {
    const int64_t image = job / plan.per_image, n = image / s.groups, g = image % s.groups;
    const int64_t oy0 = (job % plan.per_image) * plan.rows, rows = std::min(plan.rows, s.Ho - oy0);
    const int64_t depth = rows * plan.Wp;
    float* band = ws + slot * slot_floats;
    float* gyt = band + plan.band_floats;  // panels x depth x 64
    fill_band(s, plan, x + (n * s.Cin + g * cin_g) * s.H * s.W, oy0, rows, band);
    std::fill(gyt, gyt + panels * depth * NR_T, 0.0f);
    const float* gyg = gy + (n * s.Cout + g * cout_g) * P + oy0 * s.Wo;
    for (int64_t co = 0; co < cout_g; ++co) {
      float* dst = gyt + (co / NR_T) * depth * NR_T + co % NR_T;
      for (int64_t j = 0; j < rows; ++j)
        for (int64_t ox = 0; ox < s.Wo; ++ox) dst[(j * plan.Wp + ox) * NR_T] = gyg[co * P + j * s.Wo + ox];
    }
    float* acc = accs + slot * acc_floats + g * K * ldc;
    for (int64_t d0 = 0; d0 < depth; d0 += kDepthBlock) {
      const int64_t steps = std::min(kDepthBlock, depth - d0);
      for (int64_t panel = 0; panel < panels; ++panel)
        for (int64_t k0 = 0; k0 < K; k0 += MR_T)
          micro_kernel_rows(steps, band + d0, off + k0, std::min(MR_T, K - k0),
                            gyt + panel * depth * NR_T + d0 * NR_T, acc + k0 * ldc + panel * NR_T, ldc);
    }
  });
  // grad_w[g*cout_g + co][kk] = sum over slots of acc[g][kk][co].
  parallel_for(s.Cout, 1, [&](int64_t begin, int64_t end) {
    for (int64_t co_all = begin; co_all < end; ++co_all) {
      const int64_t g = co_all / cout_g, co = co_all % cout_g;
      for (int64_t kk = 0; kk < K; ++kk) {
        float total = 0.0f;
        for (int slot = 0; slot < plan.workers; ++slot) total += accs[slot * acc_floats + (g * K + kk) * ldc + co];
        gw[co_all * K + kk] = total;
      }
    }
  });
  return true;
}

// Any stride: the weights packed once, each job's columns written by im2col
// straight into packed-B panels. False when the limit cannot hold one panel
// of columns per thread.
bool forward_packed(const ConvShape& s, const float* x, const float* w, const float* b, float* y, int64_t limit) {
  using namespace packed;
  const int64_t K = s.K(), P = s.P(), cin_g = s.cin_g(), cout_g = s.cout_g();
  const ChunkPlan plan = plan_columns(s.images(), P, K * int64_t(sizeof(float)), limit, NR);
  if (!plan.fits) return false;
  const Im2colGeometry geo = s.geometry();
  const int64_t a_stride = a_size(cout_g, K), b_stride = b_size(plan.chunk, K);
  Tensor a_storage = empty({s.groups * a_stride}, kFloat32), b_storage = empty({plan.workers * b_stride}, kFloat32);
  float* ap = a_storage.data<float>();
  float* bp = b_storage.data<float>();
  for (int64_t g = 0; g < s.groups; ++g) pack_a(w + g * cout_g * K, K, cout_g, K, false, ap + g * a_stride);
  run_jobs(plan.jobs, plan.workers, [&](int64_t job, int slot) {
    const int64_t image = job / plan.per_image, n = image / s.groups, g = image % s.groups;
    const int64_t p0 = plan.first(job), p1 = std::min(P, p0 + plan.chunk);
    float* buf = bp + slot * b_stride;
    im2col_packed(x + (n * s.Cin + g * cin_g) * s.H * s.W, geo, p0, p1, NR, buf);
    gemm(cout_g, p1 - p0, K, ap + g * a_stride, buf, y + (n * s.Cout + g * cout_g) * P + p0, P, false,
         b ? b + g * cout_g : nullptr);
  });
  return true;
}

// Any stride: grad_w_g (cout_g x K) += grad_y_chunk (cout_g x len, packed as
// A) @ cols^T (len x K, written packed by the transposing im2col). Per-slot
// accumulators as in the generic version.
bool backward_weight_packed(const ConvShape& s, const float* gy, const float* x, float* gw, int64_t limit) {
  using namespace packed;
  const int64_t K = s.K(), P = s.P(), cin_g = s.cin_g(), cout_g = s.cout_g(), wsize = s.Cout * K;
  const int64_t column_floats = round_up(K, NR) + round_up(cout_g, MR);
  const ChunkPlan plan = plan_columns(s.images(), P, column_floats * int64_t(sizeof(float)), limit);
  if (!plan.fits) return false;
  const Im2colGeometry geo = s.geometry();
  const int64_t slot_floats = column_floats * plan.chunk;
  Tensor scratch = empty({plan.workers * slot_floats}, kFloat32);
  Tensor extra;
  if (plan.workers > 1) extra = zeros({(plan.workers - 1) * wsize}, kFloat32);
  std::fill(gw, gw + wsize, 0.0f);
  float* ws = scratch.data<float>();
  float* more = plan.workers > 1 ? extra.data<float>() : nullptr;
  run_jobs(plan.jobs, plan.workers, [&](int64_t job, int slot) {
    const int64_t image = job / plan.per_image, n = image / s.groups, g = image % s.groups;
    const int64_t p0 = plan.first(job), p1 = std::min(P, p0 + plan.chunk), len = p1 - p0;
    float* abuf = ws + slot * slot_floats;
    float* bbuf = abuf + a_size(cout_g, len);
    pack_a(gy + (n * s.Cout + g * cout_g) * P + p0, P, cout_g, len, false, abuf);
    im2col_packed_transposed(x + (n * s.Cin + g * cin_g) * s.H * s.W, geo, p0, p1, NR, bbuf);
    float* acc = (slot == 0 ? gw : more + (slot - 1) * wsize) + g * cout_g * K;
    gemm(cout_g, K, len, abuf, bbuf, acc, K, true, nullptr);
  });
  for (int slot = 1; slot < plan.workers; ++slot) {
    const float* acc = more + (slot - 1) * wsize;
    for (int64_t i = 0; i < wsize; ++i) gw[i] += acc[i];
  }
  return true;
}
}  // namespace

bool forward_avx512(const ConvShape& s, const float* x, const float* w, const float* b, float* y, int64_t limit) {
  if (s.stride == 1 && forward_implicit(s, x, w, b, y, limit)) return true;
  return forward_packed(s, x, w, b, y, limit);
}

bool backward_weight_avx512(const ConvShape& s, const float* gy, const float* x, float* gw, int64_t limit) {
  if (s.stride == 1 && s.cout_g() >= 32 && backward_weight_implicit(s, gy, x, gw, limit)) return true;
  return backward_weight_packed(s, gy, x, gw, limit);
}

}  // namespace dcsr::kernels::cpu

#endif  // DCSR_PACKED_GEMM
