// CUDA permute (float32 and int64): out.shape[i] = x.shape[perm[i]].
//
// The permutation is first simplified on the host: size-1 dims are dropped
// and input dims that stay adjacent and in order in the output are merged
// ((N, C, H, W) -> (N, H, W, C) is (N, C, HW) -> (N, HW, C)). What remains is
// then either
//   * the identity: one device copy;
//   * a (batched) 2-D transpose (B, R, C) -> (B, C, R): 32x32 tiles staged
//     through shared memory so that both the reads and the writes of a warp
//     touch 32 consecutive elements (the generic walk would write, or read,
//     with a stride of R elements); the tile has 33 columns so the column
//     reads from shared memory hit 32 different banks;
//   * anything else: one thread per output element, its input offset by an
//     odometer over the merged output dims.
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace dcsr::kernels::cuda {

namespace {
constexpr int kTile = 32, kTileRows = 8;

template <typename T>
__global__ void transpose_kernel(const T* x, T* out, int64_t B, int64_t R, int64_t C) {
  __shared__ T tile[kTile][kTile + 1];
  const int64_t tiles_r = (R + kTile - 1) / kTile, tiles_c = (C + kTile - 1) / kTile;
  const int64_t tiles = B * tiles_r * tiles_c;
  for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {  // uniform per block
    const int64_t b = t / (tiles_r * tiles_c), tr = (t / tiles_c) % tiles_r, tc = t % tiles_c;
    const T* src = x + b * R * C;
    T* dst = out + b * R * C;
    // Read rows r0 + y (+8, +16, +24), columns c0 + threadIdx.x: coalesced along C.
    const int64_t r0 = tr * kTile, c0 = tc * kTile;
    for (int y = threadIdx.y; y < kTile; y += kTileRows) {
      const int64_t r = r0 + y, c = c0 + threadIdx.x;
      if (r < R && c < C) tile[y][threadIdx.x] = src[r * C + c];
    }
    __syncthreads();
    // Write out rows c0 + y (an output row is an input column), columns r0 + threadIdx.x: coalesced along R.
    for (int y = threadIdx.y; y < kTile; y += kTileRows) {
      const int64_t c = c0 + y, r = r0 + threadIdx.x;
      if (r < R && c < C) dst[c * R + r] = tile[threadIdx.x][y];
    }
    __syncthreads();  // the tile is rewritten by the next iteration
  }
}

template <typename T>
__global__ void permute_kernel(const T* x, T* out, int64_t n, Dims out_dims) {
  DCSR_GRID_STRIDE_LOOP(i, n) out[i] = x[offset_of(i, out_dims)];
}

struct MergedPermute {
  std::vector<int64_t> in_sizes;  // merged input dims, in input order
  std::vector<int64_t> perm;      // merged permutation
};

MergedPermute merge(const Shape& shape, const std::vector<int64_t>& perm) {
  // Input dims with size > 1, renumbered 0..m-1 in input order.
  std::vector<int64_t> renumber(shape.size(), -1);
  std::vector<int64_t> sizes;
  for (size_t d = 0; d < shape.size(); ++d)
    if (shape[d] != 1) renumber[d] = int64_t(sizes.size()), sizes.push_back(shape[d]);
  std::vector<int64_t> order;  // the output order of the kept input dims
  for (int64_t p : perm)
    if (renumber[size_t(p)] >= 0) order.push_back(renumber[size_t(p)]);
  // Runs of consecutive input dims in the output order become one dim.
  std::vector<std::vector<int64_t>> groups;
  for (int64_t d : order) {
    if (!groups.empty() && groups.back().back() + 1 == d) groups.back().push_back(d);
    else groups.push_back({d});
  }
  // Groups sorted by their first input dim give the merged input shape.
  std::vector<size_t> by_input(groups.size());
  for (size_t i = 0; i < groups.size(); ++i) by_input[i] = i;
  std::sort(by_input.begin(), by_input.end(),
            [&](size_t a, size_t b) { return groups[a].front() < groups[b].front(); });
  MergedPermute m;
  std::vector<int64_t> input_position(groups.size());
  for (size_t j = 0; j < by_input.size(); ++j) {
    int64_t size = 1;
    for (int64_t d : groups[by_input[j]]) size *= sizes[size_t(d)];
    m.in_sizes.push_back(size);
    input_position[by_input[j]] = int64_t(j);
  }
  for (size_t i = 0; i < groups.size(); ++i) m.perm.push_back(input_position[i]);
  return m;
}

template <typename T>
void permute_typed(const Tensor& x, const std::vector<int64_t>& perm, Tensor& out) {
  const int64_t n = x.numel();
  const T* in = x.data<T>();
  T* o = out.data<T>();
  MergedPermute m = merge(x.shape(), perm);
  const size_t p = m.perm.size();
  if (p <= 1) {
    DCSR_CUDA_CHECK(cudaMemcpyAsync(o, in, out.nbytes(), cudaMemcpyDeviceToDevice, 0));
    return;
  }
  const bool transpose_2d = p == 2;                                            // (R, C) -> (C, R)
  const bool transpose_3d = p == 3 && m.perm[0] == 0 && m.perm[1] == 2 && m.perm[2] == 1;  // (B, R, C) -> (B, C, R)
  if (transpose_2d || transpose_3d) {
    const int64_t B = transpose_3d ? m.in_sizes[0] : 1;
    const int64_t R = m.in_sizes[p - 2], C = m.in_sizes[p - 1];
    const int64_t tiles = B * ((R + kTile - 1) / kTile) * ((C + kTile - 1) / kTile);
    transpose_kernel<T><<<unsigned(std::min(tiles, kMaxGridBlocks)), dim3(kTile, kTileRows)>>>(in, o, B, R, C);
    DCSR_CUDA_CHECK_LAUNCH();
    return;
  }
  std::vector<int64_t> in_strides = contiguous_strides(m.in_sizes);
  std::vector<int64_t> out_sizes(p), src_strides(p);
  for (size_t i = 0; i < p; ++i) {
    out_sizes[i] = m.in_sizes[size_t(m.perm[i])];
    src_strides[i] = in_strides[size_t(m.perm[i])];
  }
  permute_kernel<T><<<grid_for(n), kBlock>>>(in, o, n, make_dims(out_sizes, src_strides, "permute"));
  DCSR_CUDA_CHECK_LAUNCH();
}
}  // namespace

void permute(const Tensor& x, const std::vector<int64_t>& perm, Tensor& out) {
  DCSR_CHECK(out.dtype() == x.dtype() && out.numel() == x.numel(), "permute: output ", shape_str(out.shape()), " ",
             dtype_name(out.dtype()), " does not match the input");
  if (x.numel() == 0) return;
  dispatch_float32_or_int64(x, "permute", [&](auto zero) { permute_typed<decltype(zero)>(x, perm, out); });
}

}  // namespace dcsr::kernels::cuda
