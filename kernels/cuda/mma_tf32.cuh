// TF32 tensor-core arithmetic for hand-written kernels (sm_80 and later): one
// warp-wide m16n8k8 matrix multiply-accumulate, D (16 x 8) += A (16 x 8) B
// (8 x 8), with float32 accumulation, and the rounding of a float32 to TF32
// (10 mantissa bits, to nearest, ties away from zero: cvt.rna).
//
// The fragments are PTX's for mma.m16n8k8 with .tf32 operands (PTX ISA,
// "Matrix Fragments for mma.m16n8k8"). With lane = 4 g + t (g = lane / 4,
// the group; t = lane % 4, the thread in the group), each lane holds
//   a[0] = A[g][t]      a[1] = A[g + 8][t]      a[2] = A[g][t + 4]   a[3] = A[g + 8][t + 4]
//   b[0] = B[t][g]      b[1] = B[t + 4][g]
//   d[0] = D[g][2t]     d[1] = D[g][2t + 1]     d[2] = D[g + 8][2t]  d[3] = D[g + 8][2t + 1]
// a and b are TF32 bit patterns (to_tf32).
//
// On the host emulator (tools/cuda_emu, which defines DCSR_CUDA_EMU) the same
// two functions are computed in float32 from the same fragments, the lanes
// trading values through __shfl_sync, so that a kernel's fragment index math
// is checked without a GPU. The tensor cores' own summation order and
// rounding inside the product are not emulated (tests allow for them).
#pragma once
#include <cstdint>
#include <cstring>

namespace dcsr::kernels::cuda {

#if defined(DCSR_CUDA_EMU)

inline uint32_t to_tf32(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  if ((u & 0x7f800000u) != 0x7f800000u) u = (u + 0x1000u) & 0xffffe000u;  // finite: round the 13 low bits away
  return u;
}

inline void mma_tf32_m16n8k8(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  const int lane = int(threadIdx.x % 32), g = lane / 4, t = lane % 4;
  auto as_float = [](uint32_t u) {
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
  };
  for (int k = 0; k < 8; ++k) {
    // A[r][k] lives in lane 4 (r % 8) + k % 4; B[k][n] in lane 4 n + k % 4.
    const int half = k / 4, from = k % 4;
    const float a_top = as_float(__shfl_sync(0xffffffffu, a[2 * half], 4 * g + from));      // A[g][k]
    const float a_bottom = as_float(__shfl_sync(0xffffffffu, a[2 * half + 1], 4 * g + from));  // A[g + 8][k]
    const float b_left = as_float(__shfl_sync(0xffffffffu, b[half], 4 * (2 * t) + from));     // B[k][2t]
    const float b_right = as_float(__shfl_sync(0xffffffffu, b[half], 4 * (2 * t + 1) + from));  // B[k][2t + 1]
    d[0] += a_top * b_left;
    d[1] += a_top * b_right;
    d[2] += a_bottom * b_left;
    d[3] += a_bottom * b_right;
  }
}

#else

__device__ __forceinline__ uint32_t to_tf32(float x) {
  uint32_t r;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
#else
  r = __float_as_uint(x);  // never run: the host plan takes these kernels only on sm_80+
#endif
  return r;
}

__device__ __forceinline__ void mma_tf32_m16n8k8(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
  __trap();  // never run: the host plan takes these kernels only on sm_80+
#endif
}

#endif

}  // namespace dcsr::kernels::cuda
