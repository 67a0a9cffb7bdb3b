// Column-wise L2 normalisation with F.normalize's epsilon (descriptors of
// §4.1, feature vectors of the contextual loss §9.2).
#include <cmath>

#include "kernels/cpu/cpu_common.h"
#include "kernels/cpu/cpu_kernels.h"

namespace dcsr::kernels::cpu {

namespace {
constexpr double kEps = 1e-12;  // F.normalize's default

// Jobs are (image, block of columns); inside, rows d are walked in order so
// every access is contiguous along the columns.
constexpr int64_t kColumns = 256;

template <typename T>
void normalize_typed(const Tensor& x, Tensor& out, Tensor& norm) {
  const int64_t N = x.size(0), D = x.size(1), L = x.size(2);
  const int64_t blocks = (L + kColumns - 1) / kColumns;
  const T* xd = x.data<T>();
  T* od = out.data<T>();
  T* nd = norm.data<T>();
  parallel_for(N * blocks, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(D * kColumns, 1)),
               [&](int64_t begin, int64_t end) {
                 T denom[kColumns];
                 for (int64_t job = begin; job < end; ++job) {
                   const int64_t n = job / blocks, c0 = job % blocks * kColumns;
                   const int64_t nc = std::min(kColumns, L - c0);
                   const T* xn = xd + n * D * L + c0;
                   T* on = od + n * D * L + c0;
                   T* normn = nd + n * L + c0;
                   std::fill(normn, normn + nc, T(0));
                   for (int64_t d = 0; d < D; ++d)
                     for (int64_t c = 0; c < nc; ++c) normn[c] += xn[d * L + c] * xn[d * L + c];
                   for (int64_t c = 0; c < nc; ++c) {
                     normn[c] = std::sqrt(normn[c]);
                     denom[c] = std::max(normn[c], T(kEps));
                   }
                   // A division, as F.normalize (not a multiplication by the reciprocal).
                   for (int64_t d = 0; d < D; ++d)
                     for (int64_t c = 0; c < nc; ++c) on[d * L + c] = xn[d * L + c] / denom[c];
                 }
               });
}

template <typename T>
void normalize_backward_typed(const Tensor& grad_out, const Tensor& out, const Tensor& norm, Tensor& grad_in) {
  const int64_t N = out.size(0), D = out.size(1), L = out.size(2);
  const int64_t blocks = (L + kColumns - 1) / kColumns;
  const T* gd = grad_out.data<T>();
  const T* yd = out.data<T>();
  const T* nd = norm.data<T>();
  T* gi = grad_in.data<T>();
  // y = x / n with n = ||x||: dx = (g - y <y, g>) / n. Where n < eps the
  // denominator is the constant eps: dx = g / eps.
  parallel_for(N * blocks, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(D * kColumns, 1)),
               [&](int64_t begin, int64_t end) {
                 T dotp[kColumns], inv[kColumns];
                 for (int64_t job = begin; job < end; ++job) {
                   const int64_t n = job / blocks, c0 = job % blocks * kColumns;
                   const int64_t nc = std::min(kColumns, L - c0);
                   const int64_t off = n * D * L + c0;
                   const T* normn = nd + n * L + c0;
                   for (int64_t c = 0; c < nc; ++c) dotp[c] = T(0);
                   for (int64_t d = 0; d < D; ++d)
                     for (int64_t c = 0; c < nc; ++c) dotp[c] += yd[off + d * L + c] * gd[off + d * L + c];
                   for (int64_t c = 0; c < nc; ++c) {
                     const bool clamped = normn[c] < T(kEps);
                     inv[c] = T(1) / (clamped ? T(kEps) : normn[c]);
                     if (clamped) dotp[c] = T(0);
                   }
                   for (int64_t d = 0; d < D; ++d)
                     for (int64_t c = 0; c < nc; ++c)
                       gi[off + d * L + c] = (gd[off + d * L + c] - yd[off + d * L + c] * dotp[c]) * inv[c];
                 }
               });
}
}  // namespace

void normalize_columns(const Tensor& x, Tensor& out, Tensor& norm) {
  dispatch_floating(x.dtype(), "normalize_columns",
                    [&](auto zero) { normalize_typed<decltype(zero)>(x, out, norm); });
}

void normalize_columns_backward(const Tensor& grad_out, const Tensor& out, const Tensor& norm, Tensor& grad_in) {
  dispatch_floating(out.dtype(), "normalize_columns_backward",
                    [&](auto zero) { normalize_backward_typed<decltype(zero)>(grad_out, out, norm, grad_in); });
}

}  // namespace dcsr::kernels::cpu
