// Winograd convolutions on the CPU: float32 3x3 stride-1 dense convolutions
// as F(4x4, 3x3) or F(2x2, 3x3), and 5x5 ones as F(2x2, 5x5)
// (winograd_transforms.h), the forward pass
// with its epilogue (bias, residual, LeakyReLU) fused into the output
// transform. conv2d.cpp routes such convolutions here when the plan
// (winograd_plan.h) says this is faster than its direct path; the input
// gradient of a stride-1 conv is a forward conv of grad_y with the flipped
// kernel, so it comes here too. The weight gradient has its own driver
// (winograd_backward_weight, winograd_weight.cpp), which reuses the input
// transform.
//
// Work is cut into groups of eight tiles side by side (8m output columns of
// m rows), and jobs of block / 8 consecutive groups (one tile row of a wide
// image, several of a narrow one): each job applies the input transform to every channel (V: (m+2)^2
// positions x Cin x block; the input is read in place, windows that cross
// the image's edge through masked loads where the ISA has them (else staged
// with zeros)), multiplies every position's transformed weights (U: Cout x
// Cin, kept between calls: packed_weights) by its V (M: positions x Cout x
// block), and applies the output transform, the bias and the epilogue
// (residual, LeakyReLU) in registers, straight into y, channel by channel
// (an edge group's rows through masked stores, or staged, copied and given
// the epilogue after where the ISA has none). Where the ISA has sixteen-tile
// transforms (AVX-512, F(4x4)), two adjacent groups of a tile row go through
// them together. For tensors out of the last-level cache the multiply is cut
// into chunks and the next steps' lines are prefetched between them.
// Scratch per thread: V and M, about 300 KB for 64 channels and 16 tiles
// (600 KB for 32), which stays in L2.
//
// A 5x5 stride-2 conv comes here as the 3x3 one over its input's pixel
// phases (conv_space_to_depth.h), whose input windows are staged from the
// input's every second row and column (PhaseInput) rather than read from
// phase planes written out first.
//
// The three steps have a portable version and AVX2 and AVX-512 versions
// (winograd_avx2.cpp, winograd_avx512.cpp, compiled for their ISA with
// function attributes), chosen per call by cpu_isa() (isa.h).
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "kernels/cpu/conv2d_common.h"
#include "kernels/cpu/isa.h"

namespace dcsr::kernels::cpu {

// Whether a convolution can take the 3x3 Winograd paths: 3x3, stride 1, one
// group, padding 0..2.
inline bool winograd_applies(const ConvShape& s) {
  return s.k == 3 && s.stride == 1 && s.groups == 1 && s.pad >= 0 && s.pad <= 2 && s.Ho > 0 && s.Wo > 0;
}

// The Winograd variants, named by the `m` every function here takes: 2 and 4
// are F(m x m, 3x3) (m the output tile), kF2x5 is F(2x2, 5x5), a 5x5 kernel
// on a 6 x 6 tile, and kF4x5 F(4x4, 5x5) on an 8 x 8 tile (forward only: 5x5
// weight gradients stay direct).
constexpr int kF2x5 = 5;
constexpr int kF4x5 = 7;
inline int out_tile(int m) { return m == kF2x5 ? 2 : m == kF4x5 ? 4 : m; }
inline int kernel_taps(int m) { return m == kF2x5 || m == kF4x5 ? 5 : 3; }
inline int in_tile(int m) { return out_tile(m) + kernel_taps(m) - 1; }

// Whether F(2x2, 5x5) applies: 5x5, stride 1, one group, padding 0..4.
inline bool winograd_5x5_applies(const ConvShape& s) {
  return s.k == 5 && s.stride == 1 && s.groups == 1 && s.pad >= 0 && s.pad <= 4 && s.Ho > 0 && s.Wo > 0;
}

// The input of winograd_forward given as the pixel phases of a larger image
// (conv_space_to_depth.h) rather than as s.Cin planes of s.H x s.W: x is
// then (N, s.Cin / 4, H, W), and the phase channel ci * 4 + 2 ry + rx of s's
// input is x[n][ci][2 i + ry][2 j + rx] at (i, j), 0 outside the H x W
// image (which also covers s's padding and the rows and columns past an odd
// side). Every input window is staged from x (Kernels::stage_phase_window),
// so the phases are never written out whole.
struct PhaseInput {
  int64_t H = 0, W = 0;  // the source image's size (s.H = ceil(H / 2), s.W = ceil(W / 2))
};

// A second input beside x: the conv's input is then the concat of the two
// along the channels, never written out. x holds the first first_planes
// planes of each image ((N, first_planes, ...)), this x the rest ((N, P -
// first_planes, ...)), P the planes of an image (s.Cin, or with PhaseInput
// its source planes, s.Cin / 4).
struct SecondInput {
  const float* x = nullptr;
  int64_t first_planes = 0;
};

// Plane c of image n of an input of `planes` planes of plane_floats floats
// each: x's, or with `second`, x's first second->first_planes, then
// second->x's.
inline const float* input_plane(const float* x, const SecondInput* second, int64_t planes, int64_t plane_floats,
                                int64_t n, int64_t c) {
  if (second == nullptr) return x + (n * planes + c) * plane_floats;
  const int64_t first = second->first_planes;
  return c < first ? x + (n * first + c) * plane_floats : second->x + (n * (planes - first) + c - first) * plane_floats;
}

// y (N, Cout, Ho, Wo) = epilogue(conv(x, w) + b) for a shape where
// winograd_applies (m = 2 or 4, the output tile) or winograd_5x5_applies
// (m = kF2x5 or kF4x5). b may be null. With `phases` (the forward only), x
// holds the source image of s's input's pixel phases (PhaseInput). With
// `second`, the input is x's planes and second's side by side (SecondInput).
// With epilogue.pooled set, y is not written (it may be null): the 2x2 max pool of
// each group's output rows goes to epilogue.pooled instead (no residual). Returns
// false, having done nothing, when the scratch does not fit `limit` bytes.
bool winograd_forward(const ConvShape& s, const float* x, const float* w, const float* b, float* y, int64_t limit,
                      const Epilogue& epilogue, int m, CpuIsa isa, const PhaseInput* phases = nullptr,
                      const SecondInput* second = nullptr);

// grad_w (Cout, Cin, 3, 3) = the weight gradient of y = conv(x, w) given
// grad_y (N, Cout, Ho, Wo), for a shape where winograd_applies, through
// F(m x m, 3x3), m = 2 or 4 (winograd_weight.cpp):
//   dW[co][ci] = G^T [ sum over images and tiles of (A dY A^T) . (B^T X B) ] G.
// Returns false, having done nothing, when the scratch does not fit `limit`
// bytes. The same result for the same thread count (fixed job ranges per
// thread, partial sums added in thread order).
bool winograd_backward_weight(const ConvShape& s, const float* gy, const float* x, float* gw, int64_t limit, int m,
                              CpuIsa isa);

namespace winograd {

// Copies the window of `rows` x `cols` pixels at (y0, x0) of an H x W plane
// into dst (row stride cols), zero outside the plane.
void stage_window(const float* plane, int64_t H, int64_t W, int64_t y0, int64_t x0, int64_t rows, int64_t cols,
                  float* dst);
// Copies every second pixel of every second row of an H x W plane from
// (y0, x0) on into dst (rows x cols, row stride cols): dst[i][j] =
// plane[y0 + 2 i][x0 + 2 j], 0 outside the plane: a window of one pixel
// phase (PhaseInput). The portable Kernels::stage_phase_window.
void stage_phase_window(const float* plane, int64_t H, int64_t W, int64_t y0, int64_t x0, int64_t rows, int64_t cols,
                        float* dst);

// A bounded cache of arrays derived from a conv's weights (their Winograd
// transform, the phases' rearrangement), by the weights' address: a
// network's layers run on tile after tile with the same weights. An entry is
// used only where the parameters it was made for match and its copy of the
// weights matches the call's byte for byte (a memcmp, far cheaper than
// remaking it), so weights changed in place, or new ones at a freed address,
// are derived afresh. Past max_bytes (the weights' copies and the arrays
// together) it starts over.
class WeightsCache {
 public:
  explicit WeightsCache(size_t max_bytes) : max_bytes_(max_bytes) {}
  // The `floats` floats make(out) writes from the w_floats weights at w, for
  // `params` (what else they depend on: shapes, tile, panel width); kept
  // from an earlier call, or made now (outside the cache's lock).
  template <typename Make>
  std::shared_ptr<const std::vector<float>> get(const float* w, int64_t w_floats, const std::vector<int64_t>& params,
                                                int64_t floats, const Make& make) {
    if (auto kept = find(w, w_floats, params)) return kept;
    auto made = std::make_shared<std::vector<float>>(size_t(floats));
    make(made->data());
    keep(w, w_floats, params, made);
    return made;
  }

 private:
  struct Entry {
    std::vector<int64_t> params;
    std::vector<float> weights;  // the weights it was made from
    std::shared_ptr<const std::vector<float>> derived;
    size_t bytes() const { return (weights.size() + derived->size()) * sizeof(float); }
  };
  std::shared_ptr<const std::vector<float>> find(const float* w, int64_t w_floats, const std::vector<int64_t>& params);
  void keep(const float* w, int64_t w_floats, const std::vector<int64_t>& params,
            std::shared_ptr<const std::vector<float>> derived);
  const size_t max_bytes_;
  std::mutex mutex_;
  std::unordered_map<const float*, Entry> entries_;
  size_t bytes_ = 0;
};

struct Kernels;

// U for variant m, weights w (Cout, Cin, taps, taps) and panels of mr output
// channels (u_floats floats, the layout Kernels::multiply reads), from a
// WeightsCache of recent calls (keyed by w's address, checked against w's
// bytes), or transformed now (winograd.cpp).
std::shared_ptr<const std::vector<float>> packed_weights(const ConvShape& s, const float* w, int m, int64_t mr,
                                                         int64_t u_floats);

// The part of an input window that lies inside the plane: rows [row_lo,
// row_hi) and columns [col_lo, col_hi) of the window; zero padding elsewhere.
struct EdgeBounds {
  int row_lo = 0, row_hi = 0, col_lo = 0, col_hi = 0;
};

// The input transform of one group of eight tiles, every input channel: the
// in_tile(m) x (8 out_tile(m) + taps - 1) window of image n whose top-left is output pixel (y0, x0)
// less the padding, read in place or, where it crosses the image's edge,
// staged in `window` first (or read in place by Kernels::input_edge). Writes channel ci's values to v + ci * block (the
// group's columns of V; position stride v_pos). Shared by the forward and the
// weight gradient.
// With `phases` (the forward only), x is the source image of s's pixel
// phases and every window is staged from it (PhaseInput); with `second`,
// the input's planes are x's and second's (SecondInput).
void input_group(const Kernels& kern, int m, const ConvShape& s, const float* x, int64_t n, int64_t y0, int64_t x0,
                 float* v, int64_t block, int64_t v_pos, float* window, const PhaseInput* phases = nullptr,
                 const SecondInput* second = nullptr);
// input_group for two adjacent whole groups through Kernels::input16 (m = 4;
// the forward only): the 6 x 66 window at (y0, x0) less the padding, staged
// in `window` (6 x 66 floats) where it crosses the image's edge and the ISA
// has no input16_edge.
void input_group_pair(const Kernels& kern, const ConvShape& s, const float* x, int64_t n, int64_t y0, int64_t x0,
                      float* v, int64_t block, int64_t v_pos, float* window, const PhaseInput* phases = nullptr,
                      const SecondInput* second = nullptr);

// One ISA's versions of the three steps, for variant m (2, 4, kF2x5 or kF4x5; P =
// in_tile(m)^2 positions). The transforms handle eight tiles side by side (a row of 8m
// output columns); a job multiplies `block` tiles at once (a multiple of 8).
struct Kernels {
  int64_t mr = 1;     // output channels per panel of the packed U
  int64_t block = 8;  // tiles per job
  // p: the top-left corner of the (m+2) x (8m+2) input window of eight tiles
  // of one channel, row stride ld (read in place, or a staged copy at the
  // image's edges). Writes the P values of tile t to v[pos*pos_stride + t].
  void (*input)(int m, const float* p, int64_t ld, float* v, int64_t pos_stride);
  // For each of `positions` consecutive positions: mo[pos] (cout x block) =
  // U[pos] (cout x cin) v[pos] (cin x block). u: positions x panels x cin x mr
  // (pack_weights); v: positions x cin x block, position stride v_pos; mo:
  // positions x cout x block, position stride m_pos. (The driver may take
  // the P positions in chunks, prefetching between them.)
  void (*multiply)(int64_t positions, const float* u, const float* v, int64_t v_pos, float* mo, int64_t m_pos,
                   int64_t cin, int64_t cout);
  // out (m rows of 8m, row stride ld) = the epilogue of bias + the output
  // transform of the P values mo[pos*pos_stride + t] of eight tiles t: then
  // + residual (same rows and stride as out, when not null), then LeakyReLU
  // with `slope` (when it is not 1), in apply_epilogue's order and roundings.
  void (*output)(int m, const float* mo, int64_t pos_stride, float bias, float* out, int64_t ld,
                 const float* residual, float slope);
  // Optional (null where an ISA has none; AVX-512 has them): F(4x4, 3x3)
  // on sixteen tiles, two adjacent groups at once, as input and output for
  // m = 4. The sixteen tiles lie in V and M in an order of these two
  // functions' own (not t = 0..15), so a pair of groups must go through both
  // or through neither. input16's window is 6 x 66 at p; output16 writes 4
  // rows of 64.
  void (*input16)(const float* p, int64_t ld, float* v, int64_t pos_stride) = nullptr;
  void (*output16)(const float* mo, int64_t pos_stride, float bias, float* out, int64_t ld, const float* residual,
                   float slope) = nullptr;
  // Optional (null where an ISA has none: the window is then staged with
  // zeros first): input and input16 for a window that crosses the plane's
  // edge, reading in place only the rows and columns inside it (e), the
  // rest as zeros, with the same results as on a staged copy. p and the rows
  // at p + i * ld outside e may lie outside the plane; they are not read.
  void (*input_edge)(int m, const float* p, int64_t ld, const EdgeBounds& e, float* v, int64_t pos_stride) = nullptr;
  void (*input16_edge)(const float* p, int64_t ld, const EdgeBounds& e, float* v, int64_t pos_stride) = nullptr;
  // Optional, likewise (null: the output goes through a staged copy): output
  // and output16 for a group at the output's edge, storing (and reading the
  // residual of) only its first `rows` rows and `cols` columns.
  void (*output_edge)(int m, const float* mo, int64_t pos_stride, float bias, float* out, int64_t ld,
                      const float* residual, float slope, int rows, int cols) = nullptr;
  void (*output16_edge)(const float* mo, int64_t pos_stride, float bias, float* out, int64_t ld,
                        const float* residual, float slope, int rows, int cols) = nullptr;
  // Optional (null: the portable winograd::stage_phase_window): the
  // stage_phase_window of this ISA, which stages every input window of a
  // PhaseInput forward.
  void (*stage_phase_window)(const float* plane, int64_t H, int64_t W, int64_t y0, int64_t x0, int64_t rows,
                             int64_t cols, float* dst) = nullptr;
  // Optional (null: staged by stage_phase_window, then input16):
  // input16 on the 6 x 66 window of one pixel phase from (y0, x0) of an
  // H x W plane, as stage_phase_window would stage it.
  void (*input16_phase)(const float* plane, int64_t H, int64_t W, int64_t y0, int64_t x0, float* v,
                        int64_t pos_stride) = nullptr;
};

// One ISA's versions of the weight gradient's own steps (the input transform
// is Kernels::input). Per job of `block` tiles, for every position pos of
// the P = (m+2)^2: acc[pos] (Cout x Cin) += Z[pos] (Cout x block) V[pos]^T,
// a GEMM over the tiles. Output channels are padded to a multiple of mr and
// input channels to a multiple of nr in Z and acc (zero rows, unused columns).
struct WeightKernels {
  int64_t mr = 1, nr = 1;  // output x input channels of the accumulate's register block
  int64_t block = 8;       // tiles per job (a multiple of 8)
  // p: the top-left corner of the m x 8m window of grad_y of eight tiles of
  // one channel, row stride ld. Writes the P values of A dY A^T of tile t to
  // z[pos*pos_stride + t].
  void (*gradient)(int m, const float* p, int64_t ld, float* z, int64_t pos_stride);
  // z: P x cout_pad x block, position stride z_pos; v: P x cin x block
  // (Kernels::input's layout), position stride v_pos; vt: scratch of
  // block x cin_pad floats, its columns past cin zero; acc: P x cout_pad x
  // cin_pad, accumulated into.
  void (*accumulate)(int m, const float* z, int64_t z_pos, const float* v, int64_t v_pos, float* vt, float* acc,
                     int64_t cin, int64_t cout_pad, int64_t cin_pad);
};

const WeightKernels& generic_weight_kernels();
const WeightKernels& avx2_weight_kernels();    // call only where isa_supported(kAvx2)
const WeightKernels& avx512_weight_kernels();  // call only where isa_supported(kAvx512)
const WeightKernels& weight_kernels_for(CpuIsa isa);

const Kernels& generic_kernels();
const Kernels& avx2_kernels();    // call only where isa_supported(kAvx2)
const Kernels& avx512_kernels();  // call only where isa_supported(kAvx512)
const Kernels& kernels_for(CpuIsa isa);

}  // namespace winograd

}  // namespace dcsr::kernels::cpu
