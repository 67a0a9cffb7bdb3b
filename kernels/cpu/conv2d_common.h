// Shared by the CPU conv2d files: the geometry of a convolution, how its
// output columns are cut into per-thread chunks, and the float32 AVX-512 fast
// paths (conv2d_avx512.cpp) that conv2d.cpp tries first.
#pragma once
#include <algorithm>
#include <cstdint>

#include "kernels/cpu/im2col.h"
#include "kernels/cpu/packed_gemm.h"
#include "kernels/cpu/parallel_jobs.h"
#include "tensor/tensor.h"

namespace dcsr::kernels::cpu {

// Scratch per thread for one column chunk. Measured on 64->64 3x3 convs:
// anything from 0.5 to 8 MB runs at the same speed; 1 MB stays in L2.
constexpr int64_t kChunkBytes = int64_t(1) << 20;

struct ConvShape {
  int64_t N, Cin, H, W, Cout, k, stride, pad, groups, Ho, Wo;

  int64_t cin_g() const { return Cin / groups; }
  int64_t cout_g() const { return Cout / groups; }
  int64_t K() const { return cin_g() * k * k; }  // rows of one group's column matrix
  int64_t P() const { return Ho * Wo; }          // its columns
  int64_t images() const { return N * groups; }  // independent (image, group) column matrices
  Im2colGeometry geometry() const { return {cin_g(), H, W, k, stride, pad, Ho, Wo}; }
  bool pointwise() const { return k == 1 && stride == 1 && pad == 0; }
  bool depthwise() const { return cin_g() == 1 && cout_g() == 1; }
  int64_t flops() const { return 2 * N * Cout * P() * K(); }  // multiply-adds of the forward pass, times 2
};

inline ConvShape conv_shape(const Tensor& x, const Tensor& weight, int64_t stride, int64_t pad, int64_t groups,
                            int64_t Ho, int64_t Wo) {
  return {x.size(0), x.size(1), x.size(2), x.size(3), weight.size(0), weight.size(2), stride, pad, groups, Ho, Wo};
}

// How the columns of every (image, group) are cut into jobs.
struct ChunkPlan {
  int64_t chunk = 1;      // columns per job
  int64_t per_image = 1;  // jobs per (image, group)
  int64_t jobs = 1;
  int workers = 1;
  int64_t first(int64_t job) const { return (job % per_image) * chunk; }  // the job's first column
};

// Chunks of at most kChunkBytes and at most limit / threads of scratch each
// (at least one column), and enough of them to give every thread work.
// `work`: the operations of all chunks together (see job_workers).
inline ChunkPlan plan_columns(int64_t images, int64_t P, int64_t bytes_per_column, int64_t limit, int64_t work) {
  const int threads = job_workers(images * P, work);
  const int64_t most = std::min(kChunkBytes, limit / threads) / std::max<int64_t>(bytes_per_column, 1);
  ChunkPlan plan;
  plan.chunk = std::clamp<int64_t>(most, 1, std::max<int64_t>(P, 1));
  const int64_t wanted = (threads + images - 1) / images;  // jobs per image so that no thread idles
  if ((P + plan.chunk - 1) / plan.chunk < wanted) plan.chunk = (P + wanted - 1) / wanted;
  plan.chunk = std::max<int64_t>(plan.chunk, 1);
  plan.per_image = (P + plan.chunk - 1) / plan.chunk;
  plan.jobs = images * plan.per_image;
  plan.workers = job_workers(plan.jobs, work);
  return plan;
}

// The epilogue fused into the forward convolution (kernel_list.inc), over n
// output values v: v += residual (when given), then v = v > 0 ? v : slope * v
// (slope 1: no activation).
struct Epilogue {
  const void* residual = nullptr;  // same layout as the output, or null
  double slope = 1.0;
  // Where set (float32, the Winograd paths only: winograd_forward): the
  // output is not stored at y; its 2x2 max pool is, here, (N, Cout, Ho / 2,
  // Wo / 2), from each group's rows while they are in cache. No residual.
  void* pooled = nullptr;
  bool active() const { return residual || slope != 1.0; }
};

// `offset`: the position of v[0] in the whole output (where the residual is read).
template <typename T>
inline void apply_epilogue(T* v, int64_t n, int64_t offset, const Epilogue& e) {
  if (e.residual) {
    const T* r = static_cast<const T*>(e.residual) + offset;
    for (int64_t i = 0; i < n; ++i) v[i] += r[i];
  }
  if (e.slope != 1.0) {
    const T a = T(e.slope);
    for (int64_t i = 0; i < n; ++i) v[i] = v[i] > T(0) ? v[i] : a * v[i];
  }
}

#ifdef DCSR_PACKED_GEMM
// Float32 fast paths. Each returns false, having done nothing, where it does
// not apply or the workspace limit cannot hold its smallest chunk; the
// caller then takes the generic gemm_raw path.
//   forward:  y = epilogue(conv(x, w) + b) (b may be null; see Epilogue),
//             dense or grouped;
//   backward_weight: grad_w (Cout x K per group) overwritten.
bool forward_avx512(const ConvShape& s, const float* x, const float* w, const float* b, float* y, int64_t limit,
                    const Epilogue& epilogue);
bool backward_weight_avx512(const ConvShape& s, const float* gy, const float* x, float* gw, int64_t limit);
#endif

}  // namespace dcsr::kernels::cpu
