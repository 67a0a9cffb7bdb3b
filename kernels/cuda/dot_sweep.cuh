// All pairwise dot products of two column sets, computed in register tiles
// with a per-column reduction fused in, so the (rows x lanes) matrix never
// exists: the patch matching's running max/argmax (kernels/cuda/max_cosine.cu)
// and the contextual loss's row and column statistics
// (kernels/cuda/contextual.cu). The device twin of kernels/cpu/dot_sweep.h.
//
// Operands, per image n < N: rows R (D, n_rows) and lanes L (D, n_lanes),
// row-major (a column is one vector), as the (N, D, count) descriptor
// tensors store them. For every lane l the reduction sees
//   s(r, l) = <R[:, r], L[:, l]>,  computed as acc = fma(R[d][r], L[d][l], acc), d = 0..D-1,
// from acc = 0: the same fma chain as the CPU's dot_sweep, whatever the
// tile, chunk or thread, so identical columns give bit-identical products
// and a tie rule sees exact ties (the CPU and CUDA results agree bit for bit
// when both compilers emit the FMAs, as nvcc and GCC at -O3 do).
//
// Tiling (the GEMM of kernels/study/gemm.cu, version 3, plus the reduction):
//   block = 256 threads as 16 x 16; tile = 128 rows x 128 lanes; D in steps
//   of 8 through double-buffered shared memory (the next step's global loads
//   are in flight while the current one is multiplied); each thread owns 8
//   rows x 8 lanes, as two runs of 4 consecutive ones 64 apart (rows 4 ty ..
//   4 ty + 3 and 64 + 4 ty .. 64 + 4 ty + 3; lanes likewise with tx), so that
//   each step reads its operands with four 16-byte shared-memory loads (one
//   per 16 FMAs; scalar loads would make shared memory the bottleneck, see
//   versions 3 and 4 of kernels/study/gemm.cu), and keeps one reduction
//   state per lane, fed its rows in increasing order. After the block's rows,
//   the 16 states of each lane are merged through shared memory.
//   grid = (lane tiles, row chunks, images): the rows are cut into `chunks`
//   consecutive ranges, as many as make the blocks fill whole waves of the
//   device (plan_chunks, below); each chunk writes one partial state per
//   lane, merged in chunk order by a second kernel that also writes the
//   outputs.
//
// An Op supplies:
//   struct State;                                        plain data, per lane
//   __device__ State init() const;
//   __device__ void update(State&, float dot, int64_t row, int64_t lane, int64_t n) const;
//       called for the rows of one thread in increasing order (strict
//       comparisons keep the first index)
//   __device__ void merge(State& a, const State& b) const;
//       must not depend on the order of merging (first-index rules compare
//       the index on equal values; sums commute up to rounding)
//   __device__ void finish(const State&, int64_t n, int64_t lane) const;   writes the outputs
//
// Performance design: the tile loop is an FFMA GEMM, so the goal is a fair
// share of cuBLAS SGEMM on the same shape (>= 50% for the matching). The
// fused reduction costs each thread 64 updates (a compare, or an exp) per
// 128-row tile against its 64 * D FMAs, and only the reduction states, never
// the score matrix, touch memory. State must be plain data (it lives in
// __shared__ arrays).
#pragma once
#include "kernels/cuda/cuda_common.cuh"

namespace dcsr::kernels::cuda::sweep {

constexpr int kTile = 128;    // rows and lanes per block tile
constexpr int kStep = 8;      // D per shared-memory step
constexpr int kThreads = 256;
constexpr int kSub = 8;       // rows and lanes per thread

// The i-th of a thread's 8 rows (or lanes) in a tile, t = ty (or tx).
__device__ __forceinline__ int sub_index(int t, int i) { return (i < 4 ? 0 : kTile / 2) + 4 * t + (i & 3); }

template <typename Op>
__global__ void __launch_bounds__(kThreads)
    sweep_kernel(const float* __restrict__ rows, int64_t n_rows, const float* __restrict__ lanes, int64_t n_lanes,
                 int64_t D, int64_t rows_per_chunk, int64_t chunks, typename Op::State* __restrict__ partial, Op op) {
  using State = typename Op::State;
  __shared__ __align__(16) float As[2][kStep][kTile];
  __shared__ __align__(16) float Bs[2][kStep][kTile];
  __shared__ State merged[16][kTile];
  const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
  const int64_t n = blockIdx.z, chunk = blockIdx.y;
  const int64_t lane0 = int64_t(blockIdx.x) * kTile;
  const int64_t row_begin = chunk * rows_per_chunk;
  const int64_t row_end = min(n_rows, row_begin + rows_per_chunk);
  const float* R = rows + n * D * n_rows;
  const float* L = lanes + n * D * n_lanes;

  State state[kSub];
#pragma unroll
  for (int j = 0; j < kSub; ++j) state[j] = op.init();

  // Global -> register staging: element e = tid + 256 m of a step (8 x 128)
  // is (d = e / 128, column c = e % 128): a warp reads 32 consecutive floats.
  float ra[4], rb[4];
  auto load_step = [&](int64_t row0, int64_t d0) {
#pragma unroll
    for (int m = 0; m < 4; ++m) {
      const int e = tid + kThreads * m, d = e >> 7, c = e & (kTile - 1);
      const bool d_ok = d0 + d < D;
      ra[m] = (d_ok && row0 + c < n_rows) ? R[(d0 + d) * n_rows + row0 + c] : 0.0f;
      rb[m] = (d_ok && lane0 + c < n_lanes) ? L[(d0 + d) * n_lanes + lane0 + c] : 0.0f;
    }
  };
  auto store_step = [&](int buf) {
#pragma unroll
    for (int m = 0; m < 4; ++m) {
      const int e = tid + kThreads * m, d = e >> 7, c = e & (kTile - 1);
      As[buf][d][c] = ra[m];
      Bs[buf][d][c] = rb[m];
    }
  };

  const int64_t steps = (D + kStep - 1) / kStep;
  for (int64_t row0 = row_begin; row0 < row_end; row0 += kTile) {
    float acc[kSub][kSub];
#pragma unroll
    for (int i = 0; i < kSub; ++i)
#pragma unroll
      for (int j = 0; j < kSub; ++j) acc[i][j] = 0.0f;
    load_step(row0, 0);
    store_step(0);
    __syncthreads();
    for (int64_t t = 0; t < steps; ++t) {
      const int buf = int(t & 1);
      if (t + 1 < steps) load_step(row0, (t + 1) * kStep);
#pragma unroll
      for (int k = 0; k < kStep; ++k) {
        const float4 a0 = *reinterpret_cast<const float4*>(&As[buf][k][4 * ty]);
        const float4 a1 = *reinterpret_cast<const float4*>(&As[buf][k][kTile / 2 + 4 * ty]);
        const float4 b0 = *reinterpret_cast<const float4*>(&Bs[buf][k][4 * tx]);
        const float4 b1 = *reinterpret_cast<const float4*>(&Bs[buf][k][kTile / 2 + 4 * tx]);
        const float a[kSub] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
        const float b[kSub] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
        for (int i = 0; i < kSub; ++i)
#pragma unroll
          for (int j = 0; j < kSub; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
      }
      // The other buffer was last read in step t - 1, before the barrier
      // that ended it; it is refilled now and read after the next barrier.
      if (t + 1 < steps) store_step(buf ^ 1);
      __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < kSub; ++i) {
      const int64_t row = row0 + sub_index(ty, i);  // increasing with i
      if (row >= row_end) continue;
#pragma unroll
      for (int j = 0; j < kSub; ++j) {
        const int64_t lane = lane0 + sub_index(tx, j);
        if (lane < n_lanes) op.update(state[j], acc[i][j], row, lane, n);
      }
    }
  }
  // Merge the 16 threads that share each lane, then write the chunk's state.
#pragma unroll
  for (int j = 0; j < kSub; ++j) merged[ty][sub_index(tx, j)] = state[j];
  __syncthreads();
  if (tid < kTile) {
    State s = merged[0][tid];
    for (int t = 1; t < 16; ++t) op.merge(s, merged[t][tid]);
    const int64_t lane = lane0 + tid;
    if (lane < n_lanes) partial[(n * chunks + chunk) * n_lanes + lane] = s;
  }
}

// Merges the chunks' states of every (image, lane) in chunk order and lets
// the Op write its outputs.
template <typename Op>
__global__ void sweep_finish_kernel(const typename Op::State* __restrict__ partial, int64_t N, int64_t chunks,
                                    int64_t n_lanes, Op op) {
  DCSR_GRID_STRIDE_LOOP(e, N * n_lanes) {
    const int64_t n = e / n_lanes, lane = e % n_lanes;
    typename Op::State s = partial[n * chunks * n_lanes + lane];
    for (int64_t c = 1; c < chunks; ++c) op.merge(s, partial[(n * chunks + c) * n_lanes + lane]);
    op.finish(s, n, lane);
  }
}

// Blocks of sweep_kernel<Op> that run at once on the whole device (asked
// once per Op): the "slots" one wave of blocks fills.
template <typename Op>
int64_t resident_blocks() {
  static const int64_t slots = [] {
    int per_sm = 0;
    DCSR_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, sweep_kernel<Op>, kThreads, 0));
    return std::max<int64_t>(1, per_sm) * multiprocessors();
  }();
  return slots;
}

// How many consecutive row ranges ("chunks") to cut the rows into. Every
// block does `tiles_per_chunk` row tiles, and the blocks run in waves of
// `slots`, so the sweep takes about waves * tiles_per_chunk tile-times:
// this picks the chunk count that minimises it (plus a quarter tile per
// wave for a block's start and its state write; ties go to fewer chunks),
// within the workspace that holds one state per (chunk, image, lane).
// Example, the 4K inference tile's matching (one image, 216 lane tiles, 242
// row tiles, 264 slots on an H200): 2 chunks (the rule before, "two blocks
// per SM") make 432 blocks, 1.64 waves run as 2; 11 chunks make 2376 blocks,
// exactly 9 waves.
struct ChunkPlan {
  int64_t chunks = 1, tiles_per_chunk = 1;
};

inline ChunkPlan plan_chunks(int64_t lane_tiles, int64_t N, int64_t row_tiles, int64_t slots, int64_t state_bytes,
                             int64_t workspace_bytes) {
  ChunkPlan best{1, row_tiles};
  double best_cost = -1.0;
  int64_t last_tpc = -1;
  for (int64_t want = 1; want <= std::min<int64_t>(row_tiles, 65535); ++want) {
    const int64_t tpc = (row_tiles + want - 1) / want, chunks = (row_tiles + tpc - 1) / tpc;
    if (tpc == last_tpc) continue;  // the same plan as the previous count
    last_tpc = tpc;
    if (chunks > 1 && chunks * state_bytes > workspace_bytes) break;  // more chunks only need more
    const int64_t waves = (lane_tiles * N * chunks + slots - 1) / slots;
    const double cost = double(waves) * (double(tpc) + 0.25);
    if (best_cost < 0.0 || cost < best_cost) best = {chunks, tpc}, best_cost = cost;
  }
  return best;
}

// Runs the sweep for N images: rows (N, D, n_rows), lanes (N, D, n_lanes),
// both contiguous. The partial states (N x chunks x n_lanes of them) come
// from the caching pool and stay within workspace_bytes when more than one
// chunk is used.
template <typename Op>
void run(const float* rows, int64_t n_rows, const float* lanes, int64_t n_lanes, int64_t D, int64_t N,
         int64_t workspace_bytes, const Op& op) {
  if (N == 0 || n_lanes == 0) return;
  using State = typename Op::State;
  const int64_t lane_tiles = (n_lanes + kTile - 1) / kTile;
  const int64_t row_tiles = std::max<int64_t>(1, (n_rows + kTile - 1) / kTile);
  const int64_t state_bytes = N * n_lanes * int64_t(sizeof(State));
  const ChunkPlan plan = plan_chunks(lane_tiles, N, row_tiles, resident_blocks<Op>(), state_bytes, workspace_bytes);
  const int64_t chunks = plan.chunks, tiles_per_chunk = plan.tiles_per_chunk;
  DCSR_CHECK(N <= 65535 && chunks <= 65535, "dot sweep: ", N, " images in one launch exceed the grid");
  Tensor workspace = empty({(N * chunks * n_lanes * int64_t(sizeof(State)) + 7) / 8}, kFloat64, Device::CUDA);
  State* partial = reinterpret_cast<State*>(workspace.raw_data());
  const dim3 grid{unsigned(lane_tiles), unsigned(chunks), unsigned(N)};
  sweep_kernel<Op><<<grid, kThreads>>>(rows, n_rows, lanes, n_lanes, D, tiles_per_chunk * kTile, chunks, partial, op);
  DCSR_CUDA_CHECK_LAUNCH();
  sweep_finish_kernel<Op><<<grid_for(N * n_lanes), kBlock>>>(partial, N, chunks, n_lanes, op);
  DCSR_CUDA_CHECK_LAUNCH();
}

}  // namespace dcsr::kernels::cuda::sweep
