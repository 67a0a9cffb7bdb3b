// The map sweep's pixel products in int16 (max_cosine_patches.cpp; the
// kernels in max_cosine_patches_int16.cpp). Every pixel's C-vector is rounded
// to int16 at its own power-of-two scale, and the product of a query pixel and
// a key pixel is summed exactly in int32 by AVX512_VNNI's vpdpwssd (two
// channels a lane), then scaled back to float32: 8 instructions for 16
// channels where the float32 products take 16 multiply-adds, and one
// conversion and two exact multiplies by powers of two. The rounding's bound,
// which the re-scoring's threshold widens by, is in max_cosine_patches.cpp.
#pragma once
#include <cstdint>
#include <vector>

namespace dcsr::kernels::cpu {

// A (C, H, W) map's pixels in int16, pixel p = y * W + x:
//   words[p * C2 + c2]: channels 2 c2 (low half) and 2 c2 + 1 (high half, 0
//     past C) as round(x_c 2^e_p), C2 = (C + 1) / 2;
//   scale[p] = 2^-e_p, the largest power of two that keeps every |value| at
//     most 32767 and the vector's L2 norm at most 46000 (so the int32 sum of
//     two pixels' products, at most 46002^2 by Cauchy-Schwarz, cannot
//     overflow), and e_p <= 50 (a pair's scale 2^-(e_q + e_k) stays a normal
//     float);
//   err2[p] = |round(x 2^e_p) 2^-e_p - x|^2, the squared L2 norm of the
//     pixel's rounding error (double, rounded up).
// The map's values must be finite (the caller has checked).
struct QuantizedMap {
  int64_t C2 = 0;
  std::vector<int32_t> words;
  std::vector<float> scale;
  std::vector<double> err2;
};
QuantizedMap quantize_map(const float* map, int64_t C, int64_t H, int64_t W);

// The most channels the int16 products take: their query vectors stay in registers.
constexpr int64_t kInt16MaxChannels = 32;

// Whether the int16 products run here: the ISA level in use is AVX-512 and
// the CPU has VNNI, 1 <= C <= kInt16MaxChannels, and they are allowed
// (set_int16_products_allowed; tests force the float32 products with it).
bool int16_products_available(int64_t C);
void set_int16_products_allowed(bool allowed);
void reset_int16_products_allowed();

// For U < cols_p and the lanes of the first nv vectors of 16:
//   P[U * lanes + l] = float(sum over c2 of the int16 pairs of
//                      key_words[U * C2 + c2] and q_words[c2 * lanes + l])
//                      * q_scale[l] * key_scale[U],
// the sum exact in int32, converted once (rounded to float32 where it exceeds
// 2^24), the two multiplies by powers of two exact. Only where
// int16_products_available(C) holds.
void int16_pixel_products(const int32_t* key_words, const float* key_scale, const int32_t* q_words,
                          const float* q_scale, int64_t C2, int64_t lanes, int64_t cols_p, int nv, float* P);

}  // namespace dcsr::kernels::cpu
