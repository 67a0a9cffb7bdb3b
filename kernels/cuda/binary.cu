// CUDA binary elementwise ops with numpy broadcasting, float32.
//
// The broadcast is planned on the host as on the CPU: out's dims of size 1
// are dropped, and neighbouring dims are merged when both operands step
// through them contiguously, so (N,C,H,W) * (1,C,1,1) becomes the three dims
// (N, C, H*W) with element strides a: (C*H*W, H*W, 1), b: (0, 1, 0). Each
// thread then maps its output index to the two input offsets with one
// div/mod per merged dim. The common shapes (same shape, one scalar
// operand) get loops without any division.
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace dcsr::kernels::cuda {

namespace {
struct BroadcastPlan {
  int ndim = 0;
  int64_t size[kMaxDims] = {};
  int64_t stride_a[kMaxDims] = {};  // element strides, 0 where broadcast
  int64_t stride_b[kMaxDims] = {};
};

std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out) {
  std::vector<int64_t> strides(out.size(), 0);
  std::vector<int64_t> own = contiguous_strides(in);
  const size_t shift = out.size() - in.size();
  for (size_t d = 0; d < in.size(); ++d) strides[d + shift] = in[d] == 1 ? 0 : own[d];
  return strides;
}

BroadcastPlan plan_broadcast(const Shape& a, const Shape& b, const Shape& out, const char* op) {
  DCSR_CHECK(a.size() <= out.size() && b.size() <= out.size(), op, ": operands ", shape_str(a), " and ",
             shape_str(b), " do not broadcast to ", shape_str(out));
  std::vector<int64_t> sa = broadcast_strides(a, out), sb = broadcast_strides(b, out);
  std::vector<int64_t> sizes, ta, tb;
  for (size_t d = 0; d < out.size(); ++d) {
    if (out[d] == 1) continue;
    if (!sizes.empty() && ta.back() == sa[d] * out[d] && tb.back() == sb[d] * out[d]) {
      sizes.back() *= out[d];  // contiguous for both operands: merge into the previous dim
      ta.back() = sa[d];
      tb.back() = sb[d];
      continue;
    }
    sizes.push_back(out[d]);
    ta.push_back(sa[d]);
    tb.push_back(sb[d]);
  }
  if (sizes.empty()) sizes = {1}, ta = {0}, tb = {0};
  DCSR_CHECK(sizes.size() <= size_t(kMaxDims), op, ": more than ", kMaxDims, " broadcast dims on cuda");
  BroadcastPlan plan;
  plan.ndim = int(sizes.size());
  for (size_t d = 0; d < sizes.size(); ++d) {
    plan.size[d] = sizes[d];
    plan.stride_a[d] = ta[d];
    plan.stride_b[d] = tb[d];
  }
  return plan;
}

template <typename F>
__global__ void binary_same_kernel(const float* a, const float* b, float* out, int64_t n, F f) {
  DCSR_GRID_STRIDE_LOOP(i, n) out[i] = f(a[i], b[i]);
}

// a scalar_a: a[0] against b[i]; otherwise a[i] against b[0].
template <typename F>
__global__ void binary_scalar_kernel(const float* a, const float* b, float* out, int64_t n, bool scalar_a, F f) {
  const float s = scalar_a ? a[0] : b[0];
  const float* v = scalar_a ? b : a;
  if (scalar_a) {
    DCSR_GRID_STRIDE_LOOP(i, n) out[i] = f(s, v[i]);
  } else {
    DCSR_GRID_STRIDE_LOOP(i, n) out[i] = f(v[i], s);
  }
}

template <typename F>
__global__ void binary_general_kernel(const float* a, const float* b, float* out, int64_t n, BroadcastPlan p, F f) {
  DCSR_GRID_STRIDE_LOOP(i, n) {
    int64_t rest = i, off_a = 0, off_b = 0;
    for (int k = p.ndim - 1; k >= 0; --k) {
      const int64_t size = p.size[k];
      const int64_t q = rest / size;
      const int64_t idx = rest - q * size;
      rest = q;
      off_a += idx * p.stride_a[k];
      off_b += idx * p.stride_b[k];
    }
    out[i] = f(a[off_a], b[off_b]);
  }
}

struct AddF { __device__ float operator()(float x, float y) const { return x + y; } };
struct SubF { __device__ float operator()(float x, float y) const { return x - y; } };
struct MulF { __device__ float operator()(float x, float y) const { return x * y; } };
struct DivF { __device__ float operator()(float x, float y) const { return x / y; } };
struct LeakyReluBackwardF {
  float slope;
  __device__ float operator()(float x, float g) const { return x > 0.0f ? g : slope * g; }
};

template <typename F>
void launch(const BroadcastPlan& plan, const float* a, const float* b, float* out, int64_t n, F f) {
  if (plan.ndim == 1 && plan.stride_a[0] == 1 && plan.stride_b[0] == 1) {
    binary_same_kernel<F><<<grid_for(n), kBlock>>>(a, b, out, n, f);
  } else if (plan.ndim == 1 && plan.stride_a[0] == 1 && plan.stride_b[0] == 0) {
    binary_scalar_kernel<F><<<grid_for(n), kBlock>>>(a, b, out, n, false, f);
  } else if (plan.ndim == 1 && plan.stride_a[0] == 0 && plan.stride_b[0] == 1) {
    binary_scalar_kernel<F><<<grid_for(n), kBlock>>>(a, b, out, n, true, f);
  } else {
    binary_general_kernel<F><<<grid_for(n), kBlock>>>(a, b, out, n, plan, f);
  }
  DCSR_CUDA_CHECK_LAUNCH();
}
}  // namespace

void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out, double alpha) {
  const char* name = binary_op_name(op);
  require_float32(a, name);
  require_float32(b, name);
  require_float32(out, name);
  const int64_t n = out.numel();
  if (n == 0) return;
  BroadcastPlan plan = plan_broadcast(a.shape(), b.shape(), out.shape(), name);
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  float* po = out.data<float>();
  switch (op) {
    case BinaryOp::Add: return launch(plan, pa, pb, po, n, AddF{});
    case BinaryOp::Sub: return launch(plan, pa, pb, po, n, SubF{});
    case BinaryOp::Mul: return launch(plan, pa, pb, po, n, MulF{});
    case BinaryOp::Div: return launch(plan, pa, pb, po, n, DivF{});
    case BinaryOp::LeakyReluBackward: return launch(plan, pa, pb, po, n, LeakyReluBackwardF{float(alpha)});
  }
  fail(name, ": unknown binary op on cuda");
}

}  // namespace dcsr::kernels::cuda
