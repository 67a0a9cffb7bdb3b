// im2col / col2im over a range of output pixels. Shared by conv2d (which
// works on column chunks so that its scratch stays bounded) and unfold / fold
// (which do whole images).
//
// Geometry of one image: C channels of H x W, a k x k window moved with
// stride s over the image padded by `pad` zeros on every side; Ho x Wo window
// positions. The column matrix has K = C*k*k rows, row r = (c*k + ky)*k + kx
// (PyTorch's F.unfold order), and Ho*Wo columns, column p = oy*Wo + ox; entry
// (r, p) is x[c][oy*s - pad + ky][ox*s - pad + kx], 0 in the padding.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>

namespace dcsr::kernels::cpu {

struct Im2colGeometry {
  int64_t C, H, W, k, stride, pad, Ho, Wo;
  int64_t rows() const { return C * k * k; }
  int64_t cols() const { return Ho * Wo; }
};

namespace im2col_detail {
// Window positions ox whose tap kx lands inside the image: [lo, hi) with
// 0 <= ox*s - pad + kx < W, intersected with [0, Wo).
inline void valid_span(int64_t offset, int64_t size, int64_t stride, int64_t count, int64_t& lo, int64_t& hi) {
  // offset = kx - pad: position = ox*stride + offset.
  lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  hi = size - 1 - offset < 0 ? 0 : (size - 1 - offset) / stride + 1;
  lo = std::min(lo, count);
  hi = std::min(std::max(hi, lo), count);
}

// Calls fn(row r, plane c, ky, kx, oy, ox0, ox1, q0) for every maximal run
// of columns [p0, p1) that lies in one output row and, when split > 0, in
// one block of `split` columns counted from p0; q0 = the run's first column - p0.
template <typename Fn>
void for_each_run(const Im2colGeometry& g, int64_t p0, int64_t p1, Fn&& fn, int64_t split = 0) {
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t ky = 0; ky < g.k; ++ky)
      for (int64_t kx = 0; kx < g.k; ++kx) {
        const int64_t r = (c * g.k + ky) * g.k + kx;
        for (int64_t p = p0; p < p1;) {
          const int64_t oy = p / g.Wo, ox0 = p % g.Wo, q = p - p0;
          int64_t n = std::min(g.Wo - ox0, p1 - p);
          if (split > 0) n = std::min(n, split - q % split);
          fn(r, c, ky, kx, oy, ox0, ox0 + n, q);
          p += n;
        }
      }
}

// Copies the taps of one run: dst[ox] = x value of window column ox for ox in
// [ox0, ox1), 0 in the padding. dst and src are indexed by ox (src[ox*stride]).
template <typename T>
void copy_run(const Im2colGeometry& g, int64_t iy, int64_t kx, const T* plane, int64_t ox0, int64_t ox1, T* dst,
              int64_t dst_stride = 1) {
  if (iy < 0 || iy >= g.H) {
    for (int64_t ox = ox0; ox < ox1; ++ox) dst[ox * dst_stride] = T(0);
    return;
  }
  int64_t lo, hi;
  valid_span(kx - g.pad, g.W, g.stride, g.Wo, lo, hi);
  lo = std::clamp(lo, ox0, ox1);
  hi = std::clamp(hi, lo, ox1);
  const T* src = plane + iy * g.W + kx - g.pad;
  for (int64_t ox = ox0; ox < lo; ++ox) dst[ox * dst_stride] = T(0);
  if (g.stride == 1 && dst_stride == 1) {
    for (int64_t ox = lo; ox < hi; ++ox) dst[ox] = src[ox];
  } else {
    for (int64_t ox = lo; ox < hi; ++ox) dst[ox * dst_stride] = src[ox * g.stride];
  }
  for (int64_t ox = hi; ox < ox1; ++ox) dst[ox * dst_stride] = T(0);
}
}  // namespace im2col_detail

// Columns [p0, p1) of one image's column matrix into col: entry (r, p) goes
// to col[r*ld + p - p0]. x: (C, H, W) of that image.
template <typename T>
void im2col_range(const T* x, const Im2colGeometry& g, int64_t p0, int64_t p1, T* col, int64_t ld) {
  using namespace im2col_detail;
  for_each_run(g, p0, p1,
               [&](int64_t r, int64_t c, int64_t ky, int64_t kx, int64_t oy, int64_t ox0, int64_t ox1, int64_t q) {
                 copy_run(g, oy * g.stride - g.pad + ky, kx, x + c * g.H * g.W, ox0, ox1, col + r * ld + q - ox0);
               });
}

// The adjoint of im2col_range: x[c][iy][ix] += every entry (r, p), p in
// [p0, p1), read from that pixel; entries in the padding are dropped. Rows of
// one channel hit the same plane, so callers that split this across threads
// must split by channel or by disjoint pixel footprints.
template <typename T>
void col2im_range(const T* col, int64_t ld, const Im2colGeometry& g, int64_t p0, int64_t p1, T* x) {
  using namespace im2col_detail;
  for_each_run(g, p0, p1,
               [&](int64_t r, int64_t c, int64_t ky, int64_t kx, int64_t oy, int64_t ox0, int64_t ox1, int64_t q) {
                 const int64_t iy = oy * g.stride - g.pad + ky;
                 if (iy < 0 || iy >= g.H) return;
                 int64_t lo, hi;
                 valid_span(kx - g.pad, g.W, g.stride, g.Wo, lo, hi);
                 lo = std::clamp(lo, ox0, ox1);
                 hi = std::clamp(hi, lo, ox1);
                 const T* src = col + r * ld + q - ox0;
                 T* dst = x + (c * g.H + iy) * g.W + kx - g.pad;
                 if (g.stride == 1) {
                   for (int64_t ox = lo; ox < hi; ++ox) dst[ox] += src[ox];
                 } else {
                   for (int64_t ox = lo; ox < hi; ++ox) dst[ox * g.stride] += src[ox];
                 }
               });
}

}  // namespace dcsr::kernels::cpu
