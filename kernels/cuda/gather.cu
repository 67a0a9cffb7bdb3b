// CUDA gather (float32, int64) and scatter_add (float32), PyTorch's
// torch.gather / Tensor.scatter_add_ along `dim`:
//   gather:      out[i][j][k] = x[index[i][j][k]][j][k]        (dim 0)
//   scatter_add: out[index[i][j][k]][j][k] += src[i][j][k]
// index has x's number of dims and sizes <= x's outside `dim`; out / src have
// index's shape. One thread per index element e: its coordinates come from an
// odometer over index's shape, and the data offset is
//   sum over d != dim of coord_d * data_stride_d  +  index[e] * data_stride_dim,
// i.e. an offset_of() over index's sizes with data's strides, dim's stride
// zeroed. Colliding scatter targets use atomicAdd.
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/index_check.h"

namespace dcsr::kernels::cuda {

namespace {
template <typename T>
__global__ void gather_kernel(const T* x, const int64_t* index, T* out, int64_t n, Dims walk, int64_t dim_stride) {
  DCSR_GRID_STRIDE_LOOP(e, n) out[e] = x[offset_of(e, walk) + index[e] * dim_stride];
}

__global__ void scatter_add_kernel(float* out, const int64_t* index, const float* src, int64_t n, Dims walk,
                                   int64_t dim_stride) {
  DCSR_GRID_STRIDE_LOOP(e, n) atomicAdd(out + offset_of(e, walk) + index[e] * dim_stride, src[e]);
}

// Checks shapes and indices like the CPU walk, and returns the walk over
// index's shape with data's strides (dim's stride set to 0 there).
Dims plan_walk(const Tensor& data, int64_t dim, const Tensor& index, const char* op, int64_t& dim_stride) {
  DCSR_CHECK(index.dtype() == DType::Int64, op, ": index must be int64");
  const Shape& ishape = index.shape();
  DCSR_CHECK(index.dim() == data.dim(), op, ": index has ", index.dim(), " dims, data has ", data.dim());
  for (int64_t d = 0; d < data.dim(); ++d)
    DCSR_CHECK(d == dim || ishape[size_t(d)] <= data.shape()[size_t(d)], op, ": index shape ", shape_str(ishape),
               " exceeds data shape ", shape_str(data.shape()), " in dim ", d);
  check_indices(index.data<int64_t>(), index.numel(), data.shape()[size_t(dim)], op, dim);
  std::vector<int64_t> strides = contiguous_strides(data.shape());
  dim_stride = strides[size_t(dim)];
  strides[size_t(dim)] = 0;
  if (ishape.empty()) return make_dims({1}, {0}, op);  // 0-d tensors: one element
  return make_dims(ishape, strides, op);
}
}  // namespace

void gather(const Tensor& x, int64_t dim, const Tensor& index, Tensor& out) {
  int64_t dim_stride = 0;
  Dims walk = plan_walk(x, dim, index, "gather", dim_stride);
  const int64_t n = index.numel();
  if (n == 0) return;
  dispatch_float32_or_int64(x, "gather", [&](auto zero) {
    using T = decltype(zero);
    gather_kernel<T><<<grid_for(n), kBlock>>>(x.data<T>(), index.data<int64_t>(), out.data<T>(), n, walk, dim_stride);
    DCSR_CUDA_CHECK_LAUNCH();
  });
}

void scatter_add(Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  require_float32(out, "scatter_add");
  require_float32(src, "scatter_add");
  int64_t dim_stride = 0;
  Dims walk = plan_walk(out, dim, index, "scatter_add", dim_stride);
  const int64_t n = index.numel();
  if (n == 0) return;
  scatter_add_kernel<<<grid_for(n), kBlock>>>(out.data<float>(), index.data<int64_t>(), src.data<float>(), n, walk,
                                             dim_stride);
  DCSR_CUDA_CHECK_LAUNCH();
}

}  // namespace dcsr::kernels::cuda
