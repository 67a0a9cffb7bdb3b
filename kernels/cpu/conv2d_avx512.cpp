// Float32 conv2d fast paths for AVX-512 targets, on the micro-kernels of
// packed_gemm.h: an implicit GEMM, with no im2col. conv2d.cpp calls them
// first and falls back to its generic im2col + gemm_raw code when they
// return false.
//
// The output is cut into bands of R rows. A band's input is copied once into
// a buffer of "phase planes": with xp the input zero-padded by `pad` and s the
// stride, plane (c, ry, rx) for ry, rx in [0, s) holds
//   plane[i][j] = xp[s*(oy0 + i) + ry][s*j + rx],   i < R + (k-1)/s,  j < Wq = Wo + (k-1)/s
// (for s = 1 that is just the padded rows of the band). Tap (c, ky, kx) of
// output pixel (oy0 + r, ox) reads xp[s*(oy0 + r) + ky][s*ox + kx] =
// plane(c, ky % s, kx % s)[r + ky/s][ox + kx/s]. Indexing output pixels by
// p = r*Wq + ox, that is plane_start + (ky/s)*Wq + kx/s + p: a fixed offset
// per tap plus p. So 48 consecutive p are 48 consecutive floats and the GEMM
// reads its B panels in place. The (k-1)/s columns with ox >= Wo at the end
// of every Wq wrap into the next row: they are computed and dropped
// (forward), or multiplied by a zero gradient (weights). The copy is about
// s^2/k^2 of what im2col would write.
#include <type_traits>

#include "kernels/cpu/conv2d_common.h"
#include "kernels/cpu/cpu_common.h"

#ifdef DCSR_PACKED_GEMM

namespace dcsr::kernels::cpu {

namespace {

using namespace packed;

// Per-thread scratch target for one band (band copy + staging): half the L2.
constexpr int64_t kBandBytes = int64_t(1) << 20;
// Depth steps per weight-gradient micro-kernel call: a 128-step B block of
// 64 floats is 32 KB and stays in L1 while the A rows stream past it.
constexpr int64_t kDepthBlock = 128;

struct BandPlan {
  int64_t rows = 1;       // output rows per band (R)
  int64_t extra_rows = 0; // (k - 1) / s: plane rows beyond R
  int64_t Wq = 0;         // plane row width, Wo + (k - 1) / s
  int64_t plane = 0;      // floats per plane, (R + extra_rows) * Wq
  int64_t slack = 0;      // zeros after each plane's filled rows, for the wrapped columns
  int64_t band_floats = 0;
  int64_t per_image = 1;  // bands per (image, group)
  int64_t jobs = 1;
  int workers = 1;
  bool fits = true;
};

// The largest R whose slot (band copy + `extra_per_pixel` floats per pixel p)
// fits in kBandBytes and in limit / threads, with enough bands to give every
// thread work. fits = false when not even one row fits the limit.
BandPlan plan_bands(const ConvShape& s, int64_t extra_per_pixel, int64_t limit) {
  BandPlan plan;
  plan.extra_rows = (s.k - 1) / s.stride;
  plan.Wq = s.Wo + plan.extra_rows;
  plan.slack = plan.extra_rows + NR;
  const int64_t planes = s.cin_g() * s.stride * s.stride;
  const int threads = job_workers(s.images() * s.Ho, s.flops());
  auto slot_bytes = [&](int64_t R) {
    const int64_t band = planes * ((R + plan.extra_rows) * plan.Wq + plan.slack);
    return int64_t(sizeof(float)) * (band + extra_per_pixel * round_up(R * plan.Wq, NR));
  };
  const int64_t budget = limit / threads;
  plan.fits = slot_bytes(1) <= budget;
  const int64_t wanted = (threads + s.images() - 1) / s.images();  // bands per image so that no thread idles
  const int64_t most = std::max<int64_t>(1, (s.Ho + wanted - 1) / wanted);
  int64_t R = 1;
  while (R < most && slot_bytes(R + 1) <= std::min(kBandBytes, budget)) ++R;
  plan.rows = R;
  plan.plane = (R + plan.extra_rows) * plan.Wq + plan.slack;
  plan.band_floats = planes * plan.plane;
  plan.per_image = (s.Ho + R - 1) / R;
  plan.jobs = s.images() * plan.per_image;
  plan.workers = job_workers(plan.jobs, s.flops());
  return plan;
}

// Fills the phase planes of the band starting at output row oy0 with `rows`
// rows (<= plan.rows). x: the cin_g input planes (H x W) of the group. Rows
// and columns outside the image are 0, and so is each plane's tail that the
// wrapped columns read past its filled rows (no stale NaN or denormal bits
// ever reach the FMAs).
// dst[j] = src[ST * j] for j in [lo, hi): with the stride known at compile
// time the compiler turns the strided reads into vector loads and permutes
// (2 threads, Zen 5: a 5x5 stride-4 conv 64 -> 32 at 456x584 took 9.9 ms
// instead of 11.1, a 3x3 stride-2 one 32 -> 32 4.1 ms instead of 5.1).
template <int ST>
void copy_strided(const float* src, float* dst, int64_t lo, int64_t hi) {
  for (int64_t j = lo; j < hi; ++j) dst[j] = src[ST * j];
}

void fill_band(const ConvShape& s, const BandPlan& plan, const float* x, int64_t oy0, int64_t rows, float* band) {
  const int64_t st = s.stride, filled = (rows + plan.extra_rows) * plan.Wq;
  for (int64_t c = 0; c < s.cin_g(); ++c)
    for (int64_t ry = 0; ry < st; ++ry)
      for (int64_t rx = 0; rx < st; ++rx) {
        float* plane = band + ((c * st + ry) * st + rx) * plan.plane;
        // Plane column j reads input column s*j + rx - pad: the in-image span [lo, hi).
        const int64_t lo = std::min(plan.Wq, rx >= s.pad ? 0 : (s.pad - rx + st - 1) / st);
        const int64_t hi = std::clamp<int64_t>(s.W - 1 + s.pad - rx < 0 ? 0 : (s.W - 1 + s.pad - rx) / st + 1, lo,
                                               plan.Wq);
        for (int64_t i = 0; i < rows + plan.extra_rows; ++i) {
          float* dst = plane + i * plan.Wq;
          const int64_t iy = st * (oy0 + i) + ry - s.pad;
          if (iy < 0 || iy >= s.H) {
            std::fill(dst, dst + plan.Wq, 0.0f);
            continue;
          }
          const float* src = x + (c * s.H + iy) * s.W + rx - s.pad;  // src[s*j]
          std::fill(dst, dst + lo, 0.0f);
          if (st == 1) {
            std::copy(src + lo, src + hi, dst + lo);
          } else if (st == 2) {
            copy_strided<2>(src, dst, lo, hi);
          } else if (st == 4) {
            copy_strided<4>(src, dst, lo, hi);
          } else {
            for (int64_t j = lo; j < hi; ++j) dst[j] = src[st * j];
          }
          std::fill(dst + hi, dst + plan.Wq, 0.0f);
        }
        std::fill(plane + filled, plane + plan.plane, 0.0f);
      }
}

// offset[(c*k + ky)*k + kx] = start of plane (c, ky % s, kx % s) + (ky / s)*Wq
// + kx / s, in the order of the weight's (cin_g, k, k) dims.
Tensor tap_offsets(const ConvShape& s, const BandPlan& plan) {
  Tensor t = empty({s.K()}, kInt64);
  int64_t* offset = t.data<int64_t>();
  const int64_t st = s.stride;
  for (int64_t c = 0; c < s.cin_g(); ++c)
    for (int64_t ky = 0; ky < s.k; ++ky)
      for (int64_t kx = 0; kx < s.k; ++kx)
        offset[(c * s.k + ky) * s.k + kx] =
            ((c * st + ky % st) * st + kx % st) * plan.plane + (ky / st) * plan.Wq + kx / st;
  return t;
}

// Per band: y rows (cout_g x R*Wq, staged) = packed weights (A) times the
// band read in place (B); then the Wo valid columns of every row copied out,
// through the epilogue (residual, activation) while they are in cache.
bool forward_implicit(const ConvShape& s, const float* x, const float* w, const float* b, float* y, int64_t limit,
                      const Epilogue& epilogue) {
  const int64_t K = s.K(), cout_g = s.cout_g(), cin_g = s.cin_g(), P = s.P();
  const BandPlan plan = plan_bands(s, cout_g, limit);
  if (!plan.fits) return false;
  const int64_t ld = round_up(plan.rows * plan.Wq, NR);  // staging row stride
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
    // p outer: the band columns of one 48-pixel panel are reused by every
    // 8-row weight panel while they are in L1.
    for (int64_t p0 = 0; p0 < rows * plan.Wq; p0 += NR)
      for (int64_t m0 = 0; m0 < cout_g; m0 += MR)
        micro_kernel_offsets(K, a + m0 * K, band + p0, off, stage + m0 * ld + p0, ld, std::min(MR, cout_g - m0),
                             bias ? bias + m0 : nullptr);
    float* yg = y + (n * s.Cout + g * cout_g) * P + oy0 * s.Wo;
    for (int64_t co = 0; co < cout_g; ++co)
      for (int64_t r = 0; r < rows; ++r) {
        float* row = yg + co * P + r * s.Wo;
        std::copy(stage + co * ld + r * plan.Wq, stage + co * ld + r * plan.Wq + s.Wo, row);
        apply_epilogue(row, s.Wo, row - y, epilogue);
      }
  });
  return true;
}

// grad_w^T (K x cout_g) += band rows (A, read in place, ROWS taps at a time)
// times grad_y^T (B: the band's grad_y transposed to depth-major, 16*NV output
// channels per panel, 0 at the wrapped columns and past cout_g). Each slot
// accumulates its own grad_w^T over fixed job ranges (the same rounding in
// every run); they are summed and transposed into grad_w at the end.
template <int ROWS, int NV>
bool backward_weight_implicit(const ConvShape& s, const float* gy, const float* x, float* gw, int64_t limit) {
  constexpr int64_t width = 16 * NV;
  const int64_t K = s.K(), cout_g = s.cout_g(), cin_g = s.cin_g(), P = s.P();
  const int64_t panels = (cout_g + width - 1) / width, ldc = panels * width;
  const BandPlan plan = plan_bands(s, ldc, limit);
  if (!plan.fits) return false;
  const int64_t slot_floats = plan.band_floats + ldc * round_up(plan.rows * plan.Wq, NR);
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
    const int64_t depth = rows * plan.Wq;
    float* band = ws + slot * slot_floats;
    float* gyt = band + plan.band_floats;  // panels x depth x width
    fill_band(s, plan, x + (n * s.Cin + g * cin_g) * s.H * s.W, oy0, rows, band);
    std::fill(gyt, gyt + panels * depth * width, 0.0f);
    const float* gyg = gy + (n * s.Cout + g * cout_g) * P + oy0 * s.Wo;
    for (int64_t co = 0; co < cout_g; ++co) {
      float* dst = gyt + (co / width) * depth * width + co % width;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t ox = 0; ox < s.Wo; ++ox) dst[(r * plan.Wq + ox) * width] = gyg[co * P + r * s.Wo + ox];
    }
    float* acc = accs + slot * acc_floats + g * K * ldc;
    for (int64_t d0 = 0; d0 < depth; d0 += kDepthBlock) {
      const int64_t steps = std::min(kDepthBlock, depth - d0);
      for (int64_t panel = 0; panel < panels; ++panel)
        for (int64_t k0 = 0; k0 < K; k0 += ROWS)
          micro_kernel_rows<ROWS, NV>(steps, band + d0, off + k0, std::min<int64_t>(ROWS, K - k0),
                                      gyt + (panel * depth + d0) * width, acc + k0 * ldc + panel * width, ldc);
    }
  }, /*fixed=*/true);
  // grad_w[g*cout_g + co][kk] = sum over slots of acc[g][kk][co].
  parallel_for(s.Cout, grain_for(K * plan.workers), [&](int64_t begin, int64_t end) {
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

}  // namespace

bool forward_avx512(const ConvShape& s, const float* x, const float* w, const float* b, float* y, int64_t limit,
                    const Epilogue& epilogue) {
  return forward_implicit(s, x, w, b, y, limit, epilogue);
}

bool backward_weight_avx512(const ConvShape& s, const float* gy, const float* x, float* gw, int64_t limit) {
  // 64-wide B panels (6 x 64 tiles) for wide layers, 32-wide (12 x 32) for narrow ones.
  if (s.cout_g() > 32) return backward_weight_implicit<6, 4>(s, gy, x, gw, limit);
  return backward_weight_implicit<12, 2>(s, gy, x, gw, limit);
}

}  // namespace dcsr::kernels::cpu

#endif  // DCSR_PACKED_GEMM
