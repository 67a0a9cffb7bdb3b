// Exact patch matching on the GPU from the feature maps (issue 18; the device
// twin of kernels/cpu/max_cosine_patches.h): the max and FIRST argmax over
// keys of every query's cosine, bit-identical to the float32 descriptor sweep
// of max_cosine.cu. Taken when DCSR_CUDA_MATCH=map (runtime/switches.h) and
// the descriptors come with their maps (patch_max_cosine). Not yet timed on a
// GPU: the default stays the float32 sweep.
//
// Why. A descriptor is the 3x3 window of a C-channel map (reflection padding
// 1), so the dot product of query patch (y, x) and key patch (v, u) is a sum
// of nine pixel products,
//   dot = sum over a, b in 0..2 of P[y + a, v + a](x + b, u + b),
//   P[Y, V](X, U) = Fq(:, Y, X) . Fk(:, V, U)   (padded coordinates),
// and each pixel product serves the nine pairs of patches holding both pixels
// at one offset: about C multiply-adds a pair instead of 9C. The float32
// sweep spends 144 a pair on the model's 16 channels; here the products are
// TF32 tensor-core work and a pair costs three shared-memory reads.
//
// The sweep (map_candidate_sweep). A block owns kBand query rows y0 .. y0 + 3
// and kQueryCols query columns x0 .. x0 + 61, and walks every diagonal d =
// v - y of a contiguous range (the grid's y cuts the diagonals into chunks)
// and every run of kKeyCols key columns u0 .. u0 + 29:
//   1. the six padded key rows y0 + d .. y0 + d + 5, columns u0 .. u0 + 31,
//      channels-last, are staged in shared memory (loaded during the
//      previous step);
//   2. for each of the six row pairs (Y, Y + d), P (32 key pixels x 64 query
//      pixels) on tensor cores: warp w takes query pixels 8w .. 8w + 7 (its
//      TF32 query fragments sit in registers for the whole block), two
//      m16n8k8 tiles of keys, two steps of 8 channels;
//   3. R_y = P[y] + P[y + 1] + P[y + 2] is summed in the same registers as
//      the row pairs arrive (a window of three), written to shared memory
//      (two buffers), and query row y's score against key u is
//      s = R_y(x, u) + R_y(x + 1, u + 1) + R_y(x + 2, u + 2), times the two
//      patches' reciprocal norms: a(i, j) = (s * ik_j) * iq_i;
//   4. thread (x, part) keeps query (y, x)'s candidates among keys 8 part ..
//      8 part + 7 of the run (candidate_slots.cuh), one list per band row.
// The lists go to exact_match.cu's resolve step: every key within the
// query's gap of its best approximate score is re-scored with the float32
// sweep's chain, and the first strict maximum in key order wins.
//
// The bound (the CPU's, max_cosine_patches.cpp, with TF32 products). For
// query i and key j: F_i, F_j the patches (9C padded map values), n their
// norms (double), q_i, k_j the descriptor columns the float32 sweep reads,
// t = F_i . F_j / (n_i n_j), f the sweep's value. Then
//   |f - q.k|  <= gamma(D, u) |q_i| |k_j|                (u = 2^-24)
//   |q.k - t|  <= r_i |k_j| + r_j                        (r = |q - F / n|)
//   |a - t|    <= A = E1 (1 + g4) + g4 + flush, with
//     E1 = (2 u_t + u_t^2) + gamma(16, 2^-22) (1 + u_t)^2
//          + gamma(4, u) (1 + gamma(16, 2^-22)) (1 + u_t)^2:
//     the pixels rounded to TF32 (u_t = 2^-10, to nearest or by truncation;
//     their products exact in float32), the tensor cores' float32
//     accumulation over 16 channels (perhaps truncating, any order: the
//     model max_cosine_tf32.cu uses), then at most four float32 additions
//     on any term's way through R and s, all relative to sum |x_p y_p| /
//     (n_i n_j) <= 1 (Cauchy-Schwarz over the 9C terms); g4 = gamma(4, u)
//     for the two multiplies by the rounded reciprocals; flush for inputs
//     and products the tensor cores may flush below float32's normal range
//     (at most 9 x 16 of them, each off by 2^-126 times at most 1 + 1e15,
//     over n_i n_j >= 1e-12: under 2e-9).
// So |a - f| <= E_i, and with gap_i = 2 E_i (1 + 1e-5), rounded up to a
// float, every key within gap_i of the query's best approximate score is a
// candidate: the float32 argmax, and any key that ties it exactly, is among
// them. At about 4e-3 this is TF32's bound (max_cosine_tf32.cu measured what
// share of real queries it settles).
#include "kernels/cuda/max_cosine_map.h"

#include <algorithm>
#include <cfloat>
#include <cmath>

#include "kernels/cuda/candidate_slots.cuh"
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/mma_tf32.cuh"
#include "kernels/cuda/tf32_match_bound.cuh"
#include "kernels/reflect_index.h"

namespace dcsr::kernels::cuda {

namespace {

ExactMatchCounters g_counters;

constexpr int kMapThreads = 256;
constexpr int kBand = 4;                        // query rows a block matches
constexpr int kRowPairs = kBand + 2;            // padded rows their windows reach
constexpr int kQueryPixels = 64;                // padded query columns a block reads (8 warps x 8)
constexpr int kQueryCols = kQueryPixels - 2;    // query columns it matches
constexpr int kKeyPixels = 32;                  // padded key columns a step reads (two m16 tiles)
constexpr int kKeyCols = kKeyPixels - 2;        // keys of a row a step scores
constexpr int kChannels = 16;                   // channels, zero past C (two k8 steps)
constexpr int kPixelStride = kChannels + 4;     // shared floats a key pixel: fragment loads hit 32 banks
constexpr int kRStride = kKeyPixels + 1;        // shared row of R: the scoring's loads hit 32 banks
constexpr int kKeysPerThread = 8;               // keys of a run a thread scores (4 parts x 8 >= 30)
constexpr int kStageLoads = kRowPairs * kKeyPixels * (kChannels / 4) / kMapThreads;  // uint4 a thread stages
static_assert(kStageLoads * kMapThreads == kRowPairs * kKeyPixels * (kChannels / 4), "staging covers the rows");
static_assert(4 * kKeysPerThread >= kKeyCols, "four parts cover a run");

// out[(V * (W + 2) + U) * 16 + c] = TF32 of map[c][reflect_pad1(V)][reflect_pad1(U)]
// (0 for c >= C): a (C, H, W) map padded and channels-last.
__global__ void pad_channels_last_kernel(const float* map, int64_t C, int64_t H, int64_t W, uint32_t* out) {
  DCSR_GRID_STRIDE_LOOP(e, (H + 2) * (W + 2) * kChannels) {
    const int64_t c = e % kChannels, p = e / kChannels, U = p % (W + 2), V = p / (W + 2);
    out[e] = c < C ? to_tf32(map[(c * H + reflect_pad1(V, H)) * W + reflect_pad1(U, W)]) : 0u;
  }
}

// Per patch (y, x) of a (C, H, W) map and its descriptor column (cols: (9C,
// H W), rows c * 9 + ky * 3 + kx): inv_norm = 1 / n (float; 0 where n = 0),
// column_norm = |column| and residual = |column - F / n| (double, rounded
// up). flags[0] = 1 where a norm is not finite or, nonzero, outside [1e-6, 1e15].
__global__ void patch_sides_kernel(const float* map, int64_t C, int64_t H, int64_t W, const float* cols,
                                   float* inv_norm, double* column_norm, double* residual, int* flags) {
  const int64_t L = H * W;
  DCSR_GRID_STRIDE_LOOP(i, L) {
    const int64_t y = i / W, x = i % W;
    double sq = 0.0;
    for (int64_t c = 0; c < C; ++c)
      for (int64_t ky = 0; ky < 3; ++ky)
        for (int64_t kx = 0; kx < 3; ++kx) {
          const double v = map[(c * H + reflect_pad1(y + ky, H)) * W + reflect_pad1(x + kx, W)];
          sq += v * v;
        }
    const double n = sqrt(sq);
    double colsq = 0.0, res = 0.0;
    for (int64_t c = 0; c < C; ++c)
      for (int64_t ky = 0; ky < 3; ++ky)
        for (int64_t kx = 0; kx < 3; ++kx) {
          const double f = map[(c * H + reflect_pad1(y + ky, H)) * W + reflect_pad1(x + kx, W)];
          const double v = cols[(c * 9 + ky * 3 + kx) * L + i];
          const double e = n > 0 ? v - f / n : v;
          colsq += v * v;
          res += e * e;
        }
    column_norm[i] = sqrt(colsq) * (1 + 1e-12);
    residual[i] = sqrt(res) * (1 + 1e-12);
    inv_norm[i] = n > 0 ? float(1.0 / n) : 0.0f;
    // (n and the column norm are at least 0: finite exactly when at most DBL_MAX, which NaN is not)
    if (!(n <= DBL_MAX) || (n != 0 && (n < 1e-6 || n > 1e15)) || !(column_norm[i] <= DBL_MAX)) flags[0] = 1;
  }
}

// gap[i] = 2 E_i (1 + 1e-5), rounded up to a float (the header's bound);
// maxima = {largest key column norm, largest key residual}.
__global__ void gaps_kernel(const double* column_norm, const double* residual, int64_t Nq, const double* key_norm_max,
                            const double* key_residual_max, double gamma_d, double approx, float* gap) {
  DCSR_GRID_STRIDE_LOOP(i, Nq) {
    const double K = key_norm_max[0];
    const double e = gamma_d * column_norm[i] * K + residual[i] * K + key_residual_max[0] + approx;
    const double t = 2 * e * (1 + 1e-5);
    float g = float(t);
    if (double(g) < t) g = nextafterf(g, INFINITY);
    gap[i] = g;
  }
}

struct MapSweepArgs {
  const uint32_t* query_map;  // (Hq + 2, Wq + 2, 16) TF32, pad_channels_last_kernel
  const uint32_t* key_map;    // (Hk + 2, Wk + 2, 16)
  const float* query_inv_norm;
  const float* key_inv_norm;
  const float* gap;
  int64_t Hq, Wq, Hk, Wk;
  int64_t column_blocks;      // blocks across the query columns
  int64_t diagonals_per_chunk;
  CandidateBuffers lists;     // per query i (of the image) and group 4 * chunk + part
};

// grid = (bands x column blocks, diagonal chunks); block = 256 (the header's sweep).
__global__ void __launch_bounds__(kMapThreads) map_candidate_sweep(MapSweepArgs args) {
  __shared__ __align__(16) uint32_t key_rows[kRowPairs][kKeyPixels][kPixelStride];
  __shared__ float row_sums[2][kQueryPixels][kRStride];  // R_y[X][U], two buffers
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;
  const int64_t Hq = args.Hq, Wq = args.Wq, Hk = args.Hk, Wk = args.Wk;
  const int64_t y0 = int64_t(blockIdx.x) / args.column_blocks * kBand;
  const int64_t x0 = int64_t(blockIdx.x) % args.column_blocks * kQueryCols;
  const int64_t chunk = blockIdx.y;
  const int64_t d_begin = -(y0 + kBand - 1) + chunk * args.diagonals_per_chunk;
  const int64_t d_last = d_begin + args.diagonals_per_chunk;  // past the chunk's last diagonal
  const int64_t d_end = Hk - y0 < d_last ? Hk - y0 : d_last;    // and d <= Hk - 1 - y0
  const int64_t key_runs = (Wk + kKeyCols - 1) / kKeyCols;
  const int64_t steps = d_end > d_begin ? (d_end - d_begin) * key_runs : 0;

  // The warp's query fragments (B of the mma: k = channel, n = query pixel
  // 8 warp + g), for every row pair and both channel steps.
  uint32_t query_frag[kRowPairs][2][2];
  {
    const int64_t X = x0 + 8 * warp + g;
#pragma unroll
    for (int a = 0; a < kRowPairs; ++a) {
      const int64_t Y = y0 + a;
      const bool inside = Y < Hq + 2 && X < Wq + 2;
      const uint32_t* pixel = args.query_map + (Y * (Wq + 2) + X) * kChannels;
#pragma unroll
      for (int ks = 0; ks < 2; ++ks) {
        query_frag[a][ks][0] = inside ? pixel[8 * ks + t] : 0u;
        query_frag[a][ks][1] = inside ? pixel[8 * ks + t + 4] : 0u;
      }
    }
  }
  // This thread's queries (y0 + r, x0 + x), r < kBand, and its keys 8 part .. 8 part + 7 of each run.
  const int x = 32 * (warp & 1) + lane, part = warp >> 1;
  CandidateList list[kBand];
  float inv_q[kBand], margin[kBand];
  bool live[kBand];
#pragma unroll
  for (int r = 0; r < kBand; ++r) {
    live[r] = x < kQueryCols && x0 + x < Wq && y0 + r < Hq;
    const int64_t i = (y0 + r) * Wq + x0 + x;
    inv_q[r] = live[r] ? args.query_inv_norm[i] : 0.0f;
    margin[r] = live[r] ? 1.01f * args.gap[i] : 0.0f;
    list[r].clear();
  }

  // Staging: this thread's uint4 m of a step is slot e = tid + 256 m: row pair e / 128, key pixel
  // (e % 128) / 4, channels 4 (e % 4) .. 4 (e % 4) + 3.
  struct StageSlot {
    int a, U, c4;
  };
  auto stage_slot = [&](int m) {
    const int e = tid + kMapThreads * m;
    return StageSlot{e / (kKeyPixels * 4), e % (kKeyPixels * 4) / 4, e % 4};
  };
  uint4 staged[kStageLoads];
  auto load_step = [&](int64_t step) {
    const int64_t d = d_begin + step / key_runs, u0 = step % key_runs * kKeyCols;
#pragma unroll
    for (int m = 0; m < kStageLoads; ++m) {
      const StageSlot slot = stage_slot(m);
      const int64_t V = y0 + slot.a + d, col = u0 + slot.U;
      staged[m] = (V >= 0 && V < Hk + 2 && col < Wk + 2)
                      ? reinterpret_cast<const uint4*>(args.key_map + (V * (Wk + 2) + col) * kChannels)[slot.c4]
                      : make_uint4(0u, 0u, 0u, 0u);
    }
  };
  auto store_step = [&]() {
#pragma unroll
    for (int m = 0; m < kStageLoads; ++m) {
      const StageSlot slot = stage_slot(m);
      *reinterpret_cast<uint4*>(&key_rows[slot.a][slot.U][4 * slot.c4]) = staged[m];
    }
  };

  if (steps > 0) load_step(0);
  for (int64_t step = 0; step < steps; ++step) {
    const int64_t d = d_begin + step / key_runs, u0 = step % key_runs * kKeyCols;
    // Every thread has passed the last barrier of the step before, after its last read of key_rows.
    store_step();
    if (step + 1 < steps) load_step(step + 1);
    __syncthreads();
    // P of row pair a for this warp's 8 query pixels: p[mt][2 h + c] = P(key pixel 16 mt + g + 8 h,
    // query pixel 8 warp + 2 t + c). window[0]: the band row a - 1's R so far; window[1]: row a's.
    float window[2][2][4] = {};
#pragma unroll
    for (int a = 0; a < kRowPairs; ++a) {
      float p[2][4];
#pragma unroll
      for (int mt = 0; mt < 2; ++mt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) p[mt][e] = 0.0f;
#pragma unroll
        for (int ks = 0; ks < 2; ++ks) {
          const int U = 16 * mt + g, c = 8 * ks + t;
          const uint32_t fa[4] = {key_rows[a][U][c], key_rows[a][U + 8][c], key_rows[a][U][c + 4],
                                  key_rows[a][U + 8][c + 4]};
          mma_tf32_m16n8k8(p[mt], fa, query_frag[a][ks]);
        }
      }
      if (a >= 2) {  // band row a - 2 is complete: write it, then score it
        float(*R)[kRStride] = row_sums[a & 1];
#pragma unroll
        for (int mt = 0; mt < 2; ++mt)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int U = 16 * mt + g + 8 * (e >> 1), X = 8 * warp + 2 * t + (e & 1);
            R[X][U] = window[0][mt][e] + p[mt][e];
          }
        __syncthreads();
        const int r = a - 2;
        const int64_t v = y0 + r + d;
        if (live[r] && v >= 0 && v < Hk) {
#pragma unroll
          for (int jj = 0; jj < kKeysPerThread; ++jj) {
            const int u = kKeysPerThread * part + jj;
            if (u < kKeyCols && u0 + u < Wk) {
              const float s = R[x][u] + R[x + 1][u + 1] + R[x + 2][u + 2];
              const int64_t key = v * Wk + u0 + u;
              list[r].offer(int(key), (s * args.key_inv_norm[key]) * inv_q[r], margin[r]);
            }
          }
        }
      }
#pragma unroll
      for (int mt = 0; mt < 2; ++mt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          window[0][mt][e] = a >= 1 ? window[1][mt][e] + p[mt][e] : 0.0f;
          window[1][mt][e] = p[mt][e];
        }
    }
  }
  const int64_t groups = args.lists.groups, group = 4 * chunk + part;
#pragma unroll
  for (int r = 0; r < kBand; ++r)
    if (live[r])
      list[r].store(((y0 + r) * Wq + x0 + x) * groups + group, args.lists.best, args.lists.dropped,
                    args.lists.slot_keys, args.lists.slot_scores);
}

// The bound's A (the header), for C <= 16 channels.
double approx_bound() {
  const double u = 1.0 / 16777216.0, ut = 1.0 / 1024.0;
  const double c16 = gamma_n(16, 1.0 / 4194304.0), g4 = gamma_n(4, u);
  const double e1 = (2 * ut + ut * ut) + c16 * (1 + ut) * (1 + ut) + g4 * (1 + c16) * (1 + ut) * (1 + ut);
  const double flush = 9.0 * kChannels * std::ldexp(1.0, -126) * (1 + 1e15) / 1e-12;
  return (e1 * (1 + g4) + g4) * (1 + 1e-12) + flush + 1e-30;
}

}  // namespace

cuda_paths::ExactMatchStats map_match_stats() { return g_counters.stats(); }
void reset_map_match_stats() { g_counters.reset(); }

void max_cosine_map(const Tensor& query_feats, const Tensor& key_feats, const Tensor& q, const Tensor& k,
                    Tensor& confidence, Tensor& index, int64_t workspace_bytes, const Float32Sweep& float32_sweep) {
  const int64_t N = q.size(0), D = q.size(1), Nq = q.size(2), Nk = k.size(2);
  const int64_t C = query_feats.size(1), Hq = query_feats.size(2), Wq = query_feats.size(3);
  const int64_t Hk = key_feats.size(2), Wk = key_feats.size(3);
  if (Nq == 0) return;
  // The sweep's grid: bands of 4 rows x blocks of 62 columns, and the
  // diagonals cut into chunks (at most 8) so that the blocks fill about two waves.
  const int64_t column_blocks = (Wq + kQueryCols - 1) / kQueryCols, bands = (Hq + kBand - 1) / kBand;
  const int64_t tiles = bands * column_blocks, diagonals = Hk + kBand - 1;
  const int64_t wanted = std::clamp<int64_t>((2 * multiprocessors() + tiles - 1) / tiles, 1, 8);
  const int64_t per_chunk = (diagonals + wanted - 1) / wanted, chunks = (diagonals + per_chunk - 1) / per_chunk;
  const int64_t groups = 4 * chunks;
  const int64_t scratch_bytes = Nq * groups * (2 + 2 * kCandidateSlots) * 4 +
                                ((Hq + 2) * (Wq + 2) + (Hk + 2) * (Wk + 2)) * kChannels * 4 + (Nq + Nk) * 24 + Nq * 12;
  const bool fits = C >= 1 && C <= kChannels && D == 9 * C && Hq >= 2 && Wq >= 2 && Hk >= 2 && Wk >= 2 &&
                    Nk <= INT32_MAX && tiles <= INT32_MAX && scratch_bytes <= workspace_bytes && tf32_tensor_cores();
  if (!fits) {
    for (int64_t n = 0; n < N; ++n)
      float32_sweep(q.data<float>() + n * D * Nq, k.data<float>() + n * D * Nk, Nq, Nk,
                    confidence.data<float>() + n * Nq, index.data<int64_t>() + n * Nq);
    g_counters.declined += N;
    g_counters.fallbacks += N * Nq;
    return;
  }
  Tensor holders[12], list_holders[4];
  uint32_t* query_map = device_scratch<uint32_t>(holders[0], (Hq + 2) * (Wq + 2) * kChannels);
  uint32_t* key_map = device_scratch<uint32_t>(holders[1], (Hk + 2) * (Wk + 2) * kChannels);
  float* q_inv = device_scratch<float>(holders[2], Nq);
  float* k_inv = device_scratch<float>(holders[3], Nk);
  double* q_column = device_scratch<double>(holders[4], Nq);
  double* q_residual = device_scratch<double>(holders[5], Nq);
  double* k_column = device_scratch<double>(holders[6], Nk);
  double* k_residual = device_scratch<double>(holders[7], Nk);
  double* k_column_max = device_scratch<double>(holders[8], 1);
  double* k_residual_max = device_scratch<double>(holders[9], 1);
  float* gap = device_scratch<float>(holders[10], Nq);
  const CandidateBuffers lists = candidate_buffers(Nq, groups, list_holders);
  ExactResolve resolve(Nq);
  const double gamma_d = gamma_n(double(D), 1.0 / 16777216.0), approx = approx_bound();
  for (int64_t n = 0; n < N; ++n) {
    const float* fq = query_feats.data<float>() + n * C * Hq * Wq;
    const float* fk = key_feats.data<float>() + n * C * Hk * Wk;
    const float* qn = q.data<float>() + n * D * Nq;
    const float* kn = k.data<float>() + n * D * Nk;
    float* conf = confidence.data<float>() + n * Nq;
    int64_t* idx = index.data<int64_t>() + n * Nq;
    resolve.begin_image();
    patch_sides_kernel<<<grid_for(Nq), kBlock>>>(fq, C, Hq, Wq, qn, q_inv, q_column, q_residual, resolve.flags());
    DCSR_CUDA_CHECK_LAUNCH();
    patch_sides_kernel<<<grid_for(Nk), kBlock>>>(fk, C, Hk, Wk, kn, k_inv, k_column, k_residual, resolve.flags());
    DCSR_CUDA_CHECK_LAUNCH();
    int flagged = 0;
    DCSR_CUDA_CHECK(cudaMemcpy(&flagged, resolve.flags(), sizeof(int), cudaMemcpyDeviceToHost));
    if (flagged) {  // the bound's relative terms need normal, finite norms: the float32 sweep decides
      float32_sweep(qn, kn, Nq, Nk, conf, idx);
      g_counters.declined += 1;
      g_counters.fallbacks += Nq;
      continue;
    }
    pad_channels_last_kernel<<<grid_for((Hq + 2) * (Wq + 2) * kChannels), kBlock>>>(fq, C, Hq, Wq, query_map);
    DCSR_CUDA_CHECK_LAUNCH();
    pad_channels_last_kernel<<<grid_for((Hk + 2) * (Wk + 2) * kChannels), kBlock>>>(fk, C, Hk, Wk, key_map);
    DCSR_CUDA_CHECK_LAUNCH();
    max_of(k_column, Nk, k_column_max);
    max_of(k_residual, Nk, k_residual_max);
    gaps_kernel<<<grid_for(Nq), kBlock>>>(q_column, q_residual, Nq, k_column_max, k_residual_max, gamma_d, approx,
                                          gap);
    DCSR_CUDA_CHECK_LAUNCH();
    const MapSweepArgs args{query_map, key_map, q_inv, k_inv, gap, Hq, Wq, Hk, Wk, column_blocks, per_chunk, lists};
    map_candidate_sweep<<<dim3(unsigned(tiles), unsigned(chunks)), kMapThreads>>>(args);
    DCSR_CUDA_CHECK_LAUNCH();
    resolve.resolve(qn, kn, D, Nq, Nk, 0, Nq, lists, QueryBounds{q_column, k_column_max, 0.0, gap}, conf, idx);
    resolve.finish_image(qn, kn, D, Nq, Nk, conf, idx, g_counters, float32_sweep);
  }
}

}  // namespace dcsr::kernels::cuda
