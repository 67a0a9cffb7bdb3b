// Test-time tiled inference (dcsr-spec §8): the LR image is cut into tiles
// (a core plus 20 px of context on every side), each tile is matched against
// a Ref window chosen from the dual-camera geometry (canonically the
// telephoto sees the central half of the wide view at twice the density and
// Ref has the LR's pixel size; a registered pair gives any axis-aligned view,
// TiledOptions::view), the network runs per tile, and the central 2*core part
// of each SR tile is placed into the output.
//
// Differences from the reference wrapper, on purpose:
// * Any LR size works. The reference crops the LR to whole tiles and never
//   super-resolves the bottom/right remainder; here the tile grid is
//   ceil(H / m1) x ceil(W / m2), tiles read zeros beyond the image (exactly
//   what the reference's 20 px zero padding gives at the top/left), and the
//   output is cropped to 2H x 2W. For sizes that are multiples of the core
//   (the 4K worked example) nothing changes.
// * Memory does not grow with the image beyond the input and output images:
//   one tile (or one batch of TiledOptions::batch_tiles) at a time, no
//   autograd, cores written straight into the preallocated output, tiles cut
//   from the LR on the fly (no padded copy), and the 1/16 Ref of the coarse
//   search computed once per image. With TiledOptions::on_band the output is
//   not held whole either: it leaves band by band as the tile rows finish.
// * Window ends are clipped to the Ref and window starts to 0 (the reference
//   would wrap a negative Python start index, which only happens for images
//   smaller than about two tiles), then trimmed to a multiple of the block
//   size the network needs (2 in 4K mode, 4 in 8K mode).
//
// Tiled and whole-image results of the DCSR network differ everywhere, not
// only near tile borders, here as in the reference: the matching extractor
// upsamples with align_corners=True (§3.1), whose sample positions depend on
// the input size, and the network's receptive field (~45 LR px) exceeds the
// 20 px context. A network whose output is local (tests/test_tiling.cpp's
// stub) gives identical results.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <optional>

#include "dcsr/model/config.h"
#include "dcsr/registration/registration.h"
#include "io/image_io.h"
#include "tensor/tensor.h"

namespace dcsr {

constexpr int64_t kTileContext = 20;  // LR pixels of context on each side of a core
constexpr int64_t kTileDrop = 40;     // SR pixels dropped on each side of an SR tile (2 * context)
constexpr int64_t kMinTiledSide = 32; // smaller canonical images run padded to this (tiled_inference)

struct TileGrid {
  Mode mode = Mode::K4;
  int64_t height = 0, width = 0;  // the LR image
  int64_t m1 = 0, m2 = 0;         // core rows and columns
  int64_t ny = 0, nx = 0;         // tile rows and columns: ceil(H / m1), ceil(W / m2)
  int64_t tile_h() const { return m1 + 2 * kTileContext; }
  int64_t tile_w() const { return m2 + 2 * kTileContext; }
};

// Cores: 4K mode 126 x 126; 8K mode (188, 252) for landscape (H < W), else (252, 188).
TileGrid make_tile_grid(int64_t height, int64_t width, Mode mode);

// The categories of §8 step 3, checked in this order.
enum class WindowKind { A, B, C, D, E, Coarse };
const char* window_kind_name(WindowKind kind);  // "A" ... "E", "coarse"

// A Ref window: rows [r0, r1), cols [c0, c1).
struct RefWindow {
  WindowKind kind = WindowKind::Coarse;
  int64_t r0 = 0, c0 = 0, r1 = 0, c1 = 0;
  int64_t height() const { return r1 - r0; }
  int64_t width() const { return c1 - c0; }
};

// The Ref window of tile (j, i) of an ny x nx grid with cores m1 x m2 and a
// Ref of ref_h x ref_w, clipped to the Ref (starts at 0, ends at the size).
// For WindowKind::Coarse it is the whole Ref (the coarse search picks the
// real window).
RefWindow ref_window(int64_t j, int64_t i, int64_t ny, int64_t nx, int64_t m1, int64_t m2, int64_t ref_h,
                     int64_t ref_w);

// The canonical view of an lr_h x lr_w LR: {H/4, W/4, H/2, W/2} (spec §10.1).
FovRect canonical_view(int64_t lr_h, int64_t lr_w);

// Whether ref_window() (today's rules, written for the canonical layout) is
// the one to use: no view given, or the canonical view with a Ref of the LR's
// size. tiled_inference() keeps exactly today's windows for such pairs.
bool uses_canonical_windows(const FovRect* view, int64_t lr_h, int64_t lr_w, int64_t ref_h, int64_t ref_w);

// §8's windows generalised to a view at any FovRect (normalise_reference:
// Ref pixel (r, c) shows LR (ref_rect.y0 + r/2, ref_rect.x0 + c/2), the Ref
// is 2 ref_rect.height x 2 ref_rect.width and ref_rect holds the view).
// Tiles whose core lies inside the view are qy <= j < ey, qx <= i < ex with
// qy = ceil(y0 / m1), ey = floor((y0 + h) / m1) (columns alike), tile row j
// starts at Ref row 2 (j m1 - ref_rect.y0), and the kinds A-E and their
// margins are §8's with these (clipped to the Ref, which may reach beyond the
// view). For a canonical LR whose sides are multiples of 4 cores this is
// ref_window() exactly; for other sizes §8's grid-fraction rule (qy = ny / 4)
// and this one can differ by a tile.
RefWindow ref_window_in_view(int64_t j, int64_t i, const TileGrid& grid, const FovRect& view,
                             const FovRect& ref_rect, int64_t ref_h, int64_t ref_w);
// The Ref exactly over the view (ref_rect = view).
inline RefWindow ref_window_in_view(int64_t j, int64_t i, const TileGrid& grid, const FovRect& view, int64_t ref_h,
                                    int64_t ref_w) {
  return ref_window_in_view(j, i, grid, view, view, ref_h, ref_w);
}

// The Ref at 1/16 for the coarse search: bicubic to (Hr / 16, Wr / 16), torch
// 1.4 rule (spec §1). It depends on the Ref only, so it is made once per image.
// ref: (1, 3, Hr, Wr) -> (1, 3, Hr/16, Wr/16), float64.
Tensor coarse_reference(const Tensor& ref);

// §8 step 4: lr_s = bicubic(tile, (th/8, tw/8)); slide lr_s over ref_small
// (stride 1, valid); cost = mean |difference| over C*h*w; first (row-major)
// minimum t; window rows [16 (t // P), +2 th), cols [16 (t % P), +2 tw),
// clipped to ref_h x ref_w. When lr_s does not fit inside ref_small (a Ref
// smaller than about two tiles) there is nothing to search and the window is
// the whole Ref. tile: (1, 3, th, tw); ref_small from coarse_reference().
// `cost`, when given, receives the (Hs-h+1, Ws-w+1) float64 cost map.
RefWindow coarse_search(const Tensor& tile, const Tensor& ref_small, int64_t ref_h, int64_t ref_w,
                        Tensor* cost = nullptr);

// A window with fewer than `min_side` rows (or columns) is widened to
// `rows` (`cols`), forward as far as the Ref allows and then back from its
// end, as a kind C window is. §8's windows for the ring before the view start
// at the tile's own Ref row, and for some sizes that row lies a pixel or
// three before the Ref's end (canonical pairs in 4K mode with an LR side of
// 253-255 or 757-759 and the other at least 379; in 8K mode 377-383 or
// 1129-1135 and at least 757); the reference's slice would then hold too few
// rows for the network. Every other window is returned as it is.
RefWindow widen_thin_window(const RefWindow& window, int64_t min_side, int64_t rows, int64_t cols, int64_t ref_h,
                            int64_t ref_w);

// The fewest Ref rows and columns a window may have in `mode`: two blocks
// (below that, the key features of the 3x3 patches would be one pixel thin,
// which their reflection padding cannot take).
inline int64_t min_window_side(Mode mode) { return 2 * big_block(mode); }

// Trims the window's end so that both sizes are multiples of `multiple`
// (the network's Ref block grid). Fails when nothing would be left.
RefWindow fit_window(const RefWindow& window, int64_t multiple);

// (1, C, h, w) = lr[:, :, top:top+h, left:left+w] with zeros outside the image
// (top/left may be negative). lr: (1, C, H, W) float32 on the CPU
// (io/image_io.h's crop_with_zeros).
Tensor extract_tile(const Tensor& lr, int64_t top, int64_t left, int64_t h, int64_t w);

// What the network gives for one tile. sr: (1, 3, 2 th, 2 tw). confidence
// (optional): (1, 1, th * f, tw * f) with f = 1 (4K mode) or 1/2 (8K mode).
// warped_ref (optional): (1, 3, 2 th, 2 tw). Any device.
// cores_only: sr and warped_ref hold only the cores, (B, 3, 2 m1, 2 m2): the
// SR tile less kTileDrop pixels a side, all that tiled inference places
// (DcsrNet::forward's sr_margin, which then skips work outside them).
struct TileOutput {
  Tensor sr, confidence, warped_ref;
  bool cores_only = false;
};
// lr_tile: (B, 3, th, tw) and ref_window: (B, 3, hr, wr), both CPU float32;
// B = 1 unless TiledOptions::batch_tiles allows more, and the outputs then
// hold B tiles in the same order.
using TileForward = std::function<TileOutput(const Tensor& lr_tile, const Tensor& ref_window)>;

// A band of finished output rows (TiledOptions::on_band): whole tile rows,
// top to bottom. sr holds rows [sr_row, sr_row + sr.size(2)) of the SR image
// (1, 3, rows, 2W), warped_ref the same rows, confidence rows
// [confidence_row, ...) of the confidence map; each only when asked for.
struct TiledBand {
  int64_t sr_row = 0, confidence_row = 0;
  Tensor sr, confidence, warped_ref;
  int64_t confidence_height = 0;  // rows of the whole confidence map
};

struct TiledOptions {
  bool want_confidence = false;
  bool want_warped_ref = false;
  // Tiles run through the network together, up to this many: tiles whose
  // Ref windows have the same size, stacked into one batch (the tiles run
  // grouped by window size, row-major within a size). More tiles per call
  // give a GPU more work per kernel, but a whole 2016x1512 image in 4K mode
  // (width 32) took about as long with 8 tiles per call as with 1: 4.46-4.51 s
  // against 4.37-4.57 s of tiled inference on an H200, 3.89 against 3.98 s on
  // an H100 (its kernels bound it). So 1 stays the default everywhere. The
  // peak memory grows with the batch. Each tile's result is the one it gets
  // alone (tests/test_tiling.cpp). A batch that runs out of memory runs again
  // as two halves, and the image's later batches stay at most that size.
  int64_t batch_tiles = 1;
  // Called after every tile with (tiles done, tiles in all).
  std::function<void(int64_t, int64_t)> progress;
  // Called with every tile's (j, i, window), row-major, before the network
  // runs on any of them: for tests and logs.
  std::function<void(int64_t, int64_t, const RefWindow&)> on_window;
  // Where the Ref lies in LR pixels (normalise_reference). Unset: the
  // canonical layout, today's §8 windows (also when it is the canonical view
  // and the Ref has the LR's size: see uses_canonical_windows()).
  std::optional<FovRect> view;
  // Where the Ref lies in LR pixels when it reaches beyond the view
  // (normalise_reference's ref_rect; holds the view). Unset: the view.
  std::optional<FovRect> ref_rect;
  // Streaming the outputs. Set, it gets the outputs band by band, top to
  // bottom, each as soon as every tile over it has run, and TiledResult's
  // images stay undefined: the outputs then take one band of memory (at most
  // band_bytes of float32 output, but never less than one tile row), not the
  // whole image, so that an image of any height fits (`dcsr sr` writes the
  // bands to the file as they come: ImageFileWriter). Within a band the tiles
  // run grouped by window size; an image whose outputs fit in band_bytes is
  // one band and runs exactly as without on_band. Each tile's result is the
  // same either way.
  std::function<void(const TiledBand&)> on_band;
  int64_t band_bytes = int64_t(256) << 20;
};

// Where tiled_inference's wall time went, in seconds (for `dcsr sr`'s timing
// line and the GPU check): choosing the Ref windows (pass 1, with the coarse
// searches); cutting the tiles and windows out of the images; the network's
// calls (on a GPU mostly the host launching kernels, as they run
// asynchronously); the outputs' copies to the CPU (on a GPU: waiting for the
// kernels still queued); placing the results into the output band. The rest
// of the time goes to the callbacks (progress, on_band's writing).
struct TilingTimes {
  double windows = 0, crops = 0, network = 0, download = 0, placing = 0;
};

struct TiledResult {
  Tensor sr;          // (1, 3, 2H, 2W) float32, CPU
  Tensor confidence;  // (1, 1, H f, W f) when asked for (f as in TileOutput; sizes rounded up)
  Tensor warped_ref;  // (1, 3, 2H, 2W) when asked for
  std::array<int64_t, 6> window_counts{};  // tiles per WindowKind (A, B, C, D, E, coarse)
  TilingTimes times;
};

// Runs `forward` tile by tile under NoGradGuard: first every tile's Ref
// window is chosen (row-major), then the tiles run grouped by window size
// (within each band of TiledOptions::on_band). lr: (1, 3, H, W) and ref:
// (1, 3, Hr, Wr), float32 CPU, any sizes. Without options.view the geometry
// assumes the canonical layout (Ref of the LR's size, spec §10.1); with it,
// ref_window_in_view() (Ref = twice options.ref_rect, or the view, checked).
TiledResult tiled_inference(const Tensor& lr, const Tensor& ref, Mode mode, const TileForward& forward,
                            const TiledOptions& options = {});
// The same on images held compactly (io/image_io.h: 8-bit samples where the
// file has 8 bits, as `dcsr sr` reads its pair): each tile and Ref window is
// cut from them as float32, the same values, so the results are the same
// bytes; the whole float32 Ref is made once, for the coarse search's 1/16 Ref.
TiledResult tiled_inference(const CompactImage& lr, const CompactImage& ref, Mode mode, const TileForward& forward,
                            const TiledOptions& options = {});

}  // namespace dcsr
