// Block transfer on the CPU (dcsr-spec §4.2): non-overlapping block x block
// copies from the value map into the mosaic, and the scatter-add back.
#include <cstring>

#include "kernels/cpu/cpu_common.h"
#include "kernels/cpu/cpu_kernels.h"

namespace dcsr::kernels::cpu {

namespace {
// Every index must name a block of the grid; checked before any work so that
// a bad index fails with its value, never reads out of bounds.
void check_indices(const Tensor& index, int64_t grid_h, int64_t grid_w, int64_t block, const char* op) {
  const int64_t* idx = index.data<int64_t>();
  const int64_t blocks = grid_h * grid_w;
  for (int64_t i = 0; i < index.numel(); ++i)
    DCSR_CHECK(idx[i] >= 0 && idx[i] < blocks, op, ": index ", idx[i], " at position ", i, " is out of range for ",
               blocks, " blocks (a ", grid_h, " x ", grid_w, " grid of ", block, " x ", block, " blocks)");
}

template <typename T>
void block_gather_typed(const Tensor& value, const Tensor& index, int64_t k, Tensor& out) {
  const int64_t N = value.size(0), C = value.size(1), Hv = value.size(2), Wv = value.size(3);
  const int64_t Ho = out.size(2), Wo = out.size(3), out_w = Wo / k;
  const int64_t L = index.size(1), grid_w = Wv / k;
  check_indices(index, Hv / k, grid_w, k, "block_gather");
  const T* vd = value.data<T>();
  const int64_t* idx = index.data<int64_t>();
  T* od = out.data<T>();
  // One job per output row (n, c, y): the row crosses out_w blocks, each a
  // contiguous run of k values copied from its source block's row.
  parallel_for(N * C * Ho, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(Wo, 1)), [&](int64_t begin, int64_t end) {
    for (int64_t job = begin; job < end; ++job) {
      const int64_t y = job % Ho, nc = job / Ho, n = nc / C;
      const int64_t* in = idx + n * L + (y / k) * out_w;
      const T* plane = vd + nc * Hv * Wv;
      T* row = od + job * Wo;
      for (int64_t bx = 0; bx < out_w; ++bx) {
        const int64_t src = in[bx], sy = (src / grid_w) * k + y % k, sx = (src % grid_w) * k;
        std::memcpy(row + bx * k, plane + sy * Wv + sx, size_t(k) * sizeof(T));
      }
    }
  });
}

template <typename T>
void block_gather_backward_typed(const Tensor& grad_out, const Tensor& index, int64_t k, Tensor& grad_value) {
  const int64_t N = grad_value.size(0), C = grad_value.size(1), Hv = grad_value.size(2), Wv = grad_value.size(3);
  const int64_t Ho = grad_out.size(2), Wo = grad_out.size(3), out_w = Wo / k;
  const int64_t L = index.size(1), grid_w = Wv / k;
  check_indices(index, Hv / k, grid_w, k, "block_gather_backward");
  const T* gd = grad_out.data<T>();
  const int64_t* idx = index.data<int64_t>();
  T* gv = grad_value.data<T>();
  // One job per (n, c) plane: several output blocks may come from the same
  // value block, and they all add into that plane only, so a plane's sums
  // are done by one thread (no races) in a fixed order.
  parallel_for(N * C, 1, [&](int64_t begin, int64_t end) {
    for (int64_t nc = begin; nc < end; ++nc) {
      const int64_t n = nc / C;
      T* plane = gv + nc * Hv * Wv;
      std::fill(plane, plane + Hv * Wv, T(0));
      const T* gplane = gd + nc * Ho * Wo;
      for (int64_t y = 0; y < Ho; ++y) {
        const int64_t* in = idx + n * L + (y / k) * out_w;
        const T* grow = gplane + y * Wo;
        for (int64_t bx = 0; bx < out_w; ++bx) {
          const int64_t src = in[bx], sy = (src / grid_w) * k + y % k, sx = (src % grid_w) * k;
          T* dst = plane + sy * Wv + sx;
          for (int64_t x = 0; x < k; ++x) dst[x] += grow[bx * k + x];
        }
      }
    }
  });
}
}  // namespace

void block_gather(const Tensor& value, const Tensor& index, int64_t block, Tensor& out) {
  dispatch_floating(value.dtype(), "block_gather",
                    [&](auto zero) { block_gather_typed<decltype(zero)>(value, index, block, out); });
}

void block_gather_backward(const Tensor& grad_out, const Tensor& index, int64_t block, Tensor& grad_value) {
  dispatch_floating(grad_out.dtype(), "block_gather_backward",
                    [&](auto zero) { block_gather_backward_typed<decltype(zero)>(grad_out, index, block, grad_value); });
}

}  // namespace dcsr::kernels::cpu
