// The Winograd convolution's driver (winograd.h): weight transform and
// packing, jobs over tile rows, input staging, the epilogue; and the portable
// versions of the three steps, which any CPU can run (DCSR_CPU_ISA=generic).
#include "kernels/cpu/winograd.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "kernels/cpu/cpu_common.h"
#include "kernels/cpu/max_pool_row.h"
#include "kernels/cpu/winograd_transforms.h"

namespace dcsr::kernels::cpu {

namespace winograd {

namespace {

constexpr int64_t kGenericRows = 4, kGenericBlock = 8;

template <int M, int R>
void input_generic(const float* p, int64_t ld, float* v, int64_t pos_stride) {
  constexpr int N = M + R - 1;
  for (int64_t t = 0; t < 8; ++t) {
    float h[N][N];
    for (int i = 0; i < N; ++i) {
      float d[N];
      for (int j = 0; j < N; ++j) d[j] = p[i * ld + M * t + j];
      input_1d_of<M, R>(d, h[i]);
    }
    for (int l = 0; l < N; ++l) {
      float col[N], o[N];
      for (int i = 0; i < N; ++i) col[i] = h[i][l];
      input_1d_of<M, R>(col, o);
      for (int k = 0; k < N; ++k) v[(k * N + l) * pos_stride + t] = o[k];
    }
  }
}

template <int M, int R>
void output_generic(const float* mo, int64_t pos_stride, float bias, float* out, int64_t ld, const float* residual,
                    float slope) {
  constexpr int N = M + R - 1;
  for (int64_t t = 0; t < 8; ++t) {
    float s[M][N];
    for (int l = 0; l < N; ++l) {
      float col[N], o[M];
      for (int k = 0; k < N; ++k) col[k] = mo[(k * N + l) * pos_stride + t];
      output_1d_of<M, R>(col, o);
      for (int r = 0; r < M; ++r) s[r][l] = o[r];
    }
    for (int r = 0; r < M; ++r) {
      float o[M];
      output_1d_of<M, R>(s[r], o);
      for (int c = 0; c < M; ++c) {
        float v = o[c] + bias;
        if (residual) v += residual[r * ld + M * t + c];
        if (slope != 1.0f) v = v > 0.0f ? v : slope * v;
        out[r * ld + M * t + c] = v;
      }
    }
  }
}

void input_generic_any(int m, const float* p, int64_t ld, float* v, int64_t pos_stride) {
  if (m == kF2x5) return input_generic<2, 5>(p, ld, v, pos_stride);
  if (m == kF4x5) return input_generic<4, 5>(p, ld, v, pos_stride);
  if (m == 4) return input_generic<4, 3>(p, ld, v, pos_stride);
  input_generic<2, 3>(p, ld, v, pos_stride);
}

void output_generic_any(int m, const float* mo, int64_t pos_stride, float bias, float* out, int64_t ld,
                        const float* residual, float slope) {
  if (m == kF2x5) return output_generic<2, 5>(mo, pos_stride, bias, out, ld, residual, slope);
  if (m == kF4x5) return output_generic<4, 5>(mo, pos_stride, bias, out, ld, residual, slope);
  if (m == 4) return output_generic<4, 3>(mo, pos_stride, bias, out, ld, residual, slope);
  output_generic<2, 3>(mo, pos_stride, bias, out, ld, residual, slope);
}

void multiply_generic(int64_t positions, const float* u, const float* v, int64_t v_pos, float* mo, int64_t m_pos,
                      int64_t cin, int64_t cout) {
  const int64_t panels = (cout + kGenericRows - 1) / kGenericRows;
  for (int64_t pos = 0; pos < positions; ++pos)
    for (int64_t co = 0; co < cout; ++co) {
      float acc[kGenericBlock] = {};
      const float* up = u + (pos * panels + co / kGenericRows) * cin * kGenericRows + co % kGenericRows;
      const float* vp = v + pos * v_pos;
      for (int64_t ci = 0; ci < cin; ++ci) {
        const float a = up[ci * kGenericRows];
        for (int64_t t = 0; t < kGenericBlock; ++t) acc[t] += a * vp[ci * kGenericBlock + t];
      }
      std::copy(acc, acc + kGenericBlock, mo + pos * m_pos + co * kGenericBlock);
    }
}

// U of F(M x M, R x R): u[pos][panel][ci][r] = (G g G^T)[pos] of the kernel
// g = w[panel*mr + r][ci], 0 for the padding rows past cout; pos = k*N + l
// (N = M + R - 1; k along y, l along x, as the input and output transforms
// number them). Computed in double, rounded once.
//
// Redone every call, so it must cost little next to the tiles. One job per
// panel: its kernels are transformed into a panel-sized buffer first,
// [ci][r][pos], then written out position by position, each a contiguous
// run of Cin * mr floats. (Written straight from the transform, the N * N
// positions' stores, a power of two apart for 64 or 128 channels, fell in
// one L1 set, and at 128 channels the transform took ten times as long as
// the tiles of an 8 x 8 image.)
template <int M, int R>
void pack_weights(const ConvShape& s, const float* w, int64_t mr, float* u) {
  constexpr int N = M + R - 1, P = N * N;
  const int64_t panels = (s.Cout + mr - 1) / mr, pos_stride = panels * s.Cin * mr;
  parallel_for(panels, grain_for(s.Cin * mr * 200), [&](int64_t begin, int64_t end) {
    std::vector<float> panel_u(size_t(s.Cin * mr * P));  // [ci][r][pos]
    for (int64_t panel = begin; panel < end; ++panel) {
      for (int64_t ci = 0; ci < s.Cin; ++ci)
        for (int64_t r = 0; r < mr; ++r) {
          float* dst = panel_u.data() + (ci * mr + r) * P;
          const int64_t co = panel * mr + r;
          if (co >= s.Cout) {
            std::fill(dst, dst + P, 0.0f);
            continue;
          }
          const float* g = w + (co * s.Cin + ci) * R * R;
          double cols[R][N];  // cols[kx] = G g[.][kx]
          for (int kx = 0; kx < R; ++kx) {
            double taps[R];
            for (int ky = 0; ky < R; ++ky) taps[ky] = g[ky * R + kx];
            weight_1d_of<M, R>(taps, cols[kx]);
          }
          for (int k = 0; k < N; ++k) {
            double row[R];
            for (int kx = 0; kx < R; ++kx) row[kx] = cols[kx][k];
            double o[N];
            weight_1d_of<M, R>(row, o);
            for (int l = 0; l < N; ++l) dst[k * N + l] = float(o[l]);
          }
        }
      for (int pos = 0; pos < P; ++pos) {
        float* out = u + pos * pos_stride + panel * s.Cin * mr;
        for (int64_t c = 0; c < s.Cin * mr; ++c) out[c] = panel_u[size_t(c * P + pos)];
      }
    }
  });
}

}  // namespace

std::shared_ptr<const std::vector<float>> WeightsCache::find(const float* w, int64_t w_floats,
                                                             const std::vector<int64_t>& params) {
  const std::lock_guard<std::mutex> lock(mutex_);
  const auto it = entries_.find(w);
  if (it == entries_.end()) return nullptr;
  const Entry& e = it->second;
  if (e.params != params || int64_t(e.weights.size()) != w_floats ||
      std::memcmp(e.weights.data(), w, size_t(w_floats) * sizeof(float)) != 0)
    return nullptr;
  return e.derived;
}

void WeightsCache::keep(const float* w, int64_t w_floats, const std::vector<int64_t>& params,
                        std::shared_ptr<const std::vector<float>> derived) {
  Entry e{params, std::vector<float>(w, w + w_floats), std::move(derived)};
  const size_t bytes = e.bytes();
  const std::lock_guard<std::mutex> lock(mutex_);
  if (const auto it = entries_.find(w); it != entries_.end()) {
    bytes_ -= it->second.bytes();
    entries_.erase(it);
  }
  if (bytes_ + bytes > max_bytes_) {
    entries_.clear();
    bytes_ = 0;
  }
  if (bytes <= max_bytes_) {
    entries_.emplace(w, std::move(e));
    bytes_ += bytes;
  }
}

// The transformed weights of recent calls: the transform took 2-3% of a
// 32 -> 32 conv at 166 x 166 (one parallel region of its own), the memcmp
// that checks a kept one a tenth of that.
constexpr size_t kPackedCacheBytes = size_t(64) << 20;

std::shared_ptr<const std::vector<float>> packed_weights(const ConvShape& s, const float* w, int m, int64_t mr,
                                                         int64_t u_floats) {
  static WeightsCache cache(kPackedCacheBytes);
  const int64_t taps = kernel_taps(m), w_floats = s.Cout * s.Cin * taps * taps;
  return cache.get(w, w_floats, {s.Cout, s.Cin, m, mr, u_floats}, u_floats, [&](float* u) {
    if (m == kF2x5) {
      pack_weights<2, 5>(s, w, mr, u);
    } else if (m == kF4x5) {
      pack_weights<4, 5>(s, w, mr, u);
    } else if (m == 4) {
      pack_weights<4, 3>(s, w, mr, u);
    } else {
      pack_weights<2, 3>(s, w, mr, u);
    }
  });
}

const Kernels& generic_kernels() {
  static const Kernels kernels{kGenericRows, kGenericBlock, input_generic_any, multiply_generic, output_generic_any};
  return kernels;
}

const Kernels& kernels_for(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kAvx512: return avx512_kernels();
    case CpuIsa::kAvx2: return avx2_kernels();
    case CpuIsa::kGeneric: break;
  }
  return generic_kernels();
}

namespace {
// dst (rows x cols, row stride cols) = plane[y0 + step i][x0 + step j], 0
// outside the H x W plane: every pixel of a window (step 1), or of one pixel
// phase (step 2).
void stage_strided_window(const float* plane, int64_t H, int64_t W, int64_t y0, int64_t x0, int64_t rows,
                          int64_t cols, int64_t step, float* dst) {
  // The columns inside the plane: 0 <= x0 + step j < W for j in [lo, hi).
  const int64_t lo = x0 >= 0 ? 0 : std::min(cols, (step - 1 - x0) / step);
  const int64_t hi = W > x0 ? std::clamp<int64_t>((W - x0 + step - 1) / step, lo, cols) : lo;
  for (int64_t i = 0; i < rows; ++i, dst += cols) {
    const int64_t iy = y0 + step * i;
    if (iy < 0 || iy >= H) {
      std::fill(dst, dst + cols, 0.0f);
      continue;
    }
    const float* src = plane + iy * W + x0;
    std::fill(dst, dst + lo, 0.0f);
    if (step == 1) {
      std::copy(src + lo, src + hi, dst + lo);
    } else {
      for (int64_t j = lo; j < hi; ++j) dst[j] = src[step * j];
    }
    std::fill(dst + hi, dst + cols, 0.0f);
  }
}
}  // namespace

void stage_window(const float* plane, int64_t H, int64_t W, int64_t y0, int64_t x0, int64_t rows, int64_t cols,
                  float* dst) {
  stage_strided_window(plane, H, W, y0, x0, rows, cols, 1, dst);
}

void stage_phase_window(const float* plane, int64_t H, int64_t W, int64_t y0, int64_t x0, int64_t rows, int64_t cols,
                        float* dst) {
  stage_strided_window(plane, H, W, y0, x0, rows, cols, 2, dst);
}

namespace {

// For every input channel ci of image n: transform(p, ld, v + ci * block)
// with p the rows x cols window at (wy, wx) of its plane, read in place (ld =
// the plane's width). Where the window crosses the plane's edge,
// edge_transform(p, ld, e, v + ci * block) reads in place the part e inside
// it, or, where the ISA has none (has_edge false), the window is
// staged with zeros in `window` (ld = cols) for transform. (Staged, the left
// edge's windows alone, one pair of groups in three at 166 x 166, took 5% of
// a 32 -> 32 conv's time.)
//
// The window of channel ci + kPrefetchPlanes is fetched ahead: the planes lie
// far apart, more streams than the hardware prefetchers follow, and at a
// 4K-mode tile's 332 x 332 (14 MB a tensor) the transform waited on its loads
// (32 -> 32 channels: 6.2 -> 5.6-5.9 ms, Zen 4). Edge windows too.
constexpr int64_t kPrefetchPlanes = 2;

// Prefetches every cache line of the n floats at p, from its first line to
// its last: into L1 (Locality 3) or L2 (2). Always inlined, and called from
// plain loops: a function that holds nothing but prefetches, called out of
// line (a lambda handed to a helper, say), is a function without effects to
// GCC 12, which drops its calls, prefetches and all (seen when the chunked
// multiply's prefetch loops went into such a lambda: no prefetcht1 left in
// the binary, a 32 -> 32 conv at 332 x 332 4.9 -> 5.8 ms on Zen 4).
template <int Locality>
[[gnu::always_inline]] inline void prefetch_lines(const float* p, int64_t n) {
  const uintptr_t first = reinterpret_cast<uintptr_t>(p) & ~uintptr_t(63);
  const uintptr_t last = reinterpret_cast<uintptr_t>(p + n - 1);
  for (uintptr_t line = first; line <= last; line += 64)
    __builtin_prefetch(reinterpret_cast<const void*>(line), 0, Locality);
}

template <typename Transform, typename EdgeTransform>
void for_each_channel_window(const ConvShape& s, const float* x, const SecondInput* second, int64_t n, int64_t wy,
                             int64_t wx, int64_t rows, int64_t cols, float* v, int64_t block, float* window,
                             Transform transform, EdgeTransform edge_transform, bool has_edge) {
  const bool inside = wy >= 0 && wy + rows <= s.H && wx >= 0 && wx + cols <= s.W;
  // The part of the window inside the plane: rows [y_lo, y_hi), columns [x_lo, x_hi).
  const int64_t y_lo = std::max<int64_t>(wy, 0), y_hi = std::max(y_lo, std::min(wy + rows, s.H));
  const int64_t x_lo = std::max<int64_t>(wx, 0), x_hi = std::max(x_lo, std::min(wx + cols, s.W));
  const EdgeBounds e{int(y_lo - wy), int(y_hi - wy), int(x_lo - wx), int(x_hi - wx)};
  for (int64_t ci = 0; ci < s.Cin; ++ci) {
    const float* plane = input_plane(x, second, s.Cin, s.H * s.W, n, ci);
    float* vg = v + ci * block;
    if (ci + kPrefetchPlanes < s.Cin && x_lo < x_hi) {
      const float* ahead = input_plane(x, second, s.Cin, s.H * s.W, n, ci + kPrefetchPlanes);
      for (int64_t r = y_lo; r < y_hi; ++r) prefetch_lines<3>(ahead + r * s.W + x_lo, x_hi - x_lo);
    }
    if (inside) {
      transform(plane + wy * s.W + wx, s.W, vg);
    } else if (has_edge) {
      // The window's top-left, which may lie outside the plane (only e's part is read).
      edge_transform(plane + wy * s.W + wx, s.W, e, vg);
    } else {
      stage_window(plane, s.H, s.W, wy, wx, rows, cols, window);
      transform(window, cols, vg);
    }
  }
}

// for_each_channel_window for a PhaseInput forward: the window at (wy, wx)
// of phase channel ci * 4 + 2 ry + rx, rows 2 (wy + i) + ry and columns
// 2 (wx + j) + rx of source plane ci, staged in `window` (zeros outside the
// source image) for transform(window, cols, v + channel * block); edges or
// not, every window is staged (the staging, not the transform, is where the
// phase mode differs). With `direct` (not null), direct(plane, 2 wy + ry,
// 2 wx + rx, v + channel * block) reads and transforms the window itself
// instead (Kernels::input16_phase). The four phases of a source plane read the same rows
// (the two of a phase row pair, one line apart), so all but the first
// phase's loads hit L1.
//
// As in for_each_channel_window, the source plane kPrefetchSourcePlanes
// ahead is fetched into L1 (its window's rows: 2 rows x 2 columns for each
// of the phase window's, 12 x 132 floats for a pair of F(4x4) groups), a
// quarter of its rows for each phase. (64 -> 32 channels at 332 x 332, Zen 4,
// 2 threads, medians of 4 alternated runs: 1, 2 or 3 planes ahead 9.11,
// 9.03, 9.15 ms, and adding L2 prefetches 4 or 6 planes ahead 9.00, 8.99:
// all within the noise. The source windows' loads still wait: the same conv
// reading every window from one plane held in cache took 8.1 ms.)
constexpr int64_t kPrefetchSourcePlanes = 1;

template <typename Transform, typename Direct = std::nullptr_t>
void for_each_phase_window(const Kernels& kern, const ConvShape& s, const PhaseInput& phases, const float* x,
                           const SecondInput* second, int64_t n, int64_t wy, int64_t wx, int64_t rows, int64_t cols,
                           float* v, int64_t block, float* window, Transform transform, Direct direct = nullptr) {
  const int64_t H = phases.H, W = phases.W, sources = s.Cin / 4, plane_floats = H * W;
  const auto stage = kern.stage_phase_window != nullptr ? kern.stage_phase_window : stage_phase_window;
  // The source rows and columns the window's four phases read, inside the image.
  const int64_t y_lo = std::max<int64_t>(2 * wy, 0), y_hi = std::min(2 * (wy + rows), H);
  const int64_t x_lo = std::max<int64_t>(2 * wx, 0), x_hi = std::min(2 * (wx + cols), W);
  for (int64_t ci = 0; ci < sources; ++ci) {
    const float* plane = input_plane(x, second, sources, plane_floats, n, ci);
    const bool fetch_ahead = ci + kPrefetchSourcePlanes < sources && x_lo < x_hi;
    const float* ahead =
        fetch_ahead ? input_plane(x, second, sources, plane_floats, n, ci + kPrefetchSourcePlanes) : nullptr;
    for (int64_t phase = 0; phase < 4; ++phase) {
      if (fetch_ahead)
        for (int64_t r = y_lo + phase; r < y_hi; r += 4) prefetch_lines<3>(ahead + r * W + x_lo, x_hi - x_lo);
      const int64_t ry = phase / 2, rx = phase % 2;
      if constexpr (!std::is_same_v<Direct, std::nullptr_t>) {
        direct(plane, 2 * wy + ry, 2 * wx + rx, v + (ci * 4 + phase) * block);
      } else {
        stage(plane, H, W, 2 * wy + ry, 2 * wx + rx, rows, cols, window);
        transform(window, cols, v + (ci * 4 + phase) * block);
      }
    }
  }
}

}  // namespace

void input_group(const Kernels& kern, int m, const ConvShape& s, const float* x, int64_t n, int64_t y0, int64_t x0,
                 float* v, int64_t block, int64_t v_pos, float* window, const PhaseInput* phases,
                 const SecondInput* second) {
  // The input window: in_tile(m) rows and 8 out_tile(m) + taps - 1 columns from (y0 - pad, x0 - pad).
  const int64_t rows = in_tile(m), cols = 8 * out_tile(m) + kernel_taps(m) - 1;
  auto transform = [&](const float* p, int64_t ld, float* vg) { kern.input(m, p, ld, vg, v_pos); };
  if (phases != nullptr)
    return for_each_phase_window(kern, s, *phases, x, second, n, y0 - s.pad, x0 - s.pad, rows, cols, v, block,
                                 window, transform);
  auto edge = kern.input_edge;
  for_each_channel_window(
      s, x, second, n, y0 - s.pad, x0 - s.pad, rows, cols, v, block, window, transform,
      [&](const float* p, int64_t ld, const EdgeBounds& e, float* vg) { edge(m, p, ld, e, vg, v_pos); },
      edge != nullptr);
}

// input_group for two adjacent groups at once through Kernels::input16
// (m = 4): the 6 x 66 window whose top-left is output pixel (y0, x0) less
// the padding; v: the first group's columns.
void input_group_pair(const Kernels& kern, const ConvShape& s, const float* x, int64_t n, int64_t y0, int64_t x0,
                      float* v, int64_t block, int64_t v_pos, float* window, const PhaseInput* phases,
                      const SecondInput* second) {
  auto transform = [&](const float* p, int64_t ld, float* vg) { kern.input16(p, ld, vg, v_pos); };
  // Where the ISA builds the phase window's rows in registers (input16_phase), nothing is staged: 64 -> 32
  // channels at 332 x 332, Zen 4, 2 threads, 6 alternated runs, min / median: staged 9.06 / 9.19 ms,
  // input16_phase 8.67 / 8.84 ms (no stores and reloads of the window, which input16 reads at offsets
  // that straddle the stager's stores).
  if (phases != nullptr && kern.input16_phase != nullptr)
    return for_each_phase_window(kern, s, *phases, x, second, n, y0 - s.pad, x0 - s.pad, 6, 66, v, block, window,
                                 transform, [&](const float* plane, int64_t py, int64_t px, float* vg) {
                                   kern.input16_phase(plane, phases->H, phases->W, py, px, vg, v_pos);
                                 });
  if (phases != nullptr)
    return for_each_phase_window(kern, s, *phases, x, second, n, y0 - s.pad, x0 - s.pad, 6, 66, v, block, window,
                                 transform);
  auto edge = kern.input16_edge;
  for_each_channel_window(
      s, x, second, n, y0 - s.pad, x0 - s.pad, 6, 66, v, block, window, transform,
      [&](const float* p, int64_t ld, const EdgeBounds& e, float* vg) { edge(p, ld, e, vg, v_pos); },
      edge != nullptr);
}

}  // namespace winograd

// Where the conv's input and output together exceed kPrefetchAheadBytes (no
// longer held by the last-level cache; a 4K-mode tile's 332 x 332 with 32
// channels is 28 MB), the multiply is cut into kMultiplyChunks chunks of
// positions, and the lines the next steps will read are prefetched between
// them. Zen 4, 2 threads, a 32 -> 32 conv at 332 x 332 with a residual, median
// of 6 alternated runs: 5.49 -> 4.81 ms (the residual's rows alone took
// 5.19; also prefetching the output rows for writing, 5.09). At 166 x 166
// (in cache) the extra prefetches cost 5%, hence the threshold.
constexpr int64_t kPrefetchAheadBytes = int64_t(16) << 20;
constexpr int64_t kMultiplyChunks = 6;


// How many output channels ahead the epilogue loop prefetches.
constexpr int64_t kPrefetchChannels = 4;
// The most 8-tile groups a job takes (block / 8: 4 for AVX-512's 32-tile block).
constexpr int64_t kMaxGroupsPerJob = 16;

bool winograd_forward(const ConvShape& s, const float* x, const float* w, const float* b, float* y, int64_t limit,
                      const Epilogue& epilogue, int m, CpuIsa isa, const PhaseInput* phases,
                      const SecondInput* second) {
  DCSR_CHECK(phases == nullptr || (s.Cin % 4 == 0 && s.H == (phases->H + 1) / 2 && s.W == (phases->W + 1) / 2),
             "winograd_forward: ", s.Cin, " channels of ", s.H, " x ", s.W, " are not the pixel phases of a ",
             phases ? phases->H : 0, " x ", phases ? phases->W : 0, " image");
  DCSR_CHECK(second == nullptr || (second->x != nullptr && second->first_planes > 0 &&
                                   second->first_planes < (phases ? s.Cin / 4 : s.Cin)),
             "winograd_forward: a second input after ", second ? second->first_planes : 0, " of ",
             phases ? s.Cin / 4 : s.Cin, " planes");
  const winograd::Kernels& kern = winograd::kernels_for(isa);
  // m names the variant (winograd.h); mo_side is its output tile, N its input tile.
  const int64_t N = in_tile(m), mo_side = out_tile(m), positions = N * N, block = kern.block, per_job = block / 8;
  // Groups of 8 tiles side by side, numbered along tile rows, then tile rows, then images; a
  // job takes per_job consecutive ones (several tile rows at once when the image is narrow).
  const int64_t tiles_y = (s.Ho + mo_side - 1) / mo_side, per_row = (s.Wo + 8 * mo_side - 1) / (8 * mo_side);
  const int64_t all_groups = s.N * tiles_y * per_row, jobs = (all_groups + per_job - 1) / per_job;
  DCSR_CHECK(per_job <= kMaxGroupsPerJob, "winograd_forward: a ", block, "-tile block is more than ", kMaxGroupsPerJob,
             " groups");
  // A group's input window and output columns.
  const int64_t window_cols = 8 * mo_side + kernel_taps(m) - 1, group_cols = 8 * mo_side;
  // V and M: a position's rows, then 16 floats of padding, so that the transforms' accesses to the P
  // positions do not all fall in one cache set (a position is 4 KB for 64 channels and 16 tiles otherwise).
  const int64_t v_pos = s.Cin * block + 16, m_pos = s.Cout * block + 16;
  const int64_t v_floats = positions * v_pos, m_floats = positions * m_pos;
  // The staged window holds two groups' (input_group_pair) or one group's. U counts against the limit
  // though packed_weights may hold it already (its cache is bounded on its own: kPackedCacheBytes).
  const int64_t window_floats = N * (window_cols + group_cols);
  // edge_out holds a group's output rows, or (pooled) a pair's: mo_side x 2 group_cols.
  const int64_t slot_floats = v_floats + m_floats + window_floats + mo_side * 2 * group_cols;
  const int64_t panels = (s.Cout + kern.mr - 1) / kern.mr, u_pos = panels * s.Cin * kern.mr;
  const int64_t u_floats = positions * u_pos;
  const bool prefetch_ahead =
      int64_t(sizeof(float)) * s.N * (s.Cin * s.H * s.W + s.Cout * s.Ho * s.Wo) > kPrefetchAheadBytes;
  // x's planes, their size, and the step between the pixels of one input channel in them (2 with phases).
  const int64_t in_planes = phases ? s.Cin / 4 : s.Cin, in_h = phases ? phases->H : s.H,
                in_w = phases ? phases->W : s.W, in_step = phases ? 2 : 1;
  const int workers = job_workers(jobs, s.flops());
  if ((int64_t(workers) * slot_floats + u_floats) * int64_t(sizeof(float)) > limit) return false;

  Tensor scratch = empty({int64_t(workers) * slot_floats}, kFloat32);
  const std::shared_ptr<const std::vector<float>> packed = winograd::packed_weights(s, w, m, kern.mr, u_floats);
  const float* u = packed->data();
  float* ws = scratch.data<float>();
  const float* residual = static_cast<const float*>(epilogue.residual);
  float* const pooled = static_cast<float*>(epilogue.pooled);  // y is not written where set
  DCSR_CHECK(pooled == nullptr || residual == nullptr, "winograd_forward: a pooled output takes no residual");
  struct Group {
    int64_t n, y0, x0;  // image, first output row and column
  };
  auto group_at = [&](int64_t q) {
    return Group{q / (tiles_y * per_row), mo_side * ((q / per_row) % tiles_y), group_cols * (q % per_row)};
  };
  run_jobs(jobs, workers, [&](int64_t job, int slot) {
    const int64_t first = job * per_job, count = std::min(per_job, all_groups - first);
    float* v = ws + slot * slot_floats;
    float* mo = v + v_floats;
    float* window = mo + m_floats;               // an edge group's staged input window
    float* edge_out = window + window_floats;    // an edge group's (or a pooled group's or pair's) output rows
    // The job's groups: where each starts, and its rows and columns inside the output.
    Group groups[kMaxGroupsPerJob];
    int64_t group_rows[kMaxGroupsPerJob], group_cols_here[kMaxGroupsPerJob];
    for (int64_t g = 0; g < count; ++g) {
      groups[g] = group_at(first + g);
      group_rows[g] = std::min<int64_t>(mo_side, s.Ho - groups[g].y0);
      group_cols_here[g] = std::min(group_cols, s.Wo - groups[g].x0);
    }
    // Pairs of adjacent groups of one tile row go through input16 and
    // output16 together (winograd.h); pair_first[g]: g and g + 1 are one.
    // Groups at the output's edge pair too where the ISA has the edge
    // versions of both.
    bool pair_first[kMaxGroupsPerJob] = {};
    auto whole = [&](int64_t g) { return group_rows[g] == mo_side && group_cols_here[g] == group_cols; };
    if (m == 4 && kern.input16 != nullptr) {
      const bool edge_pairs = kern.input16_edge != nullptr && kern.output16_edge != nullptr;
      for (int64_t g = 0; g + 1 < count; ++g)
        if ((edge_pairs || (whole(g) && whole(g + 1))) && groups[g + 1].n == groups[g].n &&
            groups[g + 1].y0 == groups[g].y0) {
          pair_first[g] = true;
          ++g;
        }
    }
    for (int64_t g = 0; g < per_job; ++g) {
      if (g >= count) {  // past the last group: zeros, multiplied and dropped
        for (int64_t pos = 0; pos < positions; ++pos)
          for (int64_t ci = 0; ci < s.Cin; ++ci) std::fill_n(v + pos * v_pos + ci * block + 8 * g, 8, 0.0f);
        continue;
      }
      if (pair_first[g]) {
        winograd::input_group_pair(kern, s, x, groups[g].n, groups[g].y0, groups[g].x0, v + 8 * g, block, v_pos,
                                   window, phases, second);
        ++g;
        continue;
      }
      winograd::input_group(kern, m, s, x, groups[g].n, groups[g].y0, groups[g].x0, v + 8 * g, block, v_pos, window,
                            phases, second);
    }
    if (!prefetch_ahead) {
      kern.multiply(positions, u, v, v_pos, mo, m_pos, s.Cin, s.Cout);
    } else {
      // The multiply reads only U, V and M, which stay in L2, so the memory
      // is idle while it runs: between its chunks of positions this job's
      // residual rows and the next job's input windows are fetched into L2,
      // a share of the channels after each chunk.
      Group next[kMaxGroupsPerJob];
      const int64_t next_count = job + 1 < jobs ? std::min(per_job, all_groups - (job + 1) * per_job) : 0;
      for (int64_t g = 0; g < next_count; ++g) next[g] = group_at((job + 1) * per_job + g);
      for (int64_t chunk = 0; chunk < kMultiplyChunks; ++chunk) {
        const int64_t p0 = positions * chunk / kMultiplyChunks, p1 = positions * (chunk + 1) / kMultiplyChunks;
        kern.multiply(p1 - p0, u + p0 * u_pos, v + p0 * v_pos, v_pos, mo + p0 * m_pos, m_pos, s.Cin, s.Cout);
        // This job's residual rows, read by its output step.
        if (residual != nullptr)
          for (int64_t co = s.Cout * chunk / kMultiplyChunks; co < s.Cout * (chunk + 1) / kMultiplyChunks; ++co)
            for (int64_t g = 0; g < count; ++g) {
              const int64_t at = ((groups[g].n * s.Cout + co) * s.Ho + groups[g].y0) * s.Wo + groups[g].x0;
              for (int64_t r = 0; r < group_rows[g]; ++r) winograd::prefetch_lines<2>(residual + at + r * s.Wo, group_cols_here[g]);
            }
        // The next job's input windows (with phases, their source rows and columns: twice as many of each, from
        // a quarter of the planes).
        for (int64_t ci = in_planes * chunk / kMultiplyChunks; ci < in_planes * (chunk + 1) / kMultiplyChunks; ++ci)
          for (int64_t g = 0; g < next_count; ++g) {
            const int64_t wy = in_step * (next[g].y0 - s.pad), wx = in_step * (next[g].x0 - s.pad);
            const int64_t x_lo = std::max<int64_t>(wx, 0), x_hi = std::min(wx + in_step * window_cols, in_w);
            const float* plane = input_plane(x, second, in_planes, in_h * in_w, next[g].n, ci);
            for (int64_t r = std::max<int64_t>(wy, 0); r < std::min(wy + in_step * N, in_h) && x_lo < x_hi; ++r)
              winograd::prefetch_lines<2>(plane + r * in_w + x_lo, x_hi - x_lo);
          }
      }
    }
    // Channel by channel, the job's groups side by side (their output rows
    // run on along the tile row), so each channel's output and residual are a
    // few long runs. Those of a channel kPrefetchChannels later are fetched
    // ahead: the planes lie far apart, a pattern the hardware prefetchers do
    // not follow, and the residual's misses took half the epilogue's time
    // (perf, a whole 4K image).
    // The epilogue (residual, LeakyReLU) is applied in the output transform,
    // before its one store. (As a separate pass it read the rows back while
    // the transform's narrower stores were still in flight, which cannot be
    // forwarded to wider loads.) An edge group's output goes through the
    // ISA's edge versions, or where it has none to edge_out, is copied, and
    // gets the epilogue after. Pooled, every group's or pair's rows go to
    // edge_out (in L1), and only their 2x2 max pool is stored.
    const float slope = float(epilogue.slope);
    for (int64_t co = 0; co < s.Cout; ++co) {
      const float bias = b ? b[co] : 0.0f;
      for (int64_t g = 0; g < count; ++g) {
        const Group& grp = groups[g];
        const int64_t rows = group_rows[g], cols = group_cols_here[g];
        if (co + kPrefetchChannels < s.Cout && pooled == nullptr) {
          const int64_t ahead = ((grp.n * s.Cout + co + kPrefetchChannels) * s.Ho + grp.y0) * s.Wo + grp.x0;
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t c = 0; c < cols; c += 16) {
              __builtin_prefetch(y + ahead + r * s.Wo + c, 1);
              if (residual) __builtin_prefetch(residual + ahead + r * s.Wo + c, 0);
            }
        }
        if (g > 0 && pair_first[g - 1]) continue;  // written with the group before it
        const float* mg = mo + co * block + 8 * g;
        if (pooled != nullptr) {
          // A pair's second group is whole in columns or partial at the row's end; its first is whole.
          const int64_t ld = pair_first[g] ? 2 * group_cols : group_cols;
          const int64_t pool_cols = (pair_first[g] ? cols + group_cols_here[g + 1] : cols) / 2;
          if (pair_first[g]) {
            kern.output16(mg, m_pos, bias, edge_out, ld, nullptr, slope);
          } else {
            kern.output(m, mg, m_pos, bias, edge_out, ld, nullptr, slope);
          }
          // Output rows y0 + r, y0 + r + 1 (y0 and x0 even) make pooled row (y0 + r) / 2; an odd last row is dropped.
          float* prow = pooled + ((grp.n * s.Cout + co) * (s.Ho / 2) + grp.y0 / 2) * (s.Wo / 2) + grp.x0 / 2;
          for (int64_t r = 0; r + 1 < rows; r += 2, prow += s.Wo / 2)
            max_pool_row_2x2(edge_out + r * ld, edge_out + (r + 1) * ld, prow, pool_cols);
          continue;
        }
        float* yrow = y + ((grp.n * s.Cout + co) * s.Ho + grp.y0) * s.Wo + grp.x0;  // the group's first output row
        const float* res = residual ? residual + (yrow - y) : nullptr;
        if (pair_first[g]) {
          if (whole(g) && whole(g + 1)) {
            kern.output16(mg, m_pos, bias, yrow, s.Wo, res, slope);
          } else {
            kern.output16_edge(mg, m_pos, bias, yrow, s.Wo, res, slope, int(rows), int(cols + group_cols_here[g + 1]));
          }
        } else if (whole(g)) {
          kern.output(m, mg, m_pos, bias, yrow, s.Wo, res, slope);
        } else if (kern.output_edge != nullptr) {
          kern.output_edge(m, mg, m_pos, bias, yrow, s.Wo, res, slope, int(rows), int(cols));
        } else {
          kern.output(m, mg, m_pos, bias, edge_out, group_cols, nullptr, 1.0f);
          for (int64_t r = 0; r < rows; ++r) {
            std::copy(edge_out + r * group_cols, edge_out + r * group_cols + cols, yrow + r * s.Wo);
            if (epilogue.active()) apply_epilogue(yrow + r * s.Wo, cols, yrow + r * s.Wo - y, epilogue);
          }
        }
      }
    }
  });
  return true;
}

}  // namespace dcsr::kernels::cpu
