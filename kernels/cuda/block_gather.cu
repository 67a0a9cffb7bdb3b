// CUDA block transfer (dcsr-spec §4.2), float32: output block (p / out_w,
// p % out_w) of each image = value block index[n, p] of the (Hv / k) x
// (Wv / k) block grid, and the scatter-add back.
// value: (N, C, Hv, Wv); index: (N, out_h * out_w) int64; out: (N, C, out_h k, out_w k).
// Forward: one thread per output value (a warp reads runs of k consecutive
// values of a source row). Backward: one thread per output gradient value,
// added into its source with atomicAdd (several output blocks may copy the
// same value block); grad_value is zeroed first.
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/index_check.h"

namespace dcsr::kernels::cuda {

namespace {

struct BlockGeometry {
  int64_t C, Hv, Wv, Ho, Wo, k, grid_w, out_w, L;
};

// The value-plane offset that output position (y, x) of image n copies.
__device__ __forceinline__ int64_t source_offset(const BlockGeometry& g, const int64_t* index, int64_t n, int64_t y,
                                                 int64_t x) {
  const int64_t src = index[n * g.L + (y / g.k) * g.out_w + x / g.k];
  const int64_t sy = (src / g.grid_w) * g.k + y % g.k, sx = (src % g.grid_w) * g.k + x % g.k;
  return sy * g.Wv + sx;
}

__global__ void block_gather_kernel(const float* value, const int64_t* index, float* out, int64_t total,
                                    BlockGeometry g) {
  DCSR_GRID_STRIDE_LOOP(e, total) {
    const int64_t x = e % g.Wo, y = (e / g.Wo) % g.Ho, nc = e / (g.Ho * g.Wo), n = nc / g.C;
    out[e] = value[nc * g.Hv * g.Wv + source_offset(g, index, n, y, x)];
  }
}

__global__ void block_gather_backward_kernel(const float* grad_out, const int64_t* index, float* grad_value,
                                             int64_t total, BlockGeometry g) {
  DCSR_GRID_STRIDE_LOOP(e, total) {
    const int64_t x = e % g.Wo, y = (e / g.Wo) % g.Ho, nc = e / (g.Ho * g.Wo), n = nc / g.C;
    atomicAdd(grad_value + nc * g.Hv * g.Wv + source_offset(g, index, n, y, x), grad_out[e]);
  }
}

// As the CPU: every index must name a block of the grid, checked before any
// work, and the first bad one is reported with its position.
void check_blocks(const Tensor& index, int64_t grid_h, int64_t grid_w, int64_t k, const char* op) {
  int64_t value = 0;
  const int64_t position = first_bad_index(index.data<int64_t>(), index.numel(), grid_h * grid_w, &value);
  DCSR_CHECK(position < 0, op, ": index ", value, " at position ", position, " is out of range for ", grid_h * grid_w,
             " blocks (a ", grid_h, " x ", grid_w, " grid of ", k, " x ", k, " blocks)");
}

BlockGeometry geometry(const Tensor& value_like, const Tensor& out_like, const Tensor& index, int64_t k) {
  const int64_t Wo = out_like.size(3);
  return {value_like.size(1), value_like.size(2), value_like.size(3), out_like.size(2), Wo, k,
          value_like.size(3) / k, Wo / k, index.size(1)};
}

}  // namespace

void block_gather(const Tensor& value, const Tensor& index, int64_t block, Tensor& out) {
  require_float32(value, "block_gather");
  const BlockGeometry g = geometry(value, out, index, block);
  check_blocks(index, g.Hv / block, g.grid_w, block, "block_gather");
  if (out.numel() == 0) return;
  block_gather_kernel<<<grid_for(out.numel()), kBlock>>>(value.data<float>(), index.data<int64_t>(), out.data<float>(),
                                                         out.numel(), g);
  DCSR_CUDA_CHECK_LAUNCH();
}

void block_gather_backward(const Tensor& grad_out, const Tensor& index, int64_t block, Tensor& grad_value) {
  require_float32(grad_out, "block_gather_backward");
  require_float32(grad_value, "block_gather_backward");
  const BlockGeometry g = geometry(grad_value, grad_out, index, block);
  check_blocks(index, g.Hv / block, g.grid_w, block, "block_gather_backward");
  fill(grad_value, 0.0);
  if (grad_out.numel() == 0) return;
  block_gather_backward_kernel<<<grid_for(grad_out.numel()), kBlock>>>(grad_out.data<float>(), index.data<int64_t>(),
                                                                       grad_value.data<float>(), grad_out.numel(), g);
  DCSR_CUDA_CHECK_LAUNCH();
}

}  // namespace dcsr::kernels::cuda
