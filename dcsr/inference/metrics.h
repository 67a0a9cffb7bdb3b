// Image quality metrics of the evaluation protocol (dcsr-spec §11): PSNR and
// SSIM on the luma (Y) channel, over the whole image and inside the
// telephoto's field of view.
//
// Images are (1, 3, H, W) RGB in [0, 1], float32 or float64, on the CPU.
// When the two sizes differ, both are cropped to their common top-left
// region first (the reference's rule).
#pragma once
#include <cstdint>

#include "tensor/tensor.h"

namespace dcsr {

// round(clamp(x * 255, 0, 255)) / 255: the 8-bit quantisation the reference
// applies to SR before measuring (and that saving a PNG applies). Same
// shape, dtype and device.
Tensor quantize(const Tensor& x);

// BT.601 luma weights of the reference (EDSR's calc_psnr): (65.738, 129.057,
// 25.064) / 256 on values in [0, 1]. PSNR applies them to the RGB difference,
// so the 16/255 offset of Y cancels.
constexpr double kLumaR = 65.738 / 256.0, kLumaG = 129.057 / 256.0, kLumaB = 25.064 / 256.0;
constexpr double kLumaOffset = 16.0 / 255.0;

// PSNR (peak 1) of the Y difference after shaving `shave` pixels off every
// border (2 = the scale, as the reference). Returns +infinity for identical
// images (evaluate_pair caps it). Does not quantise: call quantize() first, as
// evaluate_pair() does.
double psnr_y(const Tensor& sr, const Tensor& hr, int64_t shave = 2);

// The ceiling of the PSNRs evaluate_pair reports, in dB. An output identical
// to its HR has an infinite PSNR, and one such image made a dataset's mean
// infinite, hiding every other image; so every PSNR above 100 dB counts as
// 100 dB, as many SR evaluation codes cap it, and a mean stays the plain mean
// of the numbers printed per image. Above it lie only images that match their
// HR but for a few values one 8-bit level off (an MSE below 1e-10 on Y): a
// near-exact image does not outrank an exact one.
constexpr double kPsnrCeiling = 100.0;

// SSIM (Wang et al. 2004) on Y = 16/255 + luma weights . RGB (the full
// MATLAB rgb2ycbcr Y in [0, 1] units): 11x11 Gaussian window, sigma 1.5,
// K1 = 0.01, K2 = 0.03, dynamic range L = 1; local statistics over 'valid'
// windows only (no padding, as MATLAB's ssim_index with filter2 'valid'),
// averaged over the map, after shaving `shave` pixels per border. The
// reference has no SSIM (spec §11, §17.6); this is the common SR-paper
// protocol (also TTSR's window). Images smaller than 11x11 after shaving are
// an error.
double ssim_y(const Tensor& sr, const Tensor& hr, int64_t shave = 2);

// A rectangle of an image: rows [top, top + height), cols [left, left + width).
struct Region {
  int64_t top = 0, left = 0, height = 0, width = 0;
};

// The telephoto's field of view inside an output (or any) image of H x W: the
// central half in each dimension, rows [H/4, H/4 + H/2), cols [W/4, W/4 + W/2)
// (integer division), as the data geometry of spec §10.1 assumes.
Region fov_region(int64_t height, int64_t width);

// x[..., top:top+height, left:left+width] as a new contiguous CPU tensor. x: (N, C, H, W).
Tensor crop(const Tensor& x, const Region& region);

struct QualityScores {
  double psnr = 0, ssim = 0;          // whole image (shave 2)
  double psnr_fov = 0, ssim_fov = 0;  // central half (no shave: the region is interior)
};

// Quantises both images, then measures the four numbers, each PSNR at most
// kPsnrCeiling. The FoV region is taken from the common size of the two images.
QualityScores evaluate_pair(const Tensor& sr, const Tensor& hr);

}  // namespace dcsr
