// CPU conv2d. Dense and grouped convolutions are im2col + GEMM over chunks of
// output columns: each thread builds the columns of its chunk in its own
// scratch slot (about 1 MB, so they are still in its L2 when its GEMM reads
// them) and multiplies them single-threaded. That keeps the scratch bounded
// by the workspace limit whatever the image size, and parallelises im2col and
// GEMM together. Depthwise convolutions (one input and one output channel per
// group) use direct loops instead: a GEMM with one row is all overhead.
//
// Float32 3x3 stride-1 convolutions (forward, the input gradient, which is a
// forward convolution, and the weight gradient) go first to Winograd
// (winograd.h) where its plan (winograd_plan.h) chooses it.
//
// Where the compiler targets AVX-512, float32 forward and weight-gradient
// convolutions go to the implicit GEMM of conv2d_avx512.cpp (no im2col at
// all, about 90% of the FMA peak), and the col2im path below multiplies with
// the packed kernels of packed_gemm.h. float64 (gradchecks, goldens), other
// targets and workspace limits too small for those paths use this file's
// im2col + gemm_raw code.
//
// Special cases that skip im2col:
//   * 1x1, stride 1, no padding: the input plane IS the column matrix (and its
//     input gradient is again such a conv);
//   * input gradient at stride 1: a forward convolution of grad_y with the
//     kernel flipped and in/out channels swapped, padding k-1-pad (the
//     transposed convolution of a stride-1 conv is a "full" correlation), so
//     there is no col2im and no scatter between threads.
#include <limits>
#include <type_traits>

#include "kernels/cpu/cpu_common.h"
#include "kernels/cpu/cpu_gemm.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/conv2d_common.h"
#include "kernels/cpu/im2col.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/winograd_plan.h"
#include "runtime/profiler.h"

namespace dcsr::kernels::cpu {

namespace {

// Sum of a[i] * b[i*stride] (b = null: of a[i]) over 16 partial sums, so
// the stride-1 loops vectorise without reassociation flags.
template <typename T>
T sum_lanes(const T* a, const T* b, int64_t n, int64_t stride) {
  constexpr int64_t kLanes = 16;
  T lanes[kLanes] = {};
  int64_t i = 0;
  if (stride == 1) {
    for (; i + kLanes <= n; i += kLanes)
      for (int64_t l = 0; l < kLanes; ++l) lanes[l] += a[i + l] * (b ? b[i + l] : T(1));
  }
  for (; i < n; ++i) lanes[i % kLanes] += a[i] * (b ? b[i * stride] : T(1));
  T total = 0;
  for (int64_t l = 0; l < kLanes; ++l) total += lanes[l];
  return total;
}

// ---------------------------------------------------------------- im2col + GEMM

// The column side shared by the forward and weight-gradient GEMMs: the chunk
// plan over (image, group) x column ranges, a scratch slot per worker, and
// the column matrix (K x len) of one job, built by im2col in the worker's
// slot, or for pointwise convolutions the input plane itself (no scratch).
template <typename T>
class ColumnChunks {
 public:
  ColumnChunks(const ConvShape& s, const T* x, int64_t limit)
      : s_(s), x_(x), geo_(s.geometry()), pointwise_(s.pointwise()),
        plan_(plan_columns(s.images(), s.P(), s.K() * int64_t(sizeof(T)),
                           pointwise_ ? std::numeric_limits<int64_t>::max() : limit, s.flops())) {
    if (!pointwise_) scratch_ = empty({plan_.workers * s.K() * plan_.chunk}, dtype_of<T>());
  }

  const ChunkPlan& plan() const { return plan_; }

  struct Chunk {
    int64_t n, g;       // image and group
    int64_t p0, len;    // output columns p0 .. p0 + len - 1
    const T* cols;      // the column matrix, K x len
    int64_t ld;         // its row stride
  };

  // The columns of `job`, built in `slot`'s scratch.
  Chunk columns(int64_t job, int slot) const {
    const int64_t P = s_.P(), K = s_.K();
    const int64_t image = job / plan_.per_image, n = image / s_.groups, g = image % s_.groups;
    const int64_t p0 = plan_.first(job), p1 = std::min(P, p0 + plan_.chunk), len = p1 - p0;
    const T* xg = x_ + (n * s_.Cin + g * s_.cin_g()) * s_.H * s_.W;
    if (pointwise_) return {n, g, p0, len, xg + p0, P};
    T* buf = scratch_.data<T>() + slot * K * plan_.chunk;
    im2col_range(xg, geo_, p0, p1, buf, len);
    return {n, g, p0, len, buf, len};
  }

 private:
  ConvShape s_;
  const T* x_;
  Im2colGeometry geo_;
  bool pointwise_;
  ChunkPlan plan_;
  Tensor scratch_;
};

// y = conv(x, w) + b for dense and grouped convolutions. b may be null.
template <typename T>
void forward_gemm(const ConvShape& s, const T* x, const T* w, const T* b, T* y, int64_t limit,
                  const Epilogue& epilogue = {}) {
  if constexpr (std::is_same_v<T, float>) {
    if (winograd_forward_planned(s, x, w, b, y, limit, epilogue)) return;  // notes its variant
  }
#ifdef DCSR_PACKED_GEMM
  // Only when the AVX-512 level is the one in force (DCSR_CPU_ISA may ask
  // for a lower one: the bench then measures, and names, the generic path).
  if constexpr (std::is_same_v<T, float>) {
    if (cpu_isa() == CpuIsa::kAvx512 && forward_avx512(s, x, w, b, y, limit, epilogue)) {
      runtime::note_kernel_path("direct/avx512-implicit-gemm");
      return;
    }
  }
#endif
  runtime::note_kernel_path("direct/im2col-gemm");
  const int64_t K = s.K(), P = s.P(), cout_g = s.cout_g();
  const ColumnChunks<T> chunks(s, x, limit);
  run_jobs(chunks.plan().jobs, chunks.plan().workers, [&](int64_t job, int slot) {
    const auto c = chunks.columns(job, slot);
    T* yg = y + (c.n * s.Cout + c.g * cout_g) * P + c.p0;
    if (b)
      for (int64_t co = 0; co < cout_g; ++co) std::fill(yg + co * P, yg + co * P + c.len, b[c.g * cout_g + co]);
    gemm_raw<T>(w + c.g * cout_g * K, K, c.cols, c.ld, yg, P, cout_g, c.len, K, false, false, T(1), b ? T(1) : T(0));
    if (epilogue.active())
      for (int64_t co = 0; co < cout_g; ++co) apply_epilogue(yg + co * P, c.len, yg + co * P - y, epilogue);
  });
}

// grad_w (Cout x K per group, the weight's own layout) = sum over images and
// chunks of grad_y_chunk (cout_g x len) @ cols^T (len x K). Each slot sums its
// jobs into its own accumulator (slot 0: grad_w itself), added up at the end;
// fixed job ranges per slot keep the rounding the same from run to run.
template <typename T>
void backward_weight_gemm(const ConvShape& s, const T* gy, const T* x, T* gw, int64_t limit) {
  if constexpr (std::is_same_v<T, float>) {
    if (winograd_backward_weight_planned(s, gy, x, gw, limit)) return;  // notes its variant
  }
#ifdef DCSR_PACKED_GEMM
  if constexpr (std::is_same_v<T, float>) {
    if (cpu_isa() == CpuIsa::kAvx512 && backward_weight_avx512(s, gy, x, gw, limit)) {
      runtime::note_kernel_path("direct/avx512-implicit-gemm");
      return;
    }
  }
#endif
  runtime::note_kernel_path("direct/im2col-gemm");
  const int64_t K = s.K(), P = s.P(), cout_g = s.cout_g(), wsize = s.Cout * K;
  const ColumnChunks<T> chunks(s, x, limit);
  const int workers = chunks.plan().workers;
  Tensor extra;
  if (workers > 1) extra = zeros({(workers - 1) * wsize}, dtype_of<T>());
  std::fill(gw, gw + wsize, T(0));
  run_jobs(chunks.plan().jobs, workers, [&](int64_t job, int slot) {
    const auto c = chunks.columns(job, slot);
    T* acc = (slot == 0 ? gw : extra.data<T>() + (slot - 1) * wsize) + c.g * cout_g * K;
    gemm_raw<T>(gy + (c.n * s.Cout + c.g * cout_g) * P + c.p0, P, c.cols, c.ld, acc, K, cout_g, K, c.len, false, true,
                T(1), T(1));
  }, /*fixed=*/true);
  for (int slot = 1; slot < workers; ++slot) {
    const T* acc = extra.data<T>() + (slot - 1) * wsize;
    for (int64_t i = 0; i < wsize; ++i) gw[i] += acc[i];
  }
}

// grad_x by GEMM + col2im: the general path (stride > 1). The columns of one
// chunk are grad_cols (K x len) = w_g^T (K x cout_g) @ grad_y_chunk, then
// scattered back. Chunks whose input footprints overlap must not run at the
// same time, so chunks are bands of whole output rows, at least h_min rows
// high, run in two phases (even bands, then odd ones): bands i and i+2 are
// then separated by a band tall enough that their footprints are disjoint.
template <typename T>
void backward_input_col2im(const ConvShape& s, const T* gy, const T* w, T* gx, int64_t limit) {
  runtime::note_kernel_path("direct/col2im-gemm");
  const int64_t K = s.K(), P = s.P(), cin_g = s.cin_g(), cout_g = s.cout_g(), sz = int64_t(sizeof(T));
  const Im2colGeometry geo = s.geometry();
  parallel_for(s.N * s.Cin, grain_for(s.H * s.W),
               [&](int64_t b, int64_t e) { std::fill(gx + b * s.H * s.W, gx + e * s.H * s.W, T(0)); });

  // Band i covers output rows [a, a + h) and input rows [a*s - pad, (a+h-1)*s - pad + k - 1];
  // bands i and i+2 are disjoint iff the band between them has h*s >= k - s.
  const int64_t h_min = s.k > s.stride ? (s.k - s.stride + s.stride - 1) / s.stride : 0;
  int64_t rows = 0, bands = 1, chunk = 0, per_image = 0;
  int workers = 1;
  const int threads = job_workers(s.images() * s.Ho, s.flops());
  const int64_t per_thread = std::min(kChunkBytes, limit / threads);
  if (h_min == 0) {
    // Stride >= kernel: no two output pixels read the same input pixel, so
    // any column chunks can run together.
    ChunkPlan plan = plan_columns(s.images(), P, K * sz, limit, s.flops());
    chunk = plan.chunk;
    per_image = plan.per_image;
    workers = plan.workers;
  } else if (std::max(h_min, int64_t(1)) * s.Wo * K * sz <= per_thread) {
    rows = std::max(h_min, per_thread / (s.Wo * K * sz));
    rows = std::max<int64_t>(1, std::min(rows, (s.Ho + 1) / 2));  // at least two bands when possible
    rows = std::max(rows, h_min);
    bands = (s.Ho + rows - 1) / rows;
    chunk = rows * s.Wo;
    workers = threads;
  } else {
    // Not even h_min rows per thread fit the workspace (huge width or a tiny
    // limit): one chunk at a time, as large as the limit allows.
    chunk = std::clamp<int64_t>(limit / (K * sz), 1, P);
    per_image = (P + chunk - 1) / chunk;
    workers = 1;
  }
  // Slot: the chunk's grad_cols (K x chunk), then for the packed GEMM the
  // chunk of grad_y packed as B (used only if that still fits the limit).
  int64_t slot_floats = K * chunk;
  bool use_packed = false;
  Tensor a_storage;
#ifdef DCSR_PACKED_GEMM
  if constexpr (std::is_same_v<T, float>) {
    const int64_t packed_slot = slot_floats + packed::b_size(chunk, cout_g);
    if (cpu_isa() == CpuIsa::kAvx512 && int64_t(workers) * packed_slot * sz <= limit) {
      use_packed = true;
      slot_floats = packed_slot;
      // w_g^T (K x cout_g) as packed A, from w_g stored (cout_g x K).
      const int64_t a_stride = packed::a_size(K, cout_g);
      a_storage = empty({s.groups * a_stride}, kFloat32);
      for (int64_t g = 0; g < s.groups; ++g)
        packed::pack_a(w + g * cout_g * K, K, K, cout_g, true, a_storage.data<float>() + g * a_stride);
    }
  }
#endif
  Tensor scratch = empty({int64_t(workers) * slot_floats}, dtype_of<T>());
  T* ws = scratch.data<T>();
  auto one_chunk = [&](int64_t image, int64_t p0, int64_t p1, int slot) {
    const int64_t n = image / s.groups, g = image % s.groups, len = p1 - p0;
    T* buf = ws + slot * slot_floats;
    const T* gy_chunk = gy + (n * s.Cout + g * cout_g) * P + p0;
    if (!use_packed) {
      gemm_raw<T>(w + g * cout_g * K, K, gy_chunk, P, buf, len, K, len, cout_g, true, false, T(1), T(0));
    } else {
#ifdef DCSR_PACKED_GEMM
      if constexpr (std::is_same_v<T, float>) {
        float* bbuf = buf + K * chunk;
        packed::pack_b(gy_chunk, P, cout_g, len, bbuf);
        packed::gemm(K, len, cout_g, a_storage.data<float>() + g * packed::a_size(K, cout_g), bbuf, buf, len, false,
                     nullptr);
      }
#endif
    }
    col2im_range(buf, len, geo, p0, p1, gx + (n * s.Cin + g * cin_g) * s.H * s.W);
  };
  if (rows == 0) {
    run_jobs(s.images() * per_image, workers, [&](int64_t job, int slot) {
      const int64_t p0 = (job % per_image) * chunk;
      one_chunk(job / per_image, p0, std::min(P, p0 + chunk), slot);
    });
    return;
  }
  for (int64_t phase = 0; phase < 2; ++phase) {
    const int64_t count = (bands - phase + 1) / 2;  // bands phase, phase + 2, ...
    if (count <= 0) continue;
    const int64_t jobs = s.images() * count;
    run_jobs(jobs, std::min(workers, job_workers(jobs, s.flops())), [&](int64_t job, int slot) {
      const int64_t band = phase + 2 * (job % count);
      const int64_t p0 = band * chunk;
      one_chunk(job / count, p0, std::min(P, p0 + chunk), slot);
    });
  }
}

// ---------------------------------------------------------------- depthwise

template <typename T>
void depthwise_forward(const ConvShape& s, const T* x, const T* w, const T* b, T* y, const Epilogue& epilogue) {
  const int64_t C = s.Cin, k = s.k, st = s.stride;
  parallel_for(s.N * C * s.Ho, grain_for(s.Wo * k * k), [&](int64_t begin, int64_t end) {
    for (int64_t job = begin; job < end; ++job) {
      const int64_t plane = job / s.Ho, oy = job % s.Ho, c = plane % C;
      T* out = y + job * s.Wo;
      std::fill(out, out + s.Wo, b ? b[c] : T(0));
      const T* xp = x + plane * s.H * s.W;
      for (int64_t ky = 0; ky < k; ++ky) {
        const int64_t iy = oy * st - s.pad + ky;
        if (iy < 0 || iy >= s.H) continue;
        for (int64_t kx = 0; kx < k; ++kx) {
          int64_t lo, hi;
          im2col_detail::valid_span(kx - s.pad, s.W, st, s.Wo, lo, hi);
          const T wv = w[(c * k + ky) * k + kx];
          const T* src = xp + iy * s.W + kx - s.pad;  // src[ox*st]
          if (st == 1) {
            for (int64_t ox = lo; ox < hi; ++ox) out[ox] += wv * src[ox];
          } else {
            for (int64_t ox = lo; ox < hi; ++ox) out[ox] += wv * src[ox * st];
          }
        }
      }
      apply_epilogue(out, s.Wo, job * s.Wo, epilogue);
    }
  });
}

// Scatter of every grad_y row into the input rows it read; one plane per job,
// so the scatter never crosses threads.
template <typename T>
void depthwise_backward_input(const ConvShape& s, const T* gy, const T* w, T* gx) {
  const int64_t C = s.Cin, k = s.k, st = s.stride;
  parallel_for(s.N * C, grain_for(s.H * s.W + s.P() * k * k), [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const int64_t c = plane % C;
      T* gxp = gx + plane * s.H * s.W;
      std::fill(gxp, gxp + s.H * s.W, T(0));
      for (int64_t oy = 0; oy < s.Ho; ++oy) {
        const T* g = gy + (plane * s.Ho + oy) * s.Wo;
        for (int64_t ky = 0; ky < k; ++ky) {
          const int64_t iy = oy * st - s.pad + ky;
          if (iy < 0 || iy >= s.H) continue;
          for (int64_t kx = 0; kx < k; ++kx) {
            int64_t lo, hi;
            im2col_detail::valid_span(kx - s.pad, s.W, st, s.Wo, lo, hi);
            const T wv = w[(c * k + ky) * k + kx];
            T* dst = gxp + iy * s.W + kx - s.pad;
            if (st == 1) {
              for (int64_t ox = lo; ox < hi; ++ox) dst[ox] += wv * g[ox];
            } else {
              for (int64_t ox = lo; ox < hi; ++ox) dst[ox * st] += wv * g[ox];
            }
          }
        }
      }
    }
  });
}

// grad_w[c][ky][kx] = sum over the batch and output pixels of grad_y * the
// input pixel that tap read; one channel per job.
template <typename T>
void depthwise_backward_weight(const ConvShape& s, const T* gy, const T* x, T* gw) {
  const int64_t C = s.Cin, k = s.k, st = s.stride;
  parallel_for(C, grain_for(s.N * s.P() * k * k), [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      for (int64_t ky = 0; ky < k; ++ky)
        for (int64_t kx = 0; kx < k; ++kx) {
          int64_t lo, hi;
          im2col_detail::valid_span(kx - s.pad, s.W, st, s.Wo, lo, hi);
          T total = 0;
          for (int64_t n = 0; n < s.N; ++n) {
            const int64_t plane = n * C + c;
            for (int64_t oy = 0; oy < s.Ho; ++oy) {
              const int64_t iy = oy * st - s.pad + ky;
              if (iy < 0 || iy >= s.H) continue;
              const T* g = gy + (plane * s.Ho + oy) * s.Wo;
              const T* src = x + (plane * s.H + iy) * s.W + kx - s.pad;
              total += sum_lanes(g + lo, src + lo * st, hi - lo, st);
            }
          }
          gw[(c * k + ky) * k + kx] = total;
        }
    }
  });
}

// grad_b[co] = sum of grad_y over the batch and the pixels.
template <typename T>
void bias_gradient(const ConvShape& s, const T* gy, T* gb) {
  const int64_t P = s.P();
  parallel_for(s.Cout, grain_for(s.N * P), [&](int64_t begin, int64_t end) {
    for (int64_t co = begin; co < end; ++co) {
      double total = 0;
      for (int64_t n = 0; n < s.N; ++n) {
        const T* g = gy + (n * s.Cout + co) * P;
        total += double(sum_lanes(g, static_cast<const T*>(nullptr), P, 1));
      }
      gb[co] = T(total);
    }
  });
}

}  // namespace

void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& residual, Tensor& y,
                    int64_t stride, int64_t padding, int64_t groups, int64_t workspace_bytes,
                    double activation_slope) {
  dispatch_floating(x.dtype(), "conv2d_forward", [&](auto zero) {
    using T = decltype(zero);
    const ConvShape s = conv_shape(x, weight, stride, padding, groups, y.size(2), y.size(3));
    const T* b = bias.defined() ? bias.data<T>() : nullptr;
    const Epilogue epilogue{residual.defined() ? residual.data<T>() : nullptr, activation_slope};
    if (y.numel() == 0) return;
    if (s.depthwise()) {
      runtime::note_kernel_path("depthwise");
      return depthwise_forward(s, x.data<T>(), weight.data<T>(), b, y.data<T>(), epilogue);
    }
    forward_gemm(s, x.data<T>(), weight.data<T>(), b, y.data<T>(), workspace_bytes, epilogue);
  });
}

bool conv2d_max_pool2_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y, int64_t padding,
                              int64_t workspace_bytes, double activation_slope) {
  if (x.dtype() != kFloat32 || y.numel() == 0) return false;
  const int64_t k = weight.size(2), Ho = x.size(2) + 2 * padding - k + 1, Wo = x.size(3) + 2 * padding - k + 1;
  const ConvShape s = conv_shape(x, weight, 1, padding, 1, Ho, Wo);
  const Epilogue pooled{nullptr, activation_slope, y.data<float>()};
  return winograd_forward_planned(s, x.data<float>(), weight.data<float>(),
                                  bias.defined() ? bias.data<float>() : nullptr, nullptr, workspace_bytes, pooled);
}

bool conv2d_concat_forward(const Tensor& a, const Tensor& b, const Tensor& weight, const Tensor& bias, Tensor& y,
                           int64_t stride, int64_t padding, int64_t workspace_bytes, double activation_slope) {
  if (a.dtype() != kFloat32 || y.numel() == 0) return false;
  const ConvShape s{a.size(0), a.size(1) + b.size(1), a.size(2), a.size(3), weight.size(0), weight.size(2), stride,
                    padding, 1, y.size(2), y.size(3)};
  const SecondInput second{b.data<float>(), a.size(1)};
  return winograd_forward_planned(s, a.data<float>(), weight.data<float>(),
                                  bias.defined() ? bias.data<float>() : nullptr, y.data<float>(), workspace_bytes,
                                  Epilogue{nullptr, activation_slope}, &second);
}

void conv2d_backward_input(const Tensor& grad_y, const Tensor& weight, Tensor& grad_x, int64_t stride,
                           int64_t padding, int64_t groups, int64_t workspace_bytes) {
  dispatch_floating(grad_y.dtype(), "conv2d_backward_input", [&](auto zero) {
    using T = decltype(zero);
    const ConvShape s = conv_shape(grad_x, weight, stride, padding, groups, grad_y.size(2), grad_y.size(3));
    const T* gy = grad_y.data<T>();
    const T* w = weight.data<T>();
    T* gx = grad_x.data<T>();
    if (grad_y.numel() == 0) return std::fill(gx, gx + grad_x.numel(), T(0));  // an empty batch or no outputs
    if (s.depthwise()) {
      runtime::note_kernel_path("depthwise");
      return depthwise_backward_input(s, gy, w, gx);
    }
    if (s.stride == 1 && s.pad <= s.k - 1) {
      // (1x1 convs included: then it is grad_x = w_g^T grad_y, a pointwise conv.)
      // Flipped kernel with in/out swapped: wf[g*cin_g + ci][co][ky][kx] =
      // w[g*cout_g + co][ci][k-1-ky][k-1-kx], shape (Cin, cout_g, k, k).
      const int64_t k = s.k, kk = k * k, cin_g = s.cin_g(), cout_g = s.cout_g();
      Tensor flipped = empty({s.Cin * cout_g * kk}, dtype_of<T>());
      T* wf = flipped.data<T>();
      for (int64_t g = 0; g < s.groups; ++g)
        for (int64_t ci = 0; ci < cin_g; ++ci)
          for (int64_t co = 0; co < cout_g; ++co)
            for (int64_t t = 0; t < kk; ++t)
              wf[((g * cin_g + ci) * cout_g + co) * kk + t] = w[((g * cout_g + co) * cin_g + ci) * kk + (kk - 1 - t)];
      const ConvShape full{s.N, s.Cout, s.Ho, s.Wo, s.Cin, k, 1, k - 1 - s.pad, s.groups, s.H, s.W};
      return forward_gemm(full, gy, static_cast<const T*>(wf), static_cast<const T*>(nullptr), gx, workspace_bytes);
    }
    backward_input_col2im(s, gy, w, gx, workspace_bytes);
  });
}

void conv2d_backward_weight(const Tensor& grad_y, const Tensor& x, Tensor& grad_weight, Tensor& grad_bias,
                            int64_t stride, int64_t padding, int64_t groups, int64_t workspace_bytes) {
  dispatch_floating(grad_y.dtype(), "conv2d_backward_weight", [&](auto zero) {
    using T = decltype(zero);
    const ConvShape s = conv_shape(x, grad_weight, stride, padding, groups, grad_y.size(2), grad_y.size(3));
    const T* gy = grad_y.data<T>();
    if (grad_y.numel() == 0) {  // an empty batch or no outputs: nothing to sum
      std::fill(grad_weight.data<T>(), grad_weight.data<T>() + grad_weight.numel(), T(0));
      if (grad_bias.defined()) std::fill(grad_bias.data<T>(), grad_bias.data<T>() + grad_bias.numel(), T(0));
      return;
    }
    if (grad_bias.defined()) bias_gradient(s, gy, grad_bias.data<T>());
    if (s.depthwise()) {
      runtime::note_kernel_path("depthwise");
      return depthwise_backward_weight(s, gy, x.data<T>(), grad_weight.data<T>());
    }
    backward_weight_gemm(s, gy, x.data<T>(), grad_weight.data<T>(), workspace_bytes);
  });
}

}  // namespace dcsr::kernels::cpu
