// Study: the pairwise part of the contextual loss (dcsr-spec §9.2) on
// normalised features xh (N, C, Nx), yh (N, C, Ny).
//
//   version 0  forward, production: three fused sweeps of kernels/cuda/dot_sweep.cuh
//              (row minimum; row sums of exp; column maximum of CX) and cx
//   version 1  backward, production: coefficients, then per gcos tile one cuBLAS
//              GEMM for the cosines, two small kernels, two cuBLAS GEMMs
//
// The two numbers for 4096 x 4096 x 64: each sweep is 2.1 GFLOP of FMAs plus
// 16.8 M exps (~0.05 ms at 50 TFLOP/s, the exps on the SFUs alongside); the
// operands are 2 MB: compute bound. Reported against cuBLAS SGEMM's
// ceiling: forward = 3 x 2 C Nx Ny flop, backward = 3 x 2 C Nx Ny.
//
// usage: study_contextual [--quick] [--version V] [--shape NxCxNxxNy]...
#include <cstring>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/study/study_common.cuh"

using namespace dcsr;

namespace {

struct CxCase {
  int64_t N, C, Nx, Ny;
};

Tensor unit_columns(const Shape& shape, Generator& gen) {
  Tensor x = normal(shape, gen, 0.0, 1.0), out = empty(shape), norm = empty({shape[0], shape[2]});
  kernels::cpu::normalize_columns(x, out, norm);
  return out;
}

int64_t mismatches(const Tensor& a, const Tensor& b) {
  std::vector<int64_t> x = a.to_vector<int64_t>(), y = b.to_vector<int64_t>();
  int64_t count = 0;
  for (size_t i = 0; i < x.size(); ++i) count += x[i] != y[i];
  return count;
}

// All float outputs of one version, concatenated, for one relative L2 check.
std::vector<float> joined(const std::vector<const Tensor*>& parts) {
  std::vector<float> all;
  for (const Tensor* t : parts) {
    std::vector<float> v = t->to_vector<float>();
    all.insert(all.end(), v.begin(), v.end());
  }
  return all;
}

void run_case(const CxCase& c, int only_version, const study::Peaks& peaks) {
  const std::string shape =
      std::to_string(c.N) + "x" + std::to_string(c.C) + "x" + std::to_string(c.Nx) + "x" + std::to_string(c.Ny);
  const double flop = 3.0 * 2.0 * double(c.N) * double(c.C) * double(c.Nx) * double(c.Ny);
  const int64_t ws = int64_t(64) << 20;
  const double h = 0.5;
  Generator gen(41);
  Tensor xh = unit_columns({c.N, c.C, c.Nx}, gen), yh = unit_columns({c.N, c.C, c.Ny}, gen);
  Tensor grad_cx = uniform({c.N}, gen, -1.0, 1.0);
  // CPU reference, forward then backward.
  Tensor rs = empty({c.N, 3, c.Nx}), ra = empty({c.N, c.Nx}, kInt64), cs = empty({c.N, 3, c.Ny});
  Tensor ca = empty({c.N, c.Ny}, kInt64), cx = empty({c.N}), gx = empty(xh.shape()), gy = empty(yh.shape());
  kernels::cpu::contextual_forward(xh, yh, h, ws, rs, ra, cs, ca, cx);
  kernels::cpu::contextual_backward(xh, yh, rs, ra, cs, ca, cx, grad_cx, h, ws, gx, gy);
  // Device buffers; the backward runs on the CPU's statistics (copied), so it
  // is checked on its own.
  Tensor dxh = xh.to(kCUDA), dyh = yh.to(kCUDA), dgrad = grad_cx.to(kCUDA);
  Tensor drs = empty(rs.shape(), kFloat32, kCUDA), dra = empty(ra.shape(), kInt64, kCUDA);
  Tensor dcs = empty(cs.shape(), kFloat32, kCUDA), dca = empty(ca.shape(), kInt64, kCUDA);
  Tensor dcx = empty(cx.shape(), kFloat32, kCUDA), dgx = empty(xh.shape(), kFloat32, kCUDA);
  Tensor dgy = empty(yh.shape(), kFloat32, kCUDA);
  Tensor in_rs = rs.to(kCUDA), in_ra = ra.to(kCUDA), in_cs = cs.to(kCUDA), in_ca = ca.to(kCUDA), in_cx = cx.to(kCUDA);

  for (int v = 0; v < 2; ++v) {
    if (only_version >= 0 && v != only_version) continue;
    std::function<void()> run;
    if (v == 0) {
      run = [&] { kernels::cuda::contextual_forward(dxh, dyh, h, ws, drs, dra, dcs, dca, dcx); };
      study::poison(drs);
      study::poison(dcs);
      study::poison(dcx);
    } else {
      run = [&] {
        kernels::cuda::contextual_backward(dxh, dyh, in_rs, in_ra, in_cs, in_ca, in_cx, dgrad, h, ws, dgx, dgy);
      };
      study::poison(dgx);
      study::poison(dgy);
    }
    run();
    DCSR_CUDA_CHECK(cudaDeviceSynchronize());
    study::Check check = v == 0 ? study::compare(joined({&drs, &dcs, &dcx}), joined({&rs, &cs, &cx}), 1e-4)
                                : study::compare(joined({&dgx, &dgy}), joined({&gx, &gy}), 1e-3);
    const double ms = check.ok ? study::time_ms(run) : 0.0;
    study::print_result("contextual", shape, v, v == 0 ? "forward: production (three fused sweeps)"
                                                       : "backward: production (gcos tiles, cuBLAS)",
                        check, ms, flop, 0.0, peaks);
    if (v == 0)
      std::printf("{\"study\": \"contextual\", \"shape\": \"%s\", \"version\": 0, \"row_arg_mismatches\": %lld, "
                  "\"col_arg_mismatches\": %lld}\n",
                  shape.c_str(), (long long)mismatches(dra, ra), (long long)mismatches(dca, ca));
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (!study::gpu_or_skip("contextual")) return 0;
  int only_version = -1;
  std::vector<CxCase> cases;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      study::quick_mode() = true;
    } else if (std::strcmp(argv[i], "--version") == 0 && i + 1 < argc) {
      only_version = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--shape") == 0 && i + 1 < argc) {
      long long n, ch, nx, ny;
      if (std::sscanf(argv[++i], "%lldx%lldx%lldx%lld", &n, &ch, &nx, &ny) != 4) {
        std::fprintf(stderr, "study_contextual: --shape wants NxCxNxxNy\n");
        return 2;
      }
      cases.push_back({n, ch, nx, ny});
    } else {
      std::fprintf(stderr, "usage: study_contextual [--quick] [--version V] [--shape NxCxNxxNy]...\n");
      return 2;
    }
  }
  if (cases.empty() && study::quick_mode()) cases = {{2, 8, 42, 45}};
  if (cases.empty()) cases = {{1, 64, 4096, 4096}, {4, 256, 1024, 1024}};
  try {
    const study::Peaks peaks = study::measure_peaks();
    study::print_machine("contextual", peaks);
    for (const CxCase& c : cases) run_case(c, only_version, peaks);
  } catch (const std::exception& e) {
    std::printf("{\"study\": \"contextual\", \"error\": \"%s\"}\n", study::json_escape(e.what()).c_str());
    return 1;
  }
  return 0;
}
