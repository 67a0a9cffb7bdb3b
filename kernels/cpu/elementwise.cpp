// CPU elementwise kernels: fill, cast, unary and broadcasting binary ops.
#include <cmath>
#include <cstring>

#include "kernels/cpu/cpu_common.h"
#include "kernels/cpu/cpu_kernels.h"

namespace dcsr::kernels::cpu {

namespace {
constexpr int64_t kGrain = 1 << 15;  // elements per thread below which a loop stays serial

template <typename T, typename F>
void map_unary(const T* x, T* out, int64_t n, F f) {
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) out[i] = f(x[i]);
  });
}

// Broadcast geometry of `out = f(a, b)` after merging dims that are contiguous
// for both operands: out is viewed as (outer, inner) where the inner dim has
// stride 1 or 0 (broadcast) in each operand.
struct BroadcastPlan {
  std::vector<int64_t> sizes;      // merged out sizes, last = inner
  std::vector<int64_t> strides_a;  // element strides (0 where broadcast)
  std::vector<int64_t> strides_b;
};

std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out) {
  std::vector<int64_t> strides(out.size(), 0);
  std::vector<int64_t> own = contiguous_strides(in);
  size_t shift = out.size() - in.size();
  for (size_t d = 0; d < in.size(); ++d) strides[d + shift] = in[d] == 1 ? 0 : own[d];
  return strides;
}

BroadcastPlan plan_broadcast(const Shape& a, const Shape& b, const Shape& out) {
  std::vector<int64_t> sa = broadcast_strides(a, out), sb = broadcast_strides(b, out);
  BroadcastPlan plan;
  for (size_t d = 0; d < out.size(); ++d) {
    if (out[d] == 1) continue;
    if (!plan.sizes.empty()) {
      // Merge with the previous dim when both operands step through it contiguously.
      int64_t size = out[d];
      if (plan.strides_a.back() == sa[d] * size && plan.strides_b.back() == sb[d] * size) {
        plan.sizes.back() *= size;
        plan.strides_a.back() = sa[d];
        plan.strides_b.back() = sb[d];
        continue;
      }
    }
    plan.sizes.push_back(out[d]);
    plan.strides_a.push_back(sa[d]);
    plan.strides_b.push_back(sb[d]);
  }
  if (plan.sizes.empty()) plan = {{1}, {0}, {0}};
  return plan;
}

template <typename T, typename F>
void inner_loop(const T* a, const T* b, T* out, int64_t n, int64_t stride_a, int64_t stride_b, F f) {
  // Specialised on the stride pattern so that each case vectorises.
  if (stride_a == 1 && stride_b == 1) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], b[i]);
  } else if (stride_a == 1 && stride_b == 0) {
    const T bv = b[0];
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], bv);
  } else if (stride_a == 0 && stride_b == 1) {
    const T av = a[0];
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) out[i] = f(av, b[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[i * stride_a], b[i * stride_b]);
  }
}

template <typename T, typename F>
void map_binary(const Tensor& ta, const Tensor& tb, Tensor& tout, F f) {
  const T* a = ta.data<T>();
  const T* b = tb.data<T>();
  T* out = tout.data<T>();
  BroadcastPlan plan = plan_broadcast(ta.shape(), tb.shape(), tout.shape());
  const size_t last = plan.sizes.size() - 1;
  const int64_t inner = plan.sizes[last];
  const int64_t outer = tout.numel() / std::max<int64_t>(inner, 1);
  if (outer == 1) {
    parallel_for(inner, kGrain, [&](int64_t begin, int64_t end) {
      inner_loop(a + begin * plan.strides_a[last], b + begin * plan.strides_b[last], out + begin, end - begin,
                 plan.strides_a[last], plan.strides_b[last], f);
    });
    return;
  }
  parallel_for(outer, std::max<int64_t>(1, kGrain / std::max<int64_t>(inner, 1)), [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      // Offsets of outer row o in each operand (odometer over the merged outer dims).
      int64_t rest = o, off_a = 0, off_b = 0;
      for (size_t d = last; d-- > 0;) {
        int64_t i = rest % plan.sizes[d];
        rest /= plan.sizes[d];
        off_a += i * plan.strides_a[d];
        off_b += i * plan.strides_b[d];
      }
      inner_loop(a + off_a, b + off_b, out + o * inner, inner, plan.strides_a[last], plan.strides_b[last], f);
    }
  });
}
}  // namespace

void fill(Tensor& out, double value) {
  dispatch_all(out.dtype(), "fill", [&](auto zero) {
    using T = decltype(zero);
    T* p = out.data<T>();
    const T v = T(value);
    parallel_for(out.numel(), kGrain, [&](int64_t begin, int64_t end) { std::fill(p + begin, p + end, v); });
  });
}

void cast(const Tensor& src, Tensor& dst) {
  DCSR_CHECK(src.numel() == dst.numel(), "cast: ", shape_str(src.shape()), " into ", shape_str(dst.shape()));
  dispatch_all(src.dtype(), "cast", [&](auto src_zero) {
    using S = decltype(src_zero);
    dispatch_all(dst.dtype(), "cast", [&](auto dst_zero) {
      using D = decltype(dst_zero);
      const S* s = src.data<S>();
      D* d = dst.data<D>();
      if constexpr (std::is_same_v<S, D>) {
        if (static_cast<const void*>(s) != static_cast<void*>(d)) std::memcpy(d, s, dst.nbytes());
      } else {
        parallel_for(src.numel(), kGrain, [&](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) d[i] = D(s[i]);
        });
      }
    });
  });
}

void unary(UnaryOp op, const Tensor& x, Tensor& out, double alpha, double beta) {
  dispatch_floating(x.dtype(), unary_op_name(op), [&](auto zero) {
    using T = decltype(zero);
    const T* in = x.data<T>();
    T* o = out.data<T>();
    const int64_t n = x.numel();
    const T a = T(alpha), b = T(beta);
    switch (op) {
      case UnaryOp::Neg: return map_unary(in, o, n, [](T v) { return -v; });
      case UnaryOp::Exp: return map_unary(in, o, n, [](T v) { return std::exp(v); });
      case UnaryOp::Log: return map_unary(in, o, n, [](T v) { return std::log(v); });
      case UnaryOp::Abs: return map_unary(in, o, n, [](T v) { return std::abs(v); });
      case UnaryOp::Sqrt: return map_unary(in, o, n, [](T v) { return std::sqrt(v); });
      case UnaryOp::Sigmoid: return map_unary(in, o, n, [](T v) { return T(1) / (T(1) + std::exp(-v)); });
      // !(v <= 0): NaN stays NaN, as torch.relu and the fused convolutions' ReLU keep it.
      case UnaryOp::Relu: return map_unary(in, o, n, [](T v) { return !(v <= T(0)) ? v : T(0); });
      case UnaryOp::LeakyRelu: return map_unary(in, o, n, [a](T v) { return v > T(0) ? v : a * v; });
      case UnaryOp::Clamp: return map_unary(in, o, n, [a, b](T v) { return std::min(std::max(v, a), b); });
      case UnaryOp::AddScalar: return map_unary(in, o, n, [a](T v) { return v + a; });
      case UnaryOp::MulScalar: return map_unary(in, o, n, [a](T v) { return v * a; });
      case UnaryOp::PowScalar:
        if (alpha == 2.0) return map_unary(in, o, n, [](T v) { return v * v; });
        return map_unary(in, o, n, [a](T v) { return std::pow(v, a); });
      case UnaryOp::Sign: return map_unary(in, o, n, [](T v) { return T((v > T(0)) - (v < T(0))); });
      case UnaryOp::InRange: return map_unary(in, o, n, [a, b](T v) { return T(v >= a && v <= b); });
    }
  });
}

void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out, double alpha) {
  DCSR_CHECK(a.dtype() == b.dtype() && a.dtype() == out.dtype(), binary_op_name(op), ": dtypes ",
             dtype_name(a.dtype()), " and ", dtype_name(b.dtype()), " differ");
  dispatch_floating(a.dtype(), binary_op_name(op), [&](auto zero) {
    using T = decltype(zero);
    const T slope = T(alpha);
    switch (op) {
      case BinaryOp::Add: return map_binary<T>(a, b, out, [](T x, T y) { return x + y; });
      case BinaryOp::Sub: return map_binary<T>(a, b, out, [](T x, T y) { return x - y; });
      case BinaryOp::Mul: return map_binary<T>(a, b, out, [](T x, T y) { return x * y; });
      case BinaryOp::Div: return map_binary<T>(a, b, out, [](T x, T y) { return x / y; });
      case BinaryOp::LeakyReluBackward:
        return map_binary<T>(a, b, out, [slope](T x, T g) { return x > T(0) ? g : slope * g; });
    }
  });
}

}  // namespace dcsr::kernels::cpu
