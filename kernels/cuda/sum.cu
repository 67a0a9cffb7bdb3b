// CUDA sum over any set of dims, float32 in and out, float64 accumulation.
//
// Geometry (as on the CPU): the input is viewed as alternating groups of kept
// and reduced dims (neighbours of the same kind merged, size-1 dims dropped).
// Output k and reduction index r map to the input offset
//   kept_offset(k) + reduced_offset(r),
// each an odometer over its groups. Two kernels, by which kind of group is
// innermost (the one with stride 1):
//   * reduced innermost (sum over W, over H*W, over everything): consecutive r
//     are adjacent in memory, so a BLOCK reduces a range of r of one output,
//     threads striding through it (coalesced);
//   * kept innermost (sum over the batch of (B, M, N), over N of (N, C)):
//     consecutive k are adjacent, so a THREAD reduces a range of r of one
//     output while its warp neighbours take the next outputs (coalesced).
// Few outputs with long reductions split each reduction into `splits`
// ranges so the whole GPU works; the partial sums (float64, in a workspace
// tensor from the caching pool) are added by a second kernel, one block per
// output.
//
// Accuracy: every thread accumulates in double and the partials are combined
// by a tree in double, so a float32 sum of 10^6 terms carries only the final
// rounding to float32 (relative error ~6e-8), whatever the order.
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace dcsr::kernels::cuda {

namespace {
constexpr int kReduceBlock = 256;

struct Groups {
  std::vector<int64_t> kept_sizes, kept_strides, red_sizes, red_strides;
  bool inner_reduced = false;
};

Groups group_dims(const Shape& shape, const std::vector<int64_t>& dims) {
  std::vector<bool> is_reduced(shape.size(), false);
  for (int64_t d : dims) is_reduced[size_t(d)] = true;
  std::vector<int64_t> strides = contiguous_strides(shape);
  std::vector<int64_t> sizes, gstrides;
  std::vector<bool> reduced;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!sizes.empty() && reduced.back() == is_reduced[d]) {
      sizes.back() *= shape[d];
      gstrides.back() = strides[d];
    } else {
      sizes.push_back(shape[d]);
      gstrides.push_back(strides[d]);
      reduced.push_back(is_reduced[d]);
    }
  }
  Groups g;
  for (size_t i = 0; i < sizes.size(); ++i) {
    (reduced[i] ? g.red_sizes : g.kept_sizes).push_back(sizes[i]);
    (reduced[i] ? g.red_strides : g.kept_strides).push_back(gstrides[i]);
  }
  g.inner_reduced = !reduced.empty() && reduced.back();
  return g;
}

// One block per (output k, split s), grid-striding over those jobs. Writes
// out[k] directly when splits == 1, else partial[k * splits + s].
__global__ void sum_inner_reduced_kernel(const float* x, float* out, double* partial, int64_t n_out, int64_t R,
                                         int64_t splits, Dims kept, Dims red) {
  const int64_t jobs = n_out * splits;
  for (int64_t job = blockIdx.x; job < jobs; job += gridDim.x) {
    const int64_t k = job / splits, s = job % splits;
    const int64_t r0 = R * s / splits, r1 = R * (s + 1) / splits;
    const float* base = x + offset_of_fast(k, kept);
    double acc = 0.0;
    for (int64_t r = r0 + threadIdx.x; r < r1; r += blockDim.x) acc += double(base[offset_of_fast(r, red)]);
    acc = block_reduce_sum(acc);
    if (threadIdx.x == 0) {
      if (splits == 1) out[k] = float(acc);
      else partial[job] = acc;
    }
    __syncthreads();  // the block reduction's scratch is reused by the next job
  }
}

// One thread per (output k, split s), k fastest so that a warp reads 32
// neighbouring outputs' elements at once.
__global__ void sum_inner_kept_kernel(const float* x, float* out, double* partial, int64_t n_out, int64_t R,
                                      int64_t splits, Dims kept, Dims red) {
  DCSR_GRID_STRIDE_LOOP(job, n_out * splits) {
    const int64_t k = job % n_out, s = job / n_out;
    const int64_t r0 = R * s / splits, r1 = R * (s + 1) / splits;
    const float* base = x + offset_of_fast(k, kept);
    double acc = 0.0;
    for (int64_t r = r0; r < r1; ++r) acc += double(base[offset_of_fast(r, red)]);
    if (splits == 1) out[k] = float(acc);
    else partial[k * splits + s] = acc;
  }
}

// out[k] = sum of partial[k * splits .. k * splits + splits), one block per k.
__global__ void sum_partials_kernel(const double* partial, float* out, int64_t n_out, int64_t splits) {
  for (int64_t k = blockIdx.x; k < n_out; k += gridDim.x) {
    double acc = 0.0;
    for (int64_t s = threadIdx.x; s < splits; s += blockDim.x) acc += partial[k * splits + s];
    acc = block_reduce_sum(acc);
    if (threadIdx.x == 0) out[k] = float(acc);
    __syncthreads();
  }
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
}  // namespace

void sum(const Tensor& x, const std::vector<int64_t>& dims, Tensor& out) {
  require_float32(x, "sum");
  require_float32(out, "sum");
  const int64_t n_out = out.numel();
  if (n_out == 0) return;
  if (x.numel() == 0) return fill(out, 0.0);
  Groups g = group_dims(x.shape(), dims);
  if (g.red_sizes.empty()) {  // every reduced dim has size 1: a copy
    DCSR_CUDA_CHECK(cudaMemcpyAsync(out.data<float>(), x.data<float>(), out.nbytes(), cudaMemcpyDeviceToDevice, 0));
    return;
  }
  int64_t R = 1;
  for (int64_t s : g.red_sizes) R *= s;
  Dims kept = make_dims(g.kept_sizes, g.kept_strides, "sum");
  Dims red = make_dims(g.red_sizes, g.red_strides, "sum");
  if (kept.ndim == 0) kept = make_dims({1}, {0}, "sum");  // a full reduction: one output at offset 0

  int64_t splits;
  if (g.inner_reduced) {
    // At least ~4 elements per thread in each block; aim for >= 2048 blocks.
    splits = std::max<int64_t>(1, std::min(ceil_div(R, kReduceBlock * 4), ceil_div(2048, n_out)));
  } else {
    // At least 16 elements per thread; aim for >= 2^18 threads (an H100 holds 270k).
    splits = std::max<int64_t>(1, std::min(ceil_div(R, 16), ceil_div(int64_t(1) << 18, n_out)));
  }
  Tensor workspace;
  double* partial = nullptr;
  if (splits > 1) {
    workspace = empty({n_out * splits}, kFloat64, Device::CUDA);
    partial = workspace.data<double>();
  }
  const float* in = x.data<float>();
  float* o = out.data<float>();
  if (g.inner_reduced) {
    const unsigned blocks = unsigned(std::min<int64_t>(n_out * splits, kMaxGridBlocks));
    sum_inner_reduced_kernel<<<blocks, kReduceBlock>>>(in, o, partial, n_out, R, splits, kept, red);
  } else {
    sum_inner_kept_kernel<<<grid_for(n_out * splits, kReduceBlock), kReduceBlock>>>(in, o, partial, n_out, R, splits,
                                                                                     kept, red);
  }
  DCSR_CUDA_CHECK_LAUNCH();
  if (splits > 1) {
    const unsigned blocks = unsigned(std::min<int64_t>(n_out, kMaxGridBlocks));
    sum_partials_kernel<<<blocks, kReduceBlock>>>(partial, o, n_out, splits);
    DCSR_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace dcsr::kernels::cuda
