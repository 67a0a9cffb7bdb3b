// The operators that make DCSR what it is (dcsr-spec §4, §5, §9): patch
// matching, block transfer, the aligned sampler, and the losses. Memory is
// designed: the matching and the contextual loss work in tiles and never
// build a full (keys x queries) or (features x features) matrix.
#pragma once
#include <cstdint>

#include "tensor/tensor.h"

namespace dcsr {

// ---- §4.1 patch matching ----

// 3x3 descriptors of a feature map: reflection padding 1, unfold 3x3 (stride
// 1, PyTorch order: channel, ky, kx), each column L2-normalised (eps 1e-12).
// feats: (N, C, H, W) -> (N, 9C, H*W).
Tensor patch_descriptors(const Tensor& feats);

struct MatchResult {
  Tensor confidence;  // differentiable
  Tensor index;       // int64, not differentiable
};

// For every query column q_i: max_j <k_j, q_i> and its argmax (FIRST index on
// ties, like torch.max). q: (N, D, Nq), k: (N, D, Nk) -> confidence (N, Nq),
// index (N, Nq) in [0, Nk). Tiled GEMM with a running max/argmax: extra memory
// is bounded by match_tile_limit() bytes, not by Nq*Nk. Backward is sparse:
// dq_i = g_i k_{I_i},  dk_j += sum over i with I_i = j of g_i q_i.
MatchResult max_cosine(const Tensor& q, const Tensor& k);
void set_match_tile_limit(int64_t bytes);  // default 64 MB
int64_t match_tile_limit();

// The whole of §4.1: query features (N, C, h, w), key features (N, C, H, W)
// -> confidence (N, 1, h, w) and index (N, h*w) into the row-major H x W key grid.
MatchResult patch_match(const Tensor& query, const Tensor& key);

// ---- §4.2 block transfer ----

// Copies, for every query position (row-major over an out_h x out_w grid),
// the block x block patch of `value` chosen by its index into the output
// mosaic, without overlap. value: (N, C, Hv, Wv) with Hv, Wv multiples of
// `block`, cut into a (Hv/block) x (Wv/block) block grid; index: (N,
// out_h*out_w) int64 into that grid -> (N, C, out_h*block, out_w*block).
// Backward: scatter-add into value.
Tensor block_gather(const Tensor& value, const Tensor& index, int64_t block, int64_t out_h, int64_t out_w);

// ---- §5 aligned sampler ----

// How bilinear sampling treats points at or beyond the last row/column.
enum class GridBorder {
  Zeros,          // corners outside the image contribute 0 (grid_sample padding_mode='zeros')
  Clamp,          // the point is clamped into the image (padding_mode='border')
  DcsrReference,  // the reference AlignedConv2d rule (spec §5 step 7): corner indices
                  // floor(P) and floor(P)+1 and P itself clamped to [0, size-1], weights
                  // 1 + (q0 - P) and 1 - (q1 - P) from the clamped values: a point outside
                  // (or exactly on the last row/column) counts the border pixel twice per axis.
};

// Bilinear sampling at arbitrary points. x: (N, C, H, W); grid: (N, 2, Ho, Wo)
// with grid[:, 0] = row and grid[:, 1] = column in pixel units of x (integer
// = pixel centre) -> (N, C, Ho, Wo). Differentiable in x and in grid (the
// floor is not differentiated; a clamp zeroes the gradient where it acts).
Tensor grid_sample(const Tensor& x, const Tensor& grid, GridBorder border);

// The per-block sampling grid of §5 steps 4 and 6. params: (N, 3, h, w) raw
// predictions; a = clamp(params + 1, -3, 3); row scale a0, column scale a1,
// rotation (a2 - 1) * 1.0472 rad. For block (u, v) and in-block pixel (a, b):
// P = centre + R(theta) applied to (o_r s_r, o_c s_c), o = (a, b) - (k-1)/2,
// centre = (k u + 1 + (k-1)/2, k v + 1 + (k-1)/2), i.e. coordinates in the
// mosaic padded by 1 -> grid (N, 2, h*k, w*k). Differentiable in params.
Tensor aligned_grid(const Tensor& params, int64_t block);

// §5 steps 5-8: reflection-pad the mosaic by 1, then grid_sample with the
// DcsrReference border rule at aligned_grid(params, block).
// mosaic: (N, C, h*k, w*k), params: (N, 3, h, w) -> (N, C, h*k, w*k).
Tensor aligned_sample(const Tensor& mosaic, const Tensor& params, int64_t block);

// ---- §9 losses ----

// Mean absolute / squared difference over all elements -> scalar.
Tensor l1_loss(const Tensor& a, const Tensor& b);
Tensor mse_loss(const Tensor& a, const Tensor& b);

// The confidence-weighted contextual loss of §9.2 on given feature maps,
// band width h: x (N, C, Hx, Wx), y (N, C, Hy, Wy) -> scalar (mean over the
// batch of -log(cx + 1e-5)). Two tiled passes (row minimum and normaliser,
// then column maximum with its argmax): memory bounded by the tile, never
// (Hx Wx) x (Hy Wy).
Tensor contextual_loss(const Tensor& x, const Tensor& y, double band_width = 0.5);
// The same with the centre given: mu (1, C, 1, 1), e.g. the mean of y over the
// global batch of a data-parallel step (nn/distributed.h).
Tensor contextual_loss(const Tensor& x, const Tensor& y, const Tensor& mu, double band_width = 0.5);

}  // namespace dcsr
