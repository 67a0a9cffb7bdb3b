// CPU-versus-CUDA parity checks for the [cuda] tests (in the manner of
// ggml's test-backend-ops): an op runs under autograd on float32 CPU inputs
// and on CUDA copies of the same values; every output is compared (floating
// outputs within atol + rtol |cpu|, int64 outputs exactly), then the gradient
// of L = sum_k <out_k, r_k> for a random upstream r_k (the same values on both
// devices) is compared for every input that requires grad. Each comparison
// prints the share of its tolerance that was used.
//
// The CPU result is the reference: the CPU kernels are checked against
// float64 finite differences and PyTorch goldens elsewhere. Tolerances are
// float32 ones: the two devices sum in different orders and the CUDA math
// library's expf/logf/powf are not bit-identical to glibc's.
#pragma once
#include <string>

#include "kernels/cpu_paths.h"
#include "test_util.h"

namespace dcsr::test {

struct Parity {
  double atol = 1e-5;       // outputs
  double rtol = 1e-5;
  double grad_atol = -1.0;  // input gradients; < 0: same as outputs
  double grad_rtol = -1.0;
  uint64_t seed = 777;      // upstream gradients
};

// Makes the CPU reference take its direct convolution path for a scope: its
// sums round as the CUDA kernels' do, while the Winograd path's transforms add
// their own float32 error (up to ~10x a plain sum's on a 64-channel 3x3 conv),
// which tests/test_winograd.cpp bounds against the direct path.
struct DirectCpuConvolutions {
  DirectCpuConvolutions() { kernels::cpu_paths::set_cpu_conv_path(kernels::cpu_paths::CpuConvPath::kDirect); }
  ~DirectCpuConvolutions() { kernels::cpu_paths::reset_cpu_conv_path(); }
  DirectCpuConvolutions(const DirectCpuConvolutions&) = delete;
  DirectCpuConvolutions& operator=(const DirectCpuConvolutions&) = delete;
};

// A float32 CPU leaf that requires grad, uniform in [low, high).
inline Tensor f32(const Shape& shape, uint64_t seed, double low = -1.0, double high = 1.0) {
  Generator gen(seed);
  return uniform(shape, gen, low, high, kFloat32).requires_grad_();
}

// Like f32, every value at least `margin` away from each kink.
inline Tensor f32_away(const Shape& shape, uint64_t seed, const std::vector<double>& kinks, double margin = 0.05,
                       double low = -1.0, double high = 1.0) {
  return leaf_away_from(shape, seed, kinks, margin, low, high).detach().to(kFloat32).requires_grad_();
}

// A fresh leaf on `device` with x's values (and x's requires_grad).
inline Tensor copy_leaf(const Tensor& x, Device device) {
  Tensor copy = x.detach().to(device);  // always a new buffer, even CPU to CPU
  if (x.requires_grad()) copy.requires_grad_();
  return copy;
}

inline void require_parity(const std::string& what, const TensorFunction& fn, const TensorList& inputs,
                           Parity tol = {}) {
  if (tol.grad_atol < 0) tol.grad_atol = tol.atol;
  if (tol.grad_rtol < 0) tol.grad_rtol = tol.rtol;
  TensorList cpu_in, cuda_in;
  for (const Tensor& x : inputs) {
    cpu_in.push_back(copy_leaf(x, kCPU));
    cuda_in.push_back(copy_leaf(x, kCUDA));
  }
  TensorList cpu_out = fn(cpu_in), cuda_out = fn(cuda_in);
  REQUIRE(cpu_out.size() == cuda_out.size());
  TensorList cpu_roots, cuda_roots, cpu_seeds, cuda_seeds;
  Generator gen(tol.seed);
  for (size_t k = 0; k < cpu_out.size(); ++k) {
    const std::string label = what + ": output " + std::to_string(k);
    INFO(label);
    REQUIRE(cuda_out[k].device() == kCUDA);
    REQUIRE(cuda_out[k].shape() == cpu_out[k].shape());
    REQUIRE(cuda_out[k].dtype() == cpu_out[k].dtype());
    if (!is_floating(cpu_out[k].dtype())) {
      std::vector<int64_t> got = cuda_out[k].to_vector<int64_t>(), want = cpu_out[k].to_vector<int64_t>();
      size_t mismatches = 0, first = 0;
      for (size_t i = 0; i < got.size(); ++i)
        if (got[i] != want[i] && mismatches++ == 0) first = i;
      INFO("int64 mismatches: " << mismatches << " (first at " << first << ": cuda "
                                << (got.empty() ? 0 : got[first]) << ", cpu " << (want.empty() ? 0 : want[first])
                                << ")");
      REQUIRE(mismatches == 0);
      continue;
    }
    require_close(cuda_out[k], cpu_out[k], tol.atol, tol.rtol, label);
    if (cpu_out[k].requires_grad()) {
      Tensor r = uniform(cpu_out[k].shape(), gen, -1.0, 1.0, kFloat32);
      cpu_roots.push_back(cpu_out[k]);
      cuda_roots.push_back(cuda_out[k]);
      cpu_seeds.push_back(r);
      cuda_seeds.push_back(r.to(kCUDA));
    }
  }
  if (cpu_roots.empty()) return;
  autograd::run_backward(cpu_roots, cpu_seeds, false);
  autograd::run_backward(cuda_roots, cuda_seeds, false);
  for (size_t i = 0; i < cpu_in.size(); ++i) {
    if (!cpu_in[i].requires_grad()) continue;
    const std::string label = what + ": grad of input " + std::to_string(i);
    INFO(label);
    REQUIRE(cpu_in[i].grad().defined() == cuda_in[i].grad().defined());
    if (!cpu_in[i].grad().defined()) continue;
    REQUIRE(cuda_in[i].grad().device() == kCUDA);
    require_close(cuda_in[i].grad(), cpu_in[i].grad(), tol.grad_atol, tol.grad_rtol, label);
  }
}

// Single-input / single-output shorthand.
inline TensorFunction one(std::function<Tensor(const Tensor&)> f) {
  return [f](const TensorList& in) { return TensorList{f(in[0])}; };
}
inline TensorFunction two(std::function<Tensor(const Tensor&, const Tensor&)> f) {
  return [f](const TensorList& in) { return TensorList{f(in[0], in[1])}; };
}

}  // namespace dcsr::test
