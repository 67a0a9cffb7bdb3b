// CPU pooling: kernel x kernel windows, stride = kernel, no padding, floor
// mode (the last H % kernel rows and W % kernel columns are never read).
#include <cmath>

#include "kernels/cpu/cpu_common.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/max_pool_row.h"
#include "kernels/cpu/parallel_jobs.h"

namespace dcsr::kernels::cpu {

void avg_pool2d_forward(const Tensor& x, Tensor& y, int64_t kernel) {
  dispatch_floating(x.dtype(), "avg_pool2d_forward", [&](auto zero) {
    using T = decltype(zero);
    const int64_t H = x.size(2), W = x.size(3), Ho = y.size(2), Wo = y.size(3);
    const T* in = x.data<T>();
    T* out = y.data<T>();
    const T count = T(kernel * kernel);  // divided, not multiplied by 1/count, as PyTorch
    // One output row per job.
    parallel_for(y.numel() / std::max<int64_t>(Wo, 1), grain_for(Wo * kernel * kernel),
                 [&](int64_t begin, int64_t end) {
                   for (int64_t job = begin; job < end; ++job) {
                     const int64_t plane = job / Ho, oy = job % Ho;
                     T* o = out + job * Wo;
                     std::fill(o, o + Wo, T(0));
                     for (int64_t ky = 0; ky < kernel; ++ky) {
                       const T* row = in + (plane * H + oy * kernel + ky) * W;
                       for (int64_t ox = 0; ox < Wo; ++ox)
                         for (int64_t kx = 0; kx < kernel; ++kx) o[ox] += row[ox * kernel + kx];
                     }
                     for (int64_t ox = 0; ox < Wo; ++ox) o[ox] /= count;
                   }
                 });
  });
}

void avg_pool2d_backward(const Tensor& grad_y, Tensor& grad_x, int64_t kernel) {
  dispatch_floating(grad_y.dtype(), "avg_pool2d_backward", [&](auto zero) {
    using T = decltype(zero);
    const int64_t H = grad_x.size(2), W = grad_x.size(3), Ho = grad_y.size(2), Wo = grad_y.size(3);
    const T* gy = grad_y.data<T>();
    T* gx = grad_x.data<T>();
    const T count = T(kernel * kernel);
    // One input row per job: its windows' row of grad_y, or 0 past the last window.
    parallel_for(grad_x.numel() / std::max<int64_t>(W, 1), grain_for(W),
                 [&](int64_t begin, int64_t end) {
                   for (int64_t job = begin; job < end; ++job) {
                     const int64_t plane = job / H, iy = job % H, oy = iy / kernel;
                     T* row = gx + job * W;
                     if (oy >= Ho) {
                       std::fill(row, row + W, T(0));
                       continue;
                     }
                     const T* g = gy + (plane * Ho + oy) * Wo;
                     for (int64_t ox = 0; ox < Wo; ++ox)
                       for (int64_t kx = 0; kx < kernel; ++kx) row[ox * kernel + kx] = g[ox] / count;
                     std::fill(row + Wo * kernel, row + W, T(0));
                   }
                 });
  });
}


void max_pool2d_forward(const Tensor& x, Tensor& y, Tensor& indices, int64_t kernel) {
  dispatch_floating(x.dtype(), "max_pool2d_forward", [&](auto zero) {
    using T = decltype(zero);
    const int64_t H = x.size(2), W = x.size(3), Ho = y.size(2), Wo = y.size(3);
    const T* in = x.data<T>();
    T* out = y.data<T>();
    int64_t* idx = indices.defined() ? indices.data<int64_t>() : nullptr;  // undefined: values only
    // One output row per item: the divisions that find a row's plane and
    // position are paid once per row, not per element (they were most of the
    // time of a 4K tile's pools).
    parallel_for(y.numel() / std::max<int64_t>(Wo, 1), grain_for(Wo * kernel * kernel), [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const int64_t plane = row / Ho, oy = row % Ho;
        const T* p = in + plane * H * W;
        if (idx == nullptr && kernel == 2) {
          const T* r0 = p + 2 * oy * W;
          max_pool_row_2x2(r0, r0 + W, out + row * Wo, Wo);
          continue;
        }
        for (int64_t ox = 0; ox < Wo; ++ox) {
          const int64_t i = row * Wo + ox;
          int64_t best = oy * kernel * W + ox * kernel;
          T best_value = p[best];
          for (int64_t ky = 0; ky < kernel; ++ky)
            for (int64_t kx = 0; kx < kernel; ++kx) {
              const int64_t at = (oy * kernel + ky) * W + ox * kernel + kx;
              const T v = p[at];
              if (max_pool_replaces(v, best_value)) {
                best_value = v;
                best = at;
              }
            }
          out[i] = best_value;
          if (idx != nullptr) idx[i] = best;
        }
      }
    });
  });
}

void max_pool2d_backward(const Tensor& grad_y, const Tensor& indices, Tensor& grad_x) {
  dispatch_floating(grad_y.dtype(), "max_pool2d_backward", [&](auto zero) {
    using T = decltype(zero);
    const int64_t HW = grad_x.size(2) * grad_x.size(3), HoWo = grad_y.size(2) * grad_y.size(3);
    const T* gy = grad_y.data<T>();
    const int64_t* idx = indices.data<int64_t>();
    T* gx = grad_x.data<T>();
    // One plane per job. Windows do not overlap (stride = kernel), but a
    // plane-wide job keeps this correct for any index tensor.
    parallel_for(grad_x.numel() / std::max<int64_t>(HW, 1), grain_for(HW),
                 [&](int64_t begin, int64_t end) {
                   for (int64_t plane = begin; plane < end; ++plane) {
                     T* g = gx + plane * HW;
                     std::fill(g, g + HW, T(0));
                     for (int64_t i = 0; i < HoWo; ++i) g[idx[plane * HoWo + i]] += gy[plane * HoWo + i];
                   }
                 });
  });
}

}  // namespace dcsr::kernels::cpu
