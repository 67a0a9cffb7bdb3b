// Run-time switches: on/off settings read from the environment, and the two
// settings of the CUDA backend (TF32 GEMMs, the conv forward's path). They live
// here, below the kernels, so that any layer can read or set them.
#pragma once
#include <string>

namespace dcsr::runtime {

// Whether the environment variable `name` is exactly "1" (anything else, or
// unset, is off).
bool env_switch_on(const char* name);

// TF32 tensor-core math for the float32 GEMMs of the CUDA backend: cuBLAS's,
// and the implicit-GEMM convolutions' (kernels/cuda/conv2d_implicit_tf32.cuh,
// on GPUs of compute capability 8.0 or later). Off by default (exact
// float32); DCSR_TF32=1 in the environment turns it on.
// A no-op in builds without CUDA.
void set_cuda_tf32(bool enabled);
bool cuda_tf32();

// How the CUDA conv2d forward runs 3x3 and 5x5 stride-1 single-group
// convolutions: as an implicit GEMM (kernels/cuda/conv2d_implicit.cuh) or as
// im2col + cuBLAS. kAuto (the default) takes whichever a cost model fitted to
// H100 timings says is faster (kernels/conv_forward_plan.h); kIm2col and
// kImplicit force one path where the implicit GEMM applies. kTile, with TF32
// on, takes the direct tile kernel on the tensor cores
// (kernels/cuda/conv2d_tile_tf32.cuh) for every such convolution, and is kAuto
// with TF32 off (it has no float32 form). kMeasure times, at each shape's
// first call, every kernel that can run it (kernels/conv_forward_plan.h,
// conv_forward_candidates) and keeps the fastest for the rest of the process,
// printing one line per shape on stderr: for a GPU the fitted model does not
// know, and to time every kernel on a model's own shapes in one run. Its
// choices follow the timings, so two runs may pick differently between
// kernels that tie (their outputs differ in the last bits). Read on first use
// from DCSR_CONV_PATH ("auto", "im2col", "implicit", "tile" or "measure";
// unset: auto; any other value is an Error that names it). No effect in
// builds without CUDA.
enum class CudaConvPath { kAuto, kIm2col, kImplicit, kTile, kMeasure };
void set_cuda_conv_path(CudaConvPath path);
CudaConvPath cuda_conv_path();
const char* conv_path_name(CudaConvPath path);  // "auto", "im2col", "implicit", "tile", "measure"
CudaConvPath conv_path_from_name(const std::string& name);  // the inverse; an Error names a bad name

// How the CUDA patch matching (max_cosine) scores its pairs: kFloat32 (the
// default) with the float32 sweep of kernels/cuda/max_cosine.cu; kTf32 with
// TF32 tensor-core scores and an exact float32 re-scoring of every candidate
// within the proven bound (kernels/cuda/max_cosine_tf32.cu); kMap, where the
// descriptors come with their feature maps (patch_max_cosine), with the map
// sweep's pixel products on TF32 tensor cores and the same exact re-scoring
// (kernels/cuda/max_cosine_map.cu; plain max_cosine stays on the float32
// sweep). All three give the same values and indices. Read on first use from
// DCSR_CUDA_MATCH ("float32", "tf32" or "map"; unset: float32; any other
// value is an Error that names it). No effect in builds without CUDA.
// float32 stays the default: on an H100 the TF32 path's first form took
// 1.17x its time on the model's 144-long features (the 4K tile's 27556 x
// 30976), and gained only on 576-long ones (docs/gpu_check_h100.md); its
// fused form and the map path are not yet timed.
enum class CudaMatchPath { kFloat32, kTf32, kMap };
void set_cuda_match_path(CudaMatchPath path);
CudaMatchPath cuda_match_path();
const char* match_path_name(CudaMatchPath path);               // "float32", "tf32", "map"
CudaMatchPath match_path_from_name(const std::string& name);  // the inverse ("" too: float32); an Error names a bad name

}  // namespace dcsr::runtime
