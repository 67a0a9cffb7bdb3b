// CPU reductions: sum over any set of dims, max/min with first-index argmax.
#include <cmath>

#include "kernels/cpu/cpu_common.h"
#include "kernels/cpu/cpu_kernels.h"

namespace dcsr::kernels::cpu {

namespace {
// The input viewed as alternating groups of kept and reduced dims (adjacent
// dims of the same kind merged, size-1 dims dropped).
struct ReductionGroups {
  std::vector<int64_t> sizes;
  std::vector<int64_t> strides;  // element strides in the input
  std::vector<bool> reduced;
};

ReductionGroups group_dims(const Shape& shape, const std::vector<int64_t>& dims) {
  std::vector<bool> is_reduced(shape.size(), false);
  for (int64_t d : dims) is_reduced[size_t(d)] = true;
  std::vector<int64_t> strides = contiguous_strides(shape);
  ReductionGroups g;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!g.sizes.empty() && g.reduced.back() == is_reduced[d]) {
      g.sizes.back() *= shape[d];
      g.strides.back() = strides[d];
    } else {
      g.sizes.push_back(shape[d]);
      g.strides.push_back(strides[d]);
      g.reduced.push_back(is_reduced[d]);
    }
  }
  return g;
}

// All input offsets spanned by the groups selected by `pick` (odometer order).
std::vector<int64_t> offsets_of(const ReductionGroups& g, bool pick, size_t end_group) {
  std::vector<int64_t> offsets{0};
  for (size_t k = 0; k < end_group; ++k) {
    if (g.reduced[k] != pick) continue;
    std::vector<int64_t> next;
    next.reserve(offsets.size() * size_t(g.sizes[k]));
    for (int64_t base : offsets)
      for (int64_t i = 0; i < g.sizes[k]; ++i) next.push_back(base + i * g.strides[k]);
    offsets.swap(next);
  }
  return offsets;
}

template <typename T>
void sum_typed(const Tensor& x, const std::vector<int64_t>& dims, Tensor& out) {
  const T* in = x.data<T>();
  T* o = out.data<T>();
  ReductionGroups g = group_dims(x.shape(), dims);
  const int64_t n_out = out.numel();
  if (g.sizes.empty() || x.numel() == 0) {  // nothing to reduce (or empty input)
    for (int64_t i = 0; i < n_out; ++i) o[i] = x.numel() ? in[i] : T(0);
    return;
  }
  const size_t last = g.sizes.size() - 1;
  // Accumulation in double keeps float32 sums of millions of terms accurate.
  if (g.reduced[last]) {
    // Innermost group reduced: each output is a sum of contiguous runs.
    std::vector<int64_t> kept = offsets_of(g, false, last);
    std::vector<int64_t> runs = offsets_of(g, true, last);
    const int64_t run = g.sizes[last];
    parallel_for(n_out, 1, [&](int64_t begin, int64_t end) {
      for (int64_t k = begin; k < end; ++k) {
        double total = 0.0;
        for (int64_t r : runs) {
          const T* p = in + kept[size_t(k)] + r;
          double partial = 0.0;
#pragma omp simd reduction(+ : partial)
          for (int64_t i = 0; i < run; ++i) partial += double(p[i]);
          total += partial;
        }
        o[k] = T(total);
      }
    });
  } else {
    // Innermost group kept: accumulate whole rows of `row` outputs.
    std::vector<int64_t> kept = offsets_of(g, false, last);
    std::vector<int64_t> rows = offsets_of(g, true, last);
    const int64_t row = g.sizes[last];
    const int64_t n_rows_out = int64_t(kept.size());
    // Parallel over output rows, or over column blocks when there are few rows.
    const int64_t col_blocks = n_rows_out >= 4 ? 1 : std::max<int64_t>(1, row / 4096);
    parallel_for(n_rows_out * col_blocks, 1, [&](int64_t begin, int64_t end) {
      std::vector<double> acc;
      for (int64_t job = begin; job < end; ++job) {
        int64_t k = job / col_blocks, block = job % col_blocks;
        int64_t c0 = row * block / col_blocks, c1 = row * (block + 1) / col_blocks;
        acc.assign(size_t(c1 - c0), 0.0);
        for (int64_t r : rows) {
          const T* p = in + kept[size_t(k)] + r + c0;
#pragma omp simd
          for (int64_t c = 0; c < c1 - c0; ++c) acc[size_t(c)] += double(p[c]);
        }
        for (int64_t c = c0; c < c1; ++c) o[k * row + c] = T(acc[size_t(c - c0)]);
      }
    });
  }
}

template <typename T>
void max_typed(const Tensor& x, int64_t dim, bool take_min, Tensor& values, Tensor& indices) {
  int64_t outer, inner;
  split_around(x.shape(), dim, outer, inner);
  const int64_t length = x.shape()[size_t(dim)];
  const T* in = x.data<T>();
  T* val = values.data<T>();
  int64_t* idx = indices.data<int64_t>();
  // Strictly better only: the first of equal extremes wins, as in PyTorch.
  // A NaN beats everything (PyTorch propagates NaN).
  auto better = [take_min](T candidate, T best) {
    if (std::isnan(candidate)) return !std::isnan(best);
    return take_min ? candidate < best : candidate > best;
  };
  parallel_for(outer * inner, 1 << 12, [&](int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j) {
      int64_t o = j / inner, i = j % inner;
      const T* p = in + o * length * inner + i;
      T best = p[0];
      int64_t best_index = 0;
      for (int64_t d = 1; d < length; ++d) {
        T v = p[d * inner];
        if (better(v, best)) best = v, best_index = d;
      }
      val[j] = best;
      idx[j] = best_index;
    }
  });
}
}  // namespace

void sum(const Tensor& x, const std::vector<int64_t>& dims, Tensor& out) {
  dispatch_floating(x.dtype(), "sum", [&](auto zero) { sum_typed<decltype(zero)>(x, dims, out); });
}

void max_along(const Tensor& x, int64_t dim, bool take_min, Tensor& values, Tensor& indices) {
  DCSR_CHECK(x.shape()[size_t(dim)] > 0, take_min ? "min" : "max", ": reduction over an empty dim of ",
             shape_str(x.shape()));
  dispatch_floating(x.dtype(), take_min ? "min" : "max",
                    [&](auto zero) { max_typed<decltype(zero)>(x, dim, take_min, values, indices); });
}

}  // namespace dcsr::kernels::cpu
