// Device dispatch of the core kernels: one plain switch per kernel.
#include "kernels/dispatch.h"

namespace dcsr::kernels {

const char* unary_op_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg: return "neg";
    case UnaryOp::Exp: return "exp";
    case UnaryOp::Log: return "log";
    case UnaryOp::Abs: return "abs";
    case UnaryOp::Sqrt: return "sqrt";
    case UnaryOp::Sigmoid: return "sigmoid";
    case UnaryOp::Relu: return "relu";
    case UnaryOp::LeakyRelu: return "leaky_relu";
    case UnaryOp::Clamp: return "clamp";
    case UnaryOp::AddScalar: return "add_scalar";
    case UnaryOp::MulScalar: return "mul_scalar";
    case UnaryOp::PowScalar: return "pow";
    case UnaryOp::Sign: return "sign";
    case UnaryOp::InRange: return "in_range";
  }
  return "unary";
}

const char* binary_op_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add: return "add";
    case BinaryOp::Sub: return "sub";
    case BinaryOp::Mul: return "mul";
    case BinaryOp::Div: return "div";
    case BinaryOp::LeakyReluBackward: return "leaky_relu_backward";
  }
  return "binary";
}

void fill(Tensor& out, double value) {
  const KernelScope scope("fill", out.device());
  switch (out.device()) {
    case Device::CPU: return cpu::fill(out, value);
    case Device::CUDA: return DCSR_CUDA_ONLY(cuda::fill(out, value));
  }
}

void cast(const Tensor& src, Tensor& dst) {
  const KernelScope scope("cast", src.device());
  switch (src.device()) {
    case Device::CPU: return cpu::cast(src, dst);
    case Device::CUDA: return DCSR_CUDA_ONLY(cuda::cast(src, dst));
  }
}

void unary(UnaryOp op, const Tensor& x, Tensor& out, double alpha, double beta) {
  const KernelScope scope("unary", x.device(), unary_op_name(op));
  switch (x.device()) {
    case Device::CPU: return cpu::unary(op, x, out, alpha, beta);
    case Device::CUDA: return DCSR_CUDA_ONLY(cuda::unary(op, x, out, alpha, beta));
  }
}

void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out, double alpha) {
  const KernelScope scope("binary", out.device(), binary_op_name(op));
  switch (out.device()) {
    case Device::CPU: return cpu::binary(op, a, b, out, alpha);
    case Device::CUDA: return DCSR_CUDA_ONLY(cuda::binary(op, a, b, out, alpha));
  }
}

void sum(const Tensor& x, const std::vector<int64_t>& dims, Tensor& out) {
  const KernelScope scope("sum", x.device());
  switch (x.device()) {
    case Device::CPU: return cpu::sum(x, dims, out);
    case Device::CUDA: return DCSR_CUDA_ONLY(cuda::sum(x, dims, out));
  }
}

void max_along(const Tensor& x, int64_t dim, bool take_min, Tensor& values, Tensor& indices) {
  const KernelScope scope("max_along", x.device());
  switch (x.device()) {
    case Device::CPU: return cpu::max_along(x, dim, take_min, values, indices);
    case Device::CUDA: return DCSR_CUDA_ONLY(cuda::max_along(x, dim, take_min, values, indices));
  }
}

void gemm(const Tensor& a, const Tensor& b, Tensor& c, bool trans_a, bool trans_b, double alpha, double beta) {
  const KernelScope scope("gemm", c.device());
  switch (c.device()) {
    case Device::CPU: return cpu::gemm(a, b, c, trans_a, trans_b, alpha, beta);
    case Device::CUDA: return DCSR_CUDA_ONLY(cuda::gemm(a, b, c, trans_a, trans_b, alpha, beta));
  }
}

void permute(const Tensor& x, const std::vector<int64_t>& perm, Tensor& out) {
  const KernelScope scope("permute", x.device());
  switch (x.device()) {
    case Device::CPU: return cpu::permute(x, perm, out);
    case Device::CUDA: return DCSR_CUDA_ONLY(cuda::permute(x, perm, out));
  }
}

void copy_slice(const Tensor& src, Tensor& dst, int64_t dim, int64_t src_start, int64_t dst_start, int64_t length,
                bool accumulate) {
  const KernelScope scope("copy_slice", src.device());
  switch (src.device()) {
    case Device::CPU: return cpu::copy_slice(src, dst, dim, src_start, dst_start, length, accumulate);
    case Device::CUDA:
      return DCSR_CUDA_ONLY(cuda::copy_slice(src, dst, dim, src_start, dst_start, length, accumulate));
  }
}

void pad2d(const Tensor& x, Tensor& out, const std::array<int64_t, 4>& pads, PadMode mode, double value) {
  const KernelScope scope("pad2d", x.device());
  switch (x.device()) {
    case Device::CPU: return cpu::pad2d(x, out, pads, mode, value);
    case Device::CUDA: return DCSR_CUDA_ONLY(cuda::pad2d(x, out, pads, mode, value));
  }
}

void pad2d_backward(const Tensor& grad_out, Tensor& grad_in, const std::array<int64_t, 4>& pads, PadMode mode) {
  const KernelScope scope("pad2d_backward", grad_out.device());
  switch (grad_out.device()) {
    case Device::CPU: return cpu::pad2d_backward(grad_out, grad_in, pads, mode);
    case Device::CUDA: return DCSR_CUDA_ONLY(cuda::pad2d_backward(grad_out, grad_in, pads, mode));
  }
}

void crop2d(const Tensor& x, Tensor& out, const std::array<int64_t, 4>& crops) {
  const KernelScope scope("crop2d", x.device());
  switch (x.device()) {
    case Device::CPU: return cpu::pad2d_backward(x, out, crops, PadMode::Constant);
    case Device::CUDA: return DCSR_CUDA_ONLY(cuda::pad2d_backward(x, out, crops, PadMode::Constant));
  }
}

void index_select(const Tensor& x, int64_t dim, const Tensor& index, Tensor& out) {
  const KernelScope scope("index_select", x.device());
  switch (x.device()) {
    case Device::CPU: return cpu::index_select(x, dim, index, out);
    case Device::CUDA: return DCSR_CUDA_ONLY(cuda::index_select(x, dim, index, out));
  }
}

void index_add(Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  const KernelScope scope("index_add", out.device());
  switch (out.device()) {
    case Device::CPU: return cpu::index_add(out, dim, index, src);
    case Device::CUDA: return DCSR_CUDA_ONLY(cuda::index_add(out, dim, index, src));
  }
}

void gather(const Tensor& x, int64_t dim, const Tensor& index, Tensor& out) {
  const KernelScope scope("gather", x.device());
  switch (x.device()) {
    case Device::CPU: return cpu::gather(x, dim, index, out);
    case Device::CUDA: return DCSR_CUDA_ONLY(cuda::gather(x, dim, index, out));
  }
}

void scatter_add(Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  const KernelScope scope("scatter_add", out.device());
  switch (out.device()) {
    case Device::CPU: return cpu::scatter_add(out, dim, index, src);
    case Device::CUDA: return DCSR_CUDA_ONLY(cuda::scatter_add(out, dim, index, src));
  }
}

}  // namespace dcsr::kernels
