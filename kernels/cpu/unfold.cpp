// CPU unfold (im2col) and fold (col2im) of whole images, F.unfold / F.fold
// order. One (image, channel) plane per job: a plane owns k*k rows of the
// column matrix, and fold's overlapping sums stay inside one plane, so
// neither direction needs synchronisation.
#include "kernels/cpu/cpu_common.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/im2col.h"
#include "kernels/cpu/parallel_jobs.h"

namespace dcsr::kernels::cpu {

namespace {
// The geometry of one channel of x (N,C,H,W) with Ho x Wo windows.
Im2colGeometry plane_geometry(int64_t H, int64_t W, int64_t kernel, int64_t stride, int64_t padding) {
  const int64_t Ho = (H + 2 * padding - kernel) / stride + 1, Wo = (W + 2 * padding - kernel) / stride + 1;
  return {1, H, W, kernel, stride, padding, Ho, Wo};
}
}  // namespace

void unfold(const Tensor& x, Tensor& cols, int64_t kernel, int64_t stride, int64_t padding) {
  dispatch_floating(x.dtype(), "unfold", [&](auto zero) {
    using T = decltype(zero);
    const Im2colGeometry g = plane_geometry(x.size(2), x.size(3), kernel, stride, padding);
    const int64_t L = g.cols(), kk = kernel * kernel, plane = g.H * g.W;
    const T* in = x.data<T>();
    T* out = cols.data<T>();
    // Plane p = n*C + c owns rows c*kk .. c*kk + kk - 1 of image n, which sit
    // at offset p*kk*L in (N, C*kk, L).
    parallel_for(x.size(0) * x.size(1), grain_for(kk * L),
                 [&](int64_t begin, int64_t end) {
                   for (int64_t p = begin; p < end; ++p) im2col_range(in + p * plane, g, 0, L, out + p * kk * L, L);
                 });
  });
}

void fold(const Tensor& cols, Tensor& out, int64_t kernel, int64_t stride, int64_t padding) {
  dispatch_floating(cols.dtype(), "fold", [&](auto zero) {
    using T = decltype(zero);
    const Im2colGeometry g = plane_geometry(out.size(2), out.size(3), kernel, stride, padding);
    const int64_t L = g.cols(), kk = kernel * kernel, plane = g.H * g.W;
    const T* in = cols.data<T>();
    T* o = out.data<T>();
    parallel_for(out.size(0) * out.size(1), grain_for(kk * L),
                 [&](int64_t begin, int64_t end) {
                   for (int64_t p = begin; p < end; ++p) {
                     std::fill(o + p * plane, o + (p + 1) * plane, T(0));
                     col2im_range(in + p * kk * L, L, g, 0, L, o + p * plane);
                   }
                 });
  });
}

}  // namespace dcsr::kernels::cpu
