// CUDA unary elementwise ops, float32. One kernel template instantiated per
// op with a small functor, so the op is resolved at compile time and each
// instance is a plain streaming loop. The formulas (and their NaN
// behaviour) follow kernels/cpu/elementwise.cpp exactly: clamp is written
// with comparisons, not fminf/fmaxf, because fmaxf(NaN, a) = a whereas
// std::max(NaN, a) = NaN on the CPU. Library functions (expf, logf, powf) are
// the accurate ones, not the __expf intrinsics, so CPU and CUDA agree to a
// few ulp.
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace dcsr::kernels::cuda {

namespace {
template <typename F>
__global__ void unary_kernel(const float* x, float* out, int64_t n, F f) {
  DCSR_GRID_STRIDE_LOOP(i, n) out[i] = f(x[i]);
}

struct NegF { __device__ float operator()(float v) const { return -v; } };
struct ExpF { __device__ float operator()(float v) const { return expf(v); } };
struct LogF { __device__ float operator()(float v) const { return logf(v); } };
struct AbsF { __device__ float operator()(float v) const { return fabsf(v); } };
struct SqrtF { __device__ float operator()(float v) const { return sqrtf(v); } };
struct SigmoidF { __device__ float operator()(float v) const { return 1.0f / (1.0f + expf(-v)); } };
// !(v <= 0): NaN stays NaN, as on the CPU and in torch.relu.
struct ReluF { __device__ float operator()(float v) const { return !(v <= 0.0f) ? v : 0.0f; } };
struct LeakyReluF {
  float a;
  __device__ float operator()(float v) const { return v > 0.0f ? v : a * v; }
};
struct ClampF {
  float lo, hi;
  __device__ float operator()(float v) const {
    float m = v < lo ? lo : v;  // std::max(v, lo)
    return hi < m ? hi : m;     // std::min(m, hi)
  }
};
struct AddScalarF {
  float a;
  __device__ float operator()(float v) const { return v + a; }
};
struct MulScalarF {
  float a;
  __device__ float operator()(float v) const { return v * a; }
};
struct SquareF { __device__ float operator()(float v) const { return v * v; } };
struct PowF {
  float a;
  __device__ float operator()(float v) const { return powf(v, a); }
};
struct SignF { __device__ float operator()(float v) const { return float((v > 0.0f) - (v < 0.0f)); } };
struct InRangeF {
  float lo, hi;
  __device__ float operator()(float v) const { return float(v >= lo && v <= hi); }
};

template <typename F>
void launch(const float* x, float* out, int64_t n, F f) {
  unary_kernel<F><<<grid_for(n), kBlock>>>(x, out, n, f);
  DCSR_CUDA_CHECK_LAUNCH();
}
}  // namespace

void unary(UnaryOp op, const Tensor& x, Tensor& out, double alpha, double beta) {
  require_float32(x, unary_op_name(op));
  require_float32(out, unary_op_name(op));
  DCSR_CHECK(x.numel() == out.numel(), unary_op_name(op), ": ", shape_str(x.shape()), " into ",
             shape_str(out.shape()));
  const int64_t n = x.numel();
  if (n == 0) return;
  const float* in = x.data<float>();
  float* o = out.data<float>();
  const float a = float(alpha), b = float(beta);
  switch (op) {
    case UnaryOp::Neg: return launch(in, o, n, NegF{});
    case UnaryOp::Exp: return launch(in, o, n, ExpF{});
    case UnaryOp::Log: return launch(in, o, n, LogF{});
    case UnaryOp::Abs: return launch(in, o, n, AbsF{});
    case UnaryOp::Sqrt: return launch(in, o, n, SqrtF{});
    case UnaryOp::Sigmoid: return launch(in, o, n, SigmoidF{});
    case UnaryOp::Relu: return launch(in, o, n, ReluF{});
    case UnaryOp::LeakyRelu: return launch(in, o, n, LeakyReluF{a});
    case UnaryOp::Clamp: return launch(in, o, n, ClampF{a, b});
    case UnaryOp::AddScalar: return launch(in, o, n, AddScalarF{a});
    case UnaryOp::MulScalar: return launch(in, o, n, MulScalarF{a});
    case UnaryOp::PowScalar:
      if (alpha == 2.0) return launch(in, o, n, SquareF{});
      return launch(in, o, n, PowF{a});
    case UnaryOp::Sign: return launch(in, o, n, SignF{});
    case UnaryOp::InRange: return launch(in, o, n, InRangeF{a, b});
  }
  fail(unary_op_name(op), ": unknown unary op on cuda");
}

}  // namespace dcsr::kernels::cuda
