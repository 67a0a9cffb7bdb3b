// Block transfer on the CPU (dcsr-spec §4.2): non-overlapping block x block
// copies from the value map into the mosaic, and the scatter-add back.
#include <cstring>
#include <vector>

#include "kernels/cpu/cpu_common.h"
#include "kernels/cpu/cpu_kernels.h"

namespace dcsr::kernels::cpu {

namespace {
// The geometry both directions share: value planes (Hv, Wv) cut into a
// (Hv / k) x grid_w grid of k x k blocks, mosaic planes (Ho, Wo) of out_w
// blocks per row, and index (N, L) naming the value block of every mosaic
// block.
struct BlockLayout {
  int64_t N, C, Hv, Wv, Ho, Wo, k, out_w, L, grid_w;

  // Offset in a value plane of row y % k of block `src`: where the k values
  // of mosaic row y in a block taken from `src` live.
  int64_t source(int64_t src, int64_t y) const { return ((src / grid_w) * k + y % k) * Wv + (src % grid_w) * k; }
};

// The layout of value-shaped (N, C, Hv, Wv) and mosaic-shaped tensors. Every
// index must name a block of the grid; checked before any work so that a bad
// index fails with its value, never reads out of bounds.
BlockLayout layout(const Tensor& value, const Tensor& mosaic, const Tensor& index, int64_t k, const char* op) {
  const int64_t Wv = value.size(3), Wo = mosaic.size(3);
  const BlockLayout b{value.size(0),  value.size(1), value.size(2), Wv,  // N, C, Hv, Wv
                      mosaic.size(2), Wo,            k,             Wo / k,  // Ho, Wo, k, out_w
                      index.size(1),  Wv / k};                               // L, grid_w
  const int64_t* idx = index.data<int64_t>();
  const int64_t grid_h = b.Hv / k, blocks = grid_h * b.grid_w;
  for (int64_t i = 0; i < index.numel(); ++i)
    DCSR_CHECK(idx[i] >= 0 && idx[i] < blocks, op, ": index ", idx[i], " at position ", i, " is out of range for ",
               blocks, " blocks (a ", grid_h, " x ", b.grid_w, " grid of ", k, " x ", k, " blocks)");
  return b;
}

// Each index's source offset (row 0 of its block), found once: the
// divisions in BlockLayout::source were most of a 4K tile's gathers when
// paid per row of every channel.
std::vector<int64_t> source_offsets(const BlockLayout& b, const int64_t* idx, int64_t count) {
  std::vector<int64_t> base(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) base[size_t(i)] = b.source(idx[i], 0);
  return base;
}

// One output row: out_w runs of k values, run bx from plane[base[bx] + row_offset].
// kFixed > 0 is k known at compile time (the model's 1, 2 and 4: the copies
// become a few moves instead of a library call per run of 4-16 bytes);
// 0 takes k.
template <typename T, int kFixed>
void gather_row(const T* plane, const int64_t* base, int64_t row_offset, int64_t out_w, int64_t k, T* row) {
  if (kFixed > 0) k = kFixed;
  for (int64_t bx = 0; bx < out_w; ++bx) std::memcpy(row + bx * k, plane + base[bx] + row_offset, size_t(k) * sizeof(T));
}

template <typename T>
void block_gather_typed(const Tensor& value, const Tensor& index, int64_t k, Tensor& out) {
  const BlockLayout b = layout(value, out, index, k, "block_gather");
  const T* vd = value.data<T>();
  const int64_t* idx = index.data<int64_t>();
  T* od = out.data<T>();
  const std::vector<int64_t> base = source_offsets(b, idx, index.numel());
  auto* const row_fn = k == 1   ? &gather_row<T, 1>
                       : k == 2 ? &gather_row<T, 2>
                       : k == 4 ? &gather_row<T, 4>
                                : &gather_row<T, 0>;
  // One job per output row (n, c, y): the row crosses out_w blocks.
  const int64_t grain = std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(b.Wo, 1));
  parallel_for(b.N * b.C * b.Ho, grain, [&](int64_t begin, int64_t end) {
    for (int64_t job = begin; job < end; ++job) {
      const int64_t y = job % b.Ho, nc = job / b.Ho, n = nc / b.C;
      row_fn(vd + nc * b.Hv * b.Wv, base.data() + n * b.L + (y / k) * b.out_w, (y % k) * b.Wv, b.out_w, k,
             od + job * b.Wo);
    }
  });
}

template <typename T>
void block_gather_backward_typed(const Tensor& grad_out, const Tensor& index, int64_t k, Tensor& grad_value) {
  const BlockLayout b = layout(grad_value, grad_out, index, k, "block_gather_backward");
  const T* gd = grad_out.data<T>();
  const std::vector<int64_t> base = source_offsets(b, index.data<int64_t>(), index.numel());
  T* gv = grad_value.data<T>();
  // One job per (n, c) plane: several output blocks may come from the same
  // value block, and they all add into that plane only, so a plane's sums
  // are done by one thread (no races) in a fixed order.
  parallel_for(b.N * b.C, 1, [&](int64_t begin, int64_t end) {
    for (int64_t nc = begin; nc < end; ++nc) {
      const int64_t n = nc / b.C;
      T* plane = gv + nc * b.Hv * b.Wv;
      std::fill(plane, plane + b.Hv * b.Wv, T(0));
      const T* gplane = gd + nc * b.Ho * b.Wo;
      for (int64_t y = 0; y < b.Ho; ++y) {
        const int64_t* row_base = base.data() + n * b.L + (y / k) * b.out_w;
        const T* grow = gplane + y * b.Wo;
        for (int64_t bx = 0; bx < b.out_w; ++bx) {
          T* dst = plane + row_base[bx] + (y % k) * b.Wv;
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
