// All pairwise dot products of two column sets, swept in register blocks with
// a reduction applied to each block as it is produced (the matching's running
// max/argmax, the contextual loss's row and column statistics), so the full
// rows x lanes matrix never exists.
//
// Why not gemm_raw: a tie rule needs identical columns to give bit-identical
// dot products wherever they sit. Eigen's GEMM does not promise that (edge
// micro-tiles take other code paths): on random 144-D data, about 1 in 600
// dot products of a duplicated key differed from its twin in the last bit,
// enough to make torch.max's "first index" rule pick another key. Here every
// dot product is the same chain acc += a[d] * b[d], d = 0..D-1, from
// zero-padded panels, whatever its position, block size or thread count.
//
// (The chain is fused multiply-adds when the compiler contracts a * b + c, as
// GCC does by default for C++; either way it is the same for every element.)
//
// Layout: both operands are (D, n) row-major (column = one vector), as the
// (N, D, L) descriptor tensors store them. "Lanes" (the columns a reduction
// state belongs to) go along SIMD lanes, W per panel; "rows" are broadcast, R
// per panel. Each lane sees the rows in increasing order, so a strict
// comparison keeps the first index.
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/cpu_common.h"

namespace dcsr::kernels::cpu::dot {

// SIMD vectors through GCC's vector extensions (the compiler maps them to
// the widest registers of the target), and the integer vector a comparison
// yields. The register block is sized to the register file: 6 rows x 4
// vectors = 24 accumulators of the 32 AVX-512 registers; 6 x 2 = 12 of the
// 16 AVX2 ones, or of the 16 SSE ones where the compiler may use no AVX (the
// x86-64 baseline, DCSR_NATIVE=OFF): a 32-byte vector type there is two
// registers, and GCC warns (-Wpsabi) that passing one changes the ABI.
#if defined(__AVX512F__)
constexpr int kVectorBytes = 64;
constexpr int kVecs = 4;
#elif defined(__AVX__)
constexpr int kVectorBytes = 32;
constexpr int kVecs = 2;
#else
constexpr int kVectorBytes = 16;
constexpr int kVecs = 2;
#endif
constexpr int kRows = 6;  // rows per register block

template <typename T>
struct Simd;
template <>
struct Simd<float> {
  typedef float Vec __attribute__((vector_size(kVectorBytes)));
  typedef int32_t Mask __attribute__((vector_size(kVectorBytes)));
  using Index = int32_t;  // argmax lanes: same width as the value lanes
};
template <>
struct Simd<double> {
  typedef double Vec __attribute__((vector_size(kVectorBytes)));
  typedef int64_t Mask __attribute__((vector_size(kVectorBytes)));
  using Index = int64_t;
};

template <typename T>
using Vec = typename Simd<T>::Vec;
template <typename T>
using Mask = typename Simd<T>::Mask;
template <typename T>
using Index = typename Simd<T>::Index;

template <typename T>
constexpr int kLanes = int(kVectorBytes / sizeof(T));  // values per vector
template <typename T>
constexpr int kWidth = kVecs * kLanes<T>;  // lanes per register block

template <typename T>
using Block = Vec<T>[kRows][kVecs];

template <typename T>
inline Vec<T> load(const T* p) {  // p is vector-aligned (panels and states are)
  return *reinterpret_cast<const Vec<T>*>(p);
}
template <typename T>
inline void store(T* p, const Vec<T>& v) {
  *reinterpret_cast<Vec<T>*>(p) = v;
}
template <typename T>
inline Vec<T> splat(T x) {
  return Vec<T>{} + x;
}

inline int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// Copies columns [c0, c0 + count) of src (D, ld) into panels of `width`
// columns, [panel][d][width], zero-padding the last panel. dst holds
// round_up(count, width) * D elements.
template <typename T>
void pack(const T* src, int64_t ld, int64_t c0, int64_t count, int64_t D, int width, T* dst) {
  for (int64_t p0 = 0; p0 < count; p0 += width) {
    const int64_t n = std::min<int64_t>(width, count - p0);
    T* panel = dst + p0 * D;
    for (int64_t d = 0; d < D; ++d) {
      T* row = panel + d * width;
      std::memcpy(row, src + d * ld + c0 + p0, size_t(n) * sizeof(T));
      std::fill(row + n, row + width, T(0));
    }
  }
}

// acc[r][v] lane l = sum_d a[d][r] * b[d][v * L + l] for one panel of each.
template <typename T>
inline void dot_block(const T* a, const T* b, int64_t D, Block<T>& acc) {
  for (int r = 0; r < kRows; ++r)
    for (int v = 0; v < kVecs; ++v) acc[r][v] = Vec<T>{};
  for (int64_t d = 0; d < D; ++d) {
    const T* bd = b + d * kWidth<T>;
    Vec<T> bv[kVecs];
    for (int v = 0; v < kVecs; ++v) bv[v] = load(bd + v * kLanes<T>);
    const T* ad = a + d * kRows;
#pragma GCC unroll 6
    for (int r = 0; r < kRows; ++r) {
      const T x = ad[r];
#pragma GCC unroll 4
      for (int v = 0; v < kVecs; ++v) acc[r][v] += x * bv[v];  // one FMA each where contracted (GCC's default)
    }
  }
}

// Block sizes of a sweep: lanes per job, rows per packed row block, and the
// per-thread scratch a job may keep (scratch_per_lane elements per lane of
// the job). Extra memory per thread = D * (lane_block + row_block) +
// lane_block * scratch_per_lane elements, shrunk until all threads fit in
// `budget_bytes` (never below one panel of each; fits() says whether that was
// enough).
struct Blocking {
  int64_t lane_block = 0, row_block = 0, threads = 1, scratch_per_lane = 0;
  bool fits = true;
};

// Elements of one thread's buffers, rounded so every slice stays vector-aligned.
template <typename T>
int64_t slice_elements(const Blocking& b, int64_t D) {
  return round_up(D * (b.lane_block + b.row_block) + b.lane_block * b.scratch_per_lane, kLanes<T>);
}

template <typename T>
Blocking choose_blocking(int64_t D, int64_t n_lanes, int64_t n_rows, int64_t budget_bytes,
                         int64_t scratch_per_lane = 0) {
  Blocking b;
  b.scratch_per_lane = scratch_per_lane;
  const int64_t W = kWidth<T>;
  const int64_t threads = std::max(1, omp_get_max_threads());
  // About two jobs per thread (handed out dynamically, so a thread that was
  // descheduled on a busy machine does not hold the others up), each of 256
  // to 1024 lanes (a 144-D query block of 1024 is 590 KB in float) or at most
  // 128 with scratch (a 128 x 4096 float tile is 2 MB: one L2), and row
  // blocks of 384 (221 KB: they stay in L2 while every lane panel of the job
  // streams over them).
  const int64_t most = scratch_per_lane > 0 ? 128 : 1024;
  b.lane_block = std::min<int64_t>(most, round_up((n_lanes + 2 * threads - 1) / (2 * threads), W));
  b.lane_block = std::max<int64_t>(std::min<int64_t>(256, round_up(n_lanes, W)), b.lane_block);
  b.lane_block = std::min(b.lane_block, round_up(most, W));
  b.lane_block = std::max(b.lane_block, W);  // no lanes at all (Nq = 0): one empty block, not 0
  b.row_block = std::max<int64_t>(kRows, std::min<int64_t>(384, round_up(n_rows, kRows)));
  // One thread per job at most (min(threads, jobs) threads run).
  auto bytes = [&] {
    b.threads = std::max<int64_t>(1, std::min(threads, (n_lanes + b.lane_block - 1) / b.lane_block));
    return b.threads * slice_elements<T>(b, D) * int64_t(sizeof(T));
  };
  while (bytes() > budget_bytes && (b.lane_block > W || b.row_block > kRows)) {
    if (b.lane_block > W && (b.lane_block >= b.row_block || scratch_per_lane > 0))
      b.lane_block = round_up(b.lane_block / 2, W);
    else b.row_block = round_up(b.row_block / 2, kRows);
  }
  b.fits = bytes() <= budget_bytes;
  return b;
}

// Elements of the buffers `sweep` needs for `blocking` (a multiple of the
// vector width, so what follows them in a buffer stays aligned).
template <typename T>
int64_t work_elements(const Blocking& b, int64_t D) {
  return b.threads * slice_elements<T>(b, D);
}

struct NoJobEnd {
  template <typename T>
  void operator()(int64_t, int64_t, T*) const {}
};

// Runs epi(acc, row0, rows_valid, lane0, scratch) for every (row panel, lane
// panel) pair of rows (D, n_rows; row stride ld_rows) and lanes (D, n_lanes;
// stride ld_lanes): rows in increasing order for each lane panel; then
// job_end(l0, nl, scratch) once the job of lanes [l0, l0 + nl) has seen every
// row. Jobs (lane blocks) run in parallel, handed out dynamically; a lane's
// state is only touched by its job, and `scratch` (lane_block *
// scratch_per_lane elements) belongs to the thread running the job. `work`
// holds work_elements<T>(blocking, D) elements, vector-aligned.
template <typename T, typename Epilogue, typename JobEnd = NoJobEnd>
void sweep(const T* rows, int64_t ld_rows, int64_t n_rows, const T* lanes, int64_t ld_lanes, int64_t n_lanes,
           int64_t D, const Blocking& blocking, T* work, Epilogue&& epi, JobEnd&& job_end = JobEnd{}) {
  const int64_t W = kWidth<T>;
  const int64_t lb = blocking.lane_block, rb = blocking.row_block;
  const int64_t jobs = (n_lanes + lb - 1) / lb;
  const int64_t per_thread = slice_elements<T>(blocking, D);
  auto run = [&](int64_t job, T* lane_pack) {
    // Lane panels, then the scratch (both stay vector-aligned: lb is a
    // multiple of the panel width), then the row panels (read as scalars).
    T* scratch = lane_pack + D * lb;
    T* row_pack = scratch + lb * blocking.scratch_per_lane;
    const int64_t l0 = job * lb, nl = std::min(lb, n_lanes - l0);
    pack(lanes, ld_lanes, l0, nl, D, int(W), lane_pack);
    for (int64_t r0 = 0; r0 < n_rows; r0 += rb) {
      const int64_t nr = std::min(rb, n_rows - r0);
      pack(rows, ld_rows, r0, nr, D, kRows, row_pack);
      for (int64_t lp = 0; lp < nl; lp += W) {
        const T* lane_panel = lane_pack + lp * D;
        for (int64_t rp = 0; rp < nr; rp += kRows) {
          Block<T> acc;
          dot_block(row_pack + rp * D, lane_panel, D, acc);
          epi(acc, r0 + rp, int(std::min<int64_t>(kRows, nr - rp)), l0 + lp, scratch);
        }
      }
    }
    job_end(l0, nl, scratch);
  };
  if (blocking.threads <= 1 || omp_in_parallel()) {
    for (int64_t job = 0; job < jobs; ++job) run(job, work);
    return;
  }
#pragma omp parallel num_threads(int(blocking.threads))
  {
    T* lane_pack = work + int64_t(omp_get_thread_num()) * per_thread;
#pragma omp for schedule(dynamic, 1)
    for (int64_t job = 0; job < jobs; ++job) run(job, lane_pack);
  }
}

}  // namespace dcsr::kernels::cpu::dot
