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
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/study/study_common.cuh"
#include "tests/op_table.h"

using namespace dcsr;

namespace {

struct CxCase {
  int64_t N, C, Nx, Ny;
};

void run_case(const CxCase& c, int only_version, const study::Peaks& peaks) {
  const std::string shape = study::dims({c.N, c.C, c.Nx, c.Ny});
  const double flop = 3.0 * 2.0 * double(c.N) * double(c.C) * double(c.Nx) * double(c.Ny);
  const int64_t ws = int64_t(64) << 20;
  const double h = 0.5;
  Generator gen(41);
  Tensor xh = study::unit_columns({c.N, c.C, c.Nx}, gen), yh = study::unit_columns({c.N, c.C, c.Ny}, gen);
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

  const std::vector<study::Version> versions = {
      {"forward: production (three fused sweeps)", {&drs, &dcs, &dcx}, {&rs, &cs, &cx}, 1e-4,
       [&] { kernels::cuda::contextual_forward(dxh, dyh, h, ws, drs, dra, dcs, dca, dcx); }},
      {"backward: production (gcos tiles, cuBLAS)", {&dgx, &dgy}, {&gx, &gy}, 1e-3,
       [&] {
         kernels::cuda::contextual_backward(dxh, dyh, in_rs, in_ra, in_cs, in_ca, in_cx, dgrad, h, ws, dgx, dgy);
       }},
  };
  auto arg_mismatches = [&](int v, const study::Check&, double) {
    if (v == 0)
      std::printf("{\"study\": \"contextual\", \"shape\": \"%s\", \"version\": 0, \"row_arg_mismatches\": %lld, "
                  "\"col_arg_mismatches\": %lld}\n",
                  shape.c_str(), (long long)study::mismatches(dra, ra), (long long)study::mismatches(dca, ca));
  };
  study::run_versions("contextual", shape, versions, only_version, flop, 0.0, peaks, arg_mismatches);
}

}  // namespace

int main(int argc, char** argv) {
  return study::study_main(argc, argv, "contextual", "NxCxNxxNy", 4, [](const study::Options& o,
                                                                        const study::Peaks& peaks) {
    std::vector<CxCase> cases;
    for (const std::vector<int64_t>& f : o.shapes) cases.push_back({f[0], f[1], f[2], f[3]});
    if (cases.empty() && study::quick_mode()) cases = {{2, 8, 42, 45}};
    // The op table's GPU sizes of contextual_loss (tests/op_rows_dcsr.h), (N, C, Nx, Ny).
    if (cases.empty())
      for (const std::vector<int64_t>& s : study::table_gpu_sizes(test::op_row("contextual_loss")))
        cases.push_back({s.at(0), s.at(1), s.at(2), s.at(3)});
    for (const CxCase& c : cases) run_case(c, o.only_version, peaks);
  });
}
