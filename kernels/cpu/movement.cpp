// CPU data movement: permute, slice copies, 2-D padding, index_select/add,
// gather/scatter_add.
#include <algorithm>
#include <cstring>

#include "kernels/cpu/cpu_common.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/reflect_index.h"

namespace dcsr::kernels::cpu {

namespace {
constexpr int64_t kGrain = 1 << 14;

void check_index(int64_t value, int64_t size, const char* op, int64_t dim) {
  DCSR_CHECK(value >= 0 && value < size, op, ": index ", value, " out of range for dim ", dim, " of size ", size);
}

}  // namespace

void permute(const Tensor& x, const std::vector<int64_t>& perm, Tensor& out) {
  dispatch_all(x.dtype(), "permute", [&](auto zero) {
    using T = decltype(zero);
    const T* in = x.data<T>();
    T* o = out.data<T>();
    const size_t n = perm.size();
    std::vector<int64_t> in_strides = contiguous_strides(x.shape());
    // Stride in the input of each output dim.
    std::vector<int64_t> src_strides(n);
    for (size_t d = 0; d < n; ++d) src_strides[d] = in_strides[size_t(perm[d])];
    const Shape& out_shape = out.shape();
    const int64_t inner = n ? out_shape[n - 1] : 1;
    const int64_t inner_stride = n ? src_strides[n - 1] : 1;
    const int64_t rows = out.numel() / std::max<int64_t>(inner, 1);
    parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(inner, 1)), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        int64_t rest = r, src = 0;
        for (size_t d = n - 1; d-- > 0;) {
          src += (rest % out_shape[d]) * src_strides[d];
          rest /= out_shape[d];
        }
        T* dst = o + r * inner;
        for (int64_t i = 0; i < inner; ++i) dst[i] = in[src + i * inner_stride];
      }
    });
  });
}

void copy_slice(const Tensor& src, Tensor& dst, int64_t dim, int64_t src_start, int64_t dst_start, int64_t length,
                bool accumulate) {
  dispatch_all(src.dtype(), "copy_slice", [&](auto zero) {
    using T = decltype(zero);
    int64_t outer, inner;
    split_around(src.shape(), dim, outer, inner);
    const int64_t src_dim = src.shape()[size_t(dim)], dst_dim = dst.shape()[size_t(dim)];
    const T* s = src.data<T>();
    T* d = dst.data<T>();
    // Each of the `outer` runs of length * inner values is cut into pieces of
    // at least kGrain, so that a few long runs (a concat along the channels
    // of one image: one run of 14 MB for 32 channels at 332 x 332) are
    // copied by every thread, not one.
    const int64_t run = length * inner, pieces = std::max<int64_t>(1, run / kGrain);
    const int64_t piece = (run + pieces - 1) / pieces;
    parallel_for(outer * pieces, std::max<int64_t>(1, kGrain / std::max<int64_t>(piece, 1)), [&](int64_t begin,
                                                                                                 int64_t end) {
      for (int64_t job = begin; job < end; ++job) {
        const int64_t o = job / pieces, at = (job % pieces) * piece, n = std::min(piece, run - at);
        const T* from = s + (o * src_dim + src_start) * inner + at;
        T* to = d + (o * dst_dim + dst_start) * inner + at;
        if (accumulate) {
          for (int64_t i = 0; i < n; ++i) to[i] += from[i];
        } else {
          std::memcpy(to, from, size_t(n) * sizeof(T));
        }
      }
    });
  });
}

void pad2d(const Tensor& x, Tensor& out, const std::array<int64_t, 4>& pads, PadMode mode, double value) {
  dispatch_floating(x.dtype(), "pad2d", [&](auto zero) {
    using T = decltype(zero);
    const int64_t H = x.size(-2), W = x.size(-1), Ho = out.size(-2), Wo = out.size(-1);
    const int64_t left = pads[0], top = pads[2];
    // From the output: an empty input plane (H or W 0) still pads to a full one.
    const int64_t planes = out.numel() / std::max<int64_t>(Ho * Wo, 1);
    const T* in = x.data<T>();
    T* o = out.data<T>();
    const T fill_value = T(value);
    parallel_for(planes * Ho, std::max<int64_t>(1, kGrain / std::max<int64_t>(Wo, 1)), [&](int64_t begin, int64_t end) {
      for (int64_t job = begin; job < end; ++job) {
        int64_t p = job / Ho, i = job % Ho;
        T* row = o + job * Wo;
        int64_t si = i - top;
        if (mode == PadMode::Constant) {
          if (si < 0 || si >= H) {
            std::fill(row, row + Wo, fill_value);
            continue;
          }
          const T* src = in + (p * H + si) * W;
          std::fill(row, row + left, fill_value);
          std::memcpy(row + left, src, size_t(W) * sizeof(T));
          std::fill(row + left + W, row + Wo, fill_value);
        } else {
          // The row's middle is a copy; only the padding columns are reflected
          // (indexed through reflect_index, the whole row did not vectorise).
          const T* src = in + (p * H + reflect_index(si, H)) * W;
          const int64_t lo = std::clamp<int64_t>(left, 0, Wo), hi = std::clamp<int64_t>(left + W, lo, Wo);
          for (int64_t j = 0; j < lo; ++j) row[j] = src[reflect_index(j - left, W)];
          std::memcpy(row + lo, src + (lo - left), size_t(hi - lo) * sizeof(T));
          for (int64_t j = hi; j < Wo; ++j) row[j] = src[reflect_index(j - left, W)];
        }
      }
    });
  });
}

void pad2d_backward(const Tensor& grad_out, Tensor& grad_in, const std::array<int64_t, 4>& pads, PadMode mode) {
  dispatch_floating(grad_out.dtype(), "pad2d_backward", [&](auto zero) {
    using T = decltype(zero);
    const int64_t H = grad_in.size(-2), W = grad_in.size(-1), Ho = grad_out.size(-2), Wo = grad_out.size(-1);
    const int64_t left = pads[0], top = pads[2];
    const int64_t planes = grad_in.numel() / std::max<int64_t>(H * W, 1);
    const T* go = grad_out.data<T>();
    T* gi = grad_in.data<T>();
    if (mode == PadMode::Constant) {
      // Each input row is one run of an output row: a copy (crop2d's forward).
      const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(W, 1));
      parallel_for(planes * H, grain, [&](int64_t begin, int64_t end) {
        for (int64_t job = begin; job < end; ++job) {
          const int64_t p = job / H, i = job % H;
          std::memcpy(gi + job * W, go + (p * Ho + i + top) * Wo + left, size_t(W) * sizeof(T));
        }
      });
      return;
    }
    // One plane per job: reflected positions of a plane only hit that plane.
    parallel_for(planes, 1, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        T* plane = gi + p * H * W;
        std::fill(plane, plane + H * W, T(0));
        for (int64_t i = 0; i < Ho; ++i) {
          const int64_t si = reflect_index(i - top, H);
          const T* row = go + (p * Ho + i) * Wo;
          for (int64_t j = 0; j < Wo; ++j) plane[si * W + reflect_index(j - left, W)] += row[j];
        }
      }
    });
  });
}

void index_select(const Tensor& x, int64_t dim, const Tensor& index, Tensor& out) {
  dispatch_all(x.dtype(), "index_select", [&](auto zero) {
    using T = decltype(zero);
    int64_t outer, inner;
    split_around(x.shape(), dim, outer, inner);
    const int64_t size = x.shape()[size_t(dim)], count = index.numel();
    const int64_t* idx = index.data<int64_t>();
    for (int64_t l = 0; l < count; ++l) check_index(idx[l], size, "index_select", dim);
    const T* in = x.data<T>();
    T* o = out.data<T>();
    parallel_for(outer * count, std::max<int64_t>(1, kGrain / std::max<int64_t>(inner, 1)),
                 [&](int64_t begin, int64_t end) {
                   for (int64_t job = begin; job < end; ++job) {
                     int64_t q = job / count, l = job % count;
                     std::memcpy(o + job * inner, in + (q * size + idx[l]) * inner, size_t(inner) * sizeof(T));
                   }
                 });
  });
}

void index_add(Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  dispatch_floating(out.dtype(), "index_add", [&](auto zero) {
    using T = decltype(zero);
    int64_t outer, inner;
    split_around(out.shape(), dim, outer, inner);
    const int64_t size = out.shape()[size_t(dim)], count = index.numel();
    const int64_t* idx = index.data<int64_t>();
    for (int64_t l = 0; l < count; ++l) check_index(idx[l], size, "index_add", dim);
    const T* s = src.data<T>();
    T* o = out.data<T>();
    // Parallel over (outer, inner-column blocks): two indices may name the
    // same row, so rows of one column block are summed by one thread.
    const int64_t col_blocks = outer >= 4 ? 1 : std::max<int64_t>(1, inner / 1024);
    parallel_for(outer * col_blocks, 1, [&](int64_t begin, int64_t end) {
      for (int64_t job = begin; job < end; ++job) {
        int64_t q = job / col_blocks, block = job % col_blocks;
        int64_t c0 = inner * block / col_blocks, c1 = inner * (block + 1) / col_blocks;
        for (int64_t l = 0; l < count; ++l) {
          const T* from = s + (q * count + l) * inner;
          T* to = o + (q * size + idx[l]) * inner;
          for (int64_t c = c0; c < c1; ++c) to[c] += from[c];
        }
      }
    });
  });
}

namespace {
// Shared walk of gather / scatter_add: for every index element, the offsets of
// the element in `index` and of its target in `data`. Jobs are the positions
// over all dims but `dim`, so one job owns a whole line along `dim`: scatter
// conflicts can only happen inside a job, which runs serially.
template <typename Visit>
void walk_index(const Tensor& data, int64_t dim, const Tensor& index, const char* op, Visit&& visit) {
  const Shape& ishape = index.shape();
  DCSR_CHECK(index.dim() == data.dim(), op, ": index has ", index.dim(), " dims, data has ", data.dim());
  for (int64_t d = 0; d < data.dim(); ++d)
    DCSR_CHECK(d == dim || ishape[size_t(d)] <= data.shape()[size_t(d)], op, ": index shape ", shape_str(ishape),
               " exceeds data shape ", shape_str(data.shape()), " in dim ", d);
  std::vector<int64_t> istrides = contiguous_strides(ishape), dstrides = contiguous_strides(data.shape());
  const int64_t line = ishape[size_t(dim)], size = data.shape()[size_t(dim)];
  const int64_t jobs = index.numel() / std::max<int64_t>(line, 1);
  const int64_t* idx = index.data<int64_t>();
  for (int64_t e = 0; e < index.numel(); ++e) check_index(idx[e], size, op, dim);
  parallel_for(jobs, 64, [&](int64_t begin, int64_t end) {
    for (int64_t job = begin; job < end; ++job) {
      // Decompose job over the index dims other than `dim`.
      int64_t rest = job, ibase = 0, dbase = 0;
      for (int64_t d = index.dim() - 1; d >= 0; --d) {
        if (d == dim) continue;
        int64_t i = rest % ishape[size_t(d)];
        rest /= ishape[size_t(d)];
        ibase += i * istrides[size_t(d)];
        dbase += i * dstrides[size_t(d)];
      }
      for (int64_t l = 0; l < line; ++l) {
        int64_t ioff = ibase + l * istrides[size_t(dim)];
        visit(ioff, dbase + idx[ioff] * dstrides[size_t(dim)]);
      }
    }
  });
}
}  // namespace

void gather(const Tensor& x, int64_t dim, const Tensor& index, Tensor& out) {
  dispatch_all(x.dtype(), "gather", [&](auto zero) {
    using T = decltype(zero);
    const T* in = x.data<T>();
    T* o = out.data<T>();
    walk_index(x, dim, index, "gather", [&](int64_t ioff, int64_t doff) { o[ioff] = in[doff]; });
  });
}

void scatter_add(Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  dispatch_floating(out.dtype(), "scatter_add", [&](auto zero) {
    using T = decltype(zero);
    const T* s = src.data<T>();
    T* o = out.data<T>();
    walk_index(out, dim, index, "scatter_add", [&](int64_t ioff, int64_t doff) { o[doff] += s[ioff]; });
  });
}

}  // namespace dcsr::kernels::cpu
