// A measure of detail transfer where no ground truth exists (8K mode, real
// pairs): how well the fine detail of a super-resolved image inside the
// telephoto's view matches the telephoto's own, ignoring colour.
//
// Both images show the same view at the same density (the telephoto
// normalised into the output's geometry: for DCSR's canonical layout, Ref/x1
// pixel (r, c) is output pixel (H/2 + r, W/2 + c) of a 2H x 2W output from an
// H x W wide image). On each:
//   Y  = luminance, 0.299 R + 0.587 G + 0.114 B (colour is ignored);
//   D  = G(sigma_fine) * Y - G(sigma_coarse) * Y, a difference of Gaussians
//        (0.5 and 1.2 output px): its response peaks at periods of about
//        2.5-5 output px, the band a x2 super-resolution adds (above the
//        wide image's own Nyquist frequency, period 4). On 4 synthetic
//        pairs the HR scores 0.02-0.21 above bicubic with these; with 0.7
//        and 2 the mid frequencies both share left 0.01-0.10.
// The region (less a margin of `search` pixels) is cut into block x block
// blocks. For each block b, with output band a and telephoto band t:
//   ncc_b = max over shifts |dy|, |dx| <= search of
//           sum a(p) t(p + d) / sqrt(sum a(p)^2 * sum t(p + d)^2)
// (the small search absorbs residual misalignment, as parallax leaves), and
//   correlation = sum_b e_b ncc_b / sum_b e_b, e_b = sqrt(sum t(p)^2) at d = 0,
// so blocks where the telephoto has no detail count little. 1 means the
// output's detail is the telephoto's up to a gain; an output without the
// telephoto's detail (bicubic) scores lower. Also reported:
//   energy_ratio = sum a^2 / sum t^2 over the blocks: the output's detail
//                  energy relative to the telephoto's (bicubic's is small).
// The score of two images is comparable only on the same telephoto and view:
// report the model against bicubic on the same pair, as `dcsr detail` does.
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace dcsr {

struct DetailOptions {
  double sigma_fine = 0.5, sigma_coarse = 1.2;  // output pixels
  int64_t block = 48;                           // block side, output pixels
  int64_t search = 4;                           // largest shift per axis, output pixels
};

struct DetailScore {
  double correlation = 0;   // weighted mean block NCC, in [-1, 1]
  double energy_ratio = 0;  // output band energy / telephoto band energy
  int64_t blocks = 0;
};

// image, ref: (1, 3, h, w) float32 CPU, the same size, h and w at least
// block + 2 search. Fails naming the shapes otherwise.
DetailScore detail_transfer(const Tensor& image, const Tensor& ref, const DetailOptions& options = {});

// The band D of the header for one image: (h, w) values, row-major.
std::vector<float> detail_band(const Tensor& image, const DetailOptions& options);

}  // namespace dcsr
