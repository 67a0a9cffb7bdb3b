#include "dcsr/inference/tiling.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/ops/image.h"
#include "autograd/ops/shape.h"
#include "runtime/allocator.h"
#include "runtime/device.h"
#include "runtime/threads.h"

namespace dcsr {

TileGrid make_tile_grid(int64_t height, int64_t width, Mode mode) {
  DCSR_CHECK(height > 0 && width > 0, "tiled inference: empty LR image ", height, "x", width);
  TileGrid g;
  g.mode = mode;
  g.height = height, g.width = width;
  if (mode == Mode::K4) {
    g.m1 = g.m2 = 126;
  } else if (height < width) {
    g.m1 = 188, g.m2 = 252;
  } else {
    g.m1 = 252, g.m2 = 188;
  }
  g.ny = (height + g.m1 - 1) / g.m1;
  g.nx = (width + g.m2 - 1) / g.m2;
  return g;
}

const char* window_kind_name(WindowKind kind) {
  switch (kind) {
    case WindowKind::A: return "A";
    case WindowKind::B: return "B";
    case WindowKind::C: return "C";
    case WindowKind::D: return "D";
    case WindowKind::E: return "E";
    case WindowKind::Coarse: return "coarse";
  }
  return "?";
}

namespace {

// Where the telephoto's view lies in tile units, and where tiles start in the
// Ref: tiles qy <= j < ey, qx <= i < ex have their core inside the view;
// tile row j starts at Ref row ry(j) = ry0 + 2 m1 j (columns alike).
struct ViewInTiles {
  int64_t qy, ey, qx, ex, ry0, rx0;
};

// §8 step 3's kinds A-E for tile (j, i), checked in this order.
RefWindow window_of_kind(int64_t j, int64_t i, const ViewInTiles& v, int64_t m1, int64_t m2, int64_t ref_h,
                         int64_t ref_w) {
  const int64_t qy = v.qy, ey = v.ey, qx = v.qx, ex = v.ex;
  const int64_t ry = v.ry0 + 2 * m1 * j, rx = v.rx0 + 2 * m2 * i;
  RefWindow w;
  if (qy <= j && j < ey && qx <= i && i < ex) {
    // A: inside the view: the tile's Ref area plus 20 Ref px before and 80 after
    // (the LR context is 20 px = 40 Ref px on each side; the reference adds
    // less before than after).
    w = {WindowKind::A, ry - 20, rx - 20, ry + 2 * m1 + 80, rx + 2 * m2 + 80};
  } else if ((i == qx - 1 && qy - 1 <= j && j < ey) || (j == qy - 1 && qx - 1 <= i && i < ex)) {
    // B: the ring just above/left of the view: start at the view's edge.
    const int64_t r0 = std::max<int64_t>(ry, 0), c0 = std::max<int64_t>(rx, 0);
    w = {WindowKind::B, r0, c0, r0 + 2 * m1 + 100, c0 + 2 * m2 + 100};
  } else if ((i == ex && qy <= j && j <= ey) || (j == ey && qx <= i && i <= ex)) {
    // C: the ring just below/right: a 2m1 x 2m2 window that ends at the view's
    // edge at most (no margin, as the reference).
    const int64_t r0 = std::min(ry, ref_h - 2 * m1), c0 = std::min(rx, ref_w - 2 * m2);
    w = {WindowKind::C, r0, c0, r0 + 2 * m1, c0 + 2 * m2};
  } else if (j == qy - 1 && i == ex) {
    w = {WindowKind::D, 0, ref_w - 2 * m2 - 100, 2 * m1 + 100, ref_w};  // top-right corner
  } else if (j == ey && i == qx - 1) {
    w = {WindowKind::E, ref_h - 2 * m1 - 100, 0, ref_h, 2 * m2 + 100};  // bottom-left corner
  } else {
    return {WindowKind::Coarse, 0, 0, ref_h, ref_w};
  }
  // Python slices clip the end at the size; the start is clipped at 0 here
  // (see the header about negative starts).
  w.r0 = std::clamp<int64_t>(w.r0, 0, ref_h);
  w.c0 = std::clamp<int64_t>(w.c0, 0, ref_w);
  w.r1 = std::clamp<int64_t>(w.r1, w.r0, ref_h);
  w.c1 = std::clamp<int64_t>(w.c1, w.c0, ref_w);
  return w;
}

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

}  // namespace

RefWindow ref_window(int64_t j, int64_t i, int64_t ny, int64_t nx, int64_t m1, int64_t m2, int64_t ref_h,
                     int64_t ref_w) {
  // §8: the view is the central half of the tile grid; Ref row 2 m1 (j - qy)
  // is where tile row j starts in the Ref (twice the density, origin at the
  // view's top edge).
  ViewInTiles v;
  v.qy = ny / 4, v.ey = 3 * ny / 4, v.qx = nx / 4, v.ex = 3 * nx / 4;
  v.ry0 = -2 * m1 * v.qy, v.rx0 = -2 * m2 * v.qx;
  return window_of_kind(j, i, v, m1, m2, ref_h, ref_w);
}

FovRect canonical_view(int64_t lr_h, int64_t lr_w) { return {lr_h / 4, lr_w / 4, lr_h / 2, lr_w / 2}; }

bool uses_canonical_windows(const FovRect* view, int64_t lr_h, int64_t lr_w, int64_t ref_h, int64_t ref_w) {
  if (!view) return true;
  const FovRect c = canonical_view(lr_h, lr_w);
  return view->y0 == c.y0 && view->x0 == c.x0 && view->height == c.height && view->width == c.width &&
         ref_h == lr_h && ref_w == lr_w;
}

RefWindow ref_window_in_view(int64_t j, int64_t i, const TileGrid& grid, const FovRect& view,
                             const FovRect& ref_rect, int64_t ref_h, int64_t ref_w) {
  ViewInTiles v;
  v.qy = ceil_div(view.y0, grid.m1), v.ey = floor_div(view.y0 + view.height, grid.m1);
  v.qx = ceil_div(view.x0, grid.m2), v.ex = floor_div(view.x0 + view.width, grid.m2);
  v.ry0 = -2 * ref_rect.y0, v.rx0 = -2 * ref_rect.x0;
  return window_of_kind(j, i, v, grid.m1, grid.m2, ref_h, ref_w);
}

Tensor coarse_reference(const Tensor& ref) {
  DCSR_CHECK(ref.dim() == 4 && ref.size(0) == 1, "coarse search: expected a Ref (1, C, H, W), got ",
             shape_str(ref.shape()));
  const int64_t hs = ref.size(2) / 16, ws = ref.size(3) / 16;
  if (hs == 0 || ws == 0) return Tensor();  // too small to search
  // Resize in the Ref's own dtype (no float64 copy of a whole image), then
  // widen the small result.
  return bicubic_resize(ref.detach(), hs, ws, /*align_corners=*/false).to(kFloat64);
}

RefWindow coarse_search(const Tensor& tile, const Tensor& ref_small, int64_t ref_h, int64_t ref_w, Tensor* cost) {
  DCSR_CHECK(tile.dim() == 4 && tile.size(0) == 1, "coarse search: expected a tile (1, C, h, w), got ",
             shape_str(tile.shape()));
  const int64_t th = tile.size(2), tw = tile.size(3), hl = th / 8, wl = tw / 8;
  RefWindow whole{WindowKind::Coarse, 0, 0, ref_h, ref_w};
  if (!ref_small.defined() || hl == 0 || wl == 0) return whole;
  DCSR_CHECK(ref_small.dim() == 4 && ref_small.size(1) == tile.size(1), "coarse search: Ref ",
             shape_str(ref_small.shape()), " and tile ", shape_str(tile.shape()), " differ in channels");
  const int64_t c = tile.size(1), hs = ref_small.size(2), ws = ref_small.size(3);
  const int64_t ph = hs - hl + 1, pw = ws - wl + 1;
  if (ph <= 0 || pw <= 0) return whole;
  Tensor lr_small = bicubic_resize(tile.detach(), hl, wl, /*align_corners=*/false).to(kFloat64).to(kCPU);
  Tensor rs = ref_small.to(kFloat64).to(kCPU);
  const double* l = lr_small.data<double>();
  const double* r = rs.data<double>();
  std::vector<double> costs(size_t(ph * pw));
  const double inv_n = 1.0 / double(c * hl * wl);
  // Rows of candidates per thread: at least ~1M absolute differences, so that
  // small searches do not pay for waking threads.
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 20) / std::max<int64_t>(1, pw * c * hl * wl));
  parallel_for(ph, grain, [&](int64_t begin, int64_t end) {
    for (int64_t y = begin; y < end; ++y)
      for (int64_t x = 0; x < pw; ++x) {
        double s = 0.0;
        for (int64_t k = 0; k < c; ++k)
          for (int64_t u = 0; u < hl; ++u) {
            const double* rr = r + (k * hs + y + u) * ws + x;
            const double* ll = l + (k * hl + u) * wl;
            for (int64_t v = 0; v < wl; ++v) s += std::abs(rr[v] - ll[v]);
          }
        costs[size_t(y * pw + x)] = s * inv_n;
      }
  });
  // First minimum in row-major order (torch argmin / numpy argmin).
  int64_t best = 0;
  for (int64_t t = 1; t < ph * pw; ++t)
    if (costs[size_t(t)] < costs[size_t(best)]) best = t;
  if (cost) *cost = from_vector(costs, {ph, pw});
  const int64_t r0 = 16 * (best / pw), c0 = 16 * (best % pw);
  return {WindowKind::Coarse, r0, c0, std::min(r0 + 2 * th, ref_h), std::min(c0 + 2 * tw, ref_w)};
}

RefWindow widen_thin_window(const RefWindow& window, int64_t min_side, int64_t rows, int64_t cols, int64_t ref_h,
                            int64_t ref_w) {
  RefWindow w = window;
  if (w.height() < min_side) {
    w.r1 = std::min(ref_h, std::max(w.r1, w.r0 + rows));
    w.r0 = std::max<int64_t>(0, w.r1 - rows);
  }
  if (w.width() < min_side) {
    w.c1 = std::min(ref_w, std::max(w.c1, w.c0 + cols));
    w.c0 = std::max<int64_t>(0, w.c1 - cols);
  }
  return w;
}

RefWindow fit_window(const RefWindow& window, int64_t multiple) {
  RefWindow w = window;
  w.r1 = w.r0 + (w.height() / multiple) * multiple;
  w.c1 = w.c0 + (w.width() / multiple) * multiple;
  DCSR_CHECK(w.height() > 0 && w.width() > 0, "tiled inference: the Ref window ", window.height(), "x",
             window.width(), " is smaller than the network's block size ", multiple, " (Ref image too small)");
  return w;
}

Tensor extract_tile(const Tensor& lr, int64_t top, int64_t left, int64_t h, int64_t w) {
  return crop_with_zeros(lr, top, left, h, w);
}

namespace {

// Copies the core of one tile map into the output map. The map has `scale`
// times the LR tile's resolution (2 for SR, 1 or 1/2 for the confidence):
// drop kTileContext * scale pixels per side, place at ((j - j0) m1, i m2) *
// scale, clip at the output's end. `out` is the band of the output from tile
// row j0 on (the whole output: j0 = 0).
// tile_map holds a batch of tiles' maps (B, C, h, w); `sample` picks one.
// With core_only, tile_map holds the cores alone (TileOutput::cores_only).
void place_core(const Tensor& tile_map, int64_t sample, Tensor& out, const TileGrid& g, int64_t j0, int64_t j,
                int64_t i, const char* what, bool core_only = false) {
  const Tensor& t = tile_map;  // CPU float32 (run_batch converts it once for the batch)
  const int64_t c = out.size(1), oh = out.size(2), ow = out.size(3);
  DCSR_CHECK(t.dim() == 4 && sample < t.size(0) && t.size(1) == c, "tiled inference: the network's ", what, " ",
             shape_str(t.shape()), " does not have ", c, " channel(s) for tile ", sample + 1, " of its batch");
  const int64_t th = t.size(2), tw = t.size(3);
  // The map is a scale of the tile (or with core_only, of the core): th / from_h as a fraction, and every
  // offset below must be a whole pixel.
  const int64_t from_h = core_only ? g.m1 : g.tile_h(), from_w = core_only ? g.m2 : g.tile_w();
  const char* from = core_only ? "core " : "tile ";
  auto scaled = [&](int64_t v, int64_t num, int64_t den) {
    DCSR_CHECK((v * num) % den == 0, "tiled inference: the network's ", what, " ", shape_str(t.shape()),
               " is not a whole-pixel scale of the ", from, from_h, "x", from_w);
    return v * num / den;
  };
  const int64_t margin_y = core_only ? 0 : scaled(kTileContext, th, from_h);
  const int64_t margin_x = core_only ? 0 : scaled(kTileContext, tw, from_w);
  const int64_t core_h = scaled(g.m1, th, from_h), core_w = scaled(g.m2, tw, from_w);
  DCSR_CHECK(th * from_w == tw * from_h, "tiled inference: the network's ", what, " ", shape_str(t.shape()),
             " is not a uniform scale of the ", from, from_h, "x", from_w);
  const int64_t y0 = (j - j0) * core_h, x0 = i * core_w;
  const int64_t rows = std::min(core_h, oh - y0), cols = std::min(core_w, ow - x0);
  if (rows <= 0 || cols <= 0) return;
  const float* src = t.data<float>() + sample * c * th * tw;
  float* dst = out.data<float>();
  for (int64_t k = 0; k < c; ++k)
    for (int64_t y = 0; y < rows; ++y)
      std::copy_n(src + (k * th + margin_y + y) * tw + margin_x, cols, dst + (k * oh + y0 + y) * ow + x0);
}

}  // namespace

namespace {

// The top-left rows x cols of x (1, C, H, W) as a new tensor, zeros where
// x ends: a crop, or x padded with zeros below and to the right.
Tensor top_left(const Tensor& x, int64_t rows, int64_t cols) { return extract_tile(x, 0, 0, rows, cols); }

// Tile (j, i) of the grid with its context: (1, 3, tile_h, tile_w).
Tensor tile_of(const CompactImage& lr, const TileGrid& g, int64_t j, int64_t i) {
  return lr.crop(j * g.m1 - kTileContext, i * g.m2 - kTileContext, g.tile_h(), g.tile_w());
}

// Adds the seconds from its construction to its end to *total.
class ScopedSeconds {
 public:
  explicit ScopedSeconds(double* total) : total_(total), start_(std::chrono::steady_clock::now()) {}
  ~ScopedSeconds() { *total_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }
  ScopedSeconds(const ScopedSeconds&) = delete;
  ScopedSeconds& operator=(const ScopedSeconds&) = delete;

 private:
  double* total_;
  std::chrono::steady_clock::time_point start_;
};

// A tile of the grid and its Ref window, fitted to whole blocks.
struct PlannedTile {
  int64_t j, i;
  RefWindow window;
};

// Puts the tiles of one Ref window size together: the sizes in the order
// they first appear, row-major within a size. Each tile's result does not
// depend on the order, and the network's buffers are sized by the window,
// so this order makes one size change (one cache release, one set of
// buffers to allocate) per distinct size instead of one at almost every
// turn of a row: a 2016x1512 image in 4K mode has 192 tiles, 58 changes of
// window size in row-major order and 14 distinct sizes. Each release made the
// GPU allocate the next size's buffers anew (cudaMalloc, and cudaFree, which
// waits for the device).
void group_by_window_size(std::vector<PlannedTile>& plan) {
  std::vector<std::pair<int64_t, int64_t>> sizes;  // in order of first appearance
  auto rank = [&](const RefWindow& w) {
    const std::pair<int64_t, int64_t> size{w.height(), w.width()};
    const auto it = std::find(sizes.begin(), sizes.end(), size);
    if (it != sizes.end()) return int64_t(it - sizes.begin());
    sizes.push_back(size);
    return int64_t(sizes.size()) - 1;
  };
  std::vector<int64_t> ranks;
  ranks.reserve(plan.size());
  for (const PlannedTile& t : plan) ranks.push_back(rank(t.window));
  std::vector<size_t> order(plan.size());
  for (size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ranks[a] < ranks[b]; });
  std::vector<PlannedTile> grouped;
  grouped.reserve(plan.size());
  for (size_t k : order) grouped.push_back(plan[k]);
  plan = std::move(grouped);
}

// The outputs of tile rows [j0, j1): the whole image, or one band of it
// (TiledOptions::on_band).
struct OutputBand {
  int64_t j0 = 0, j1 = 0;
  TiledBand maps;
};

// Runs planned tiles through the network, up to options.batch_tiles of one
// window size per call, and places every result into the current band.
//
// One batch deep pipeline: a batch's outputs are copied to the CPU just
// before the next batch's network call, and placed after it. On a GPU the
// call returns once its kernels are queued, so the placing and the next
// tiles' crops run while they execute, instead of leaving the GPU idle
// between tiles; the copy waits for the batch's kernels (they are the
// stream's only work then). On the CPU nothing changes but the order.
// finish() places the last batch: the band is complete after it.
class TileBatcher {
 public:
  TileBatcher(const CompactImage& lr, const CompactImage& ref, const TileGrid& g, const TileForward& forward,
              const TiledOptions& options, TilingTimes& times)
      : lr_(lr), ref_(ref), g_(g), forward_(forward), options_(options), times_(times),
        batch_limit_(std::max<int64_t>(1, options.batch_tiles)), total_(g.ny * g.nx) {}

  // Where the next tiles' results go (their rows must lie in it).
  void set_band(OutputBand* band) { band_ = band; }

  // Queues a tile; the queued batch runs first when the tile's window size
  // differs from it, and when the tile fills it.
  void add(const PlannedTile& t) {
    if (!pending_.empty() &&
        (pending_[0].window.size(2) != t.window.height() || pending_[0].window.size(3) != t.window.width()))
      flush();
    const RefWindow& w = t.window;
    {
      ScopedSeconds timed(&times_.crops);
      pending_.push_back({t.j, t.i, tile_of(lr_, g_, t.j, t.i), ref_.crop(w.r0, w.c0, w.height(), w.width())});
    }
    if (int64_t(pending_.size()) >= batch_limit_) flush();
  }

  // Runs the queued tiles and places every result (the band is then complete).
  void finish() {
    flush();
    place(download(std::exchange(in_flight_, {})));
  }

 private:
  // Runs the queued tiles (their results are placed later: the class comment).
  void flush() {
    if (pending_.empty()) return;
    const int64_t wh = pending_[0].window.size(2), ww = pending_[0].window.size(3);
    // The network's buffers are sized by the Ref window. The caching
    // allocator keeps freed blocks per size class (up to its cache limit,
    // 2 GB by default on the CPU), so a run through many window sizes would
    // keep one set of buffers per size. Releasing the cache when the size
    // changes keeps the peak at one batch's worth; the tiles come grouped by
    // size (group_by_window_size), so this happens once per size.
    if (wh != last_h_ || ww != last_w_) {
      allocator_empty_cache(kCPU);
      if (runtime::cuda_available()) allocator_empty_cache(kCUDA);
      last_h_ = wh, last_w_ = ww;
    }
    run(0, pending_.size());
    pending_.clear();
  }

  struct Pending {
    int64_t j, i;
    Tensor tile, window;  // (1, 3, th, tw), (1, 3, hr, wr)
  };
  // A batch's results and its tiles' places (j, i), in batch order: on the
  // network's device (InFlight), then on the CPU (Downloaded).
  struct InFlight {
    TileOutput out;
    std::vector<std::pair<int64_t, int64_t>> places;
  };
  struct Downloaded {
    Tensor sr, confidence, warped_ref;
    bool cores_only = false;  // TileOutput's
    std::vector<std::pair<int64_t, int64_t>> places;
  };

  // The network on pending_[begin, end) as one batch. A batch that runs out
  // of memory (the caching allocator's error, after it gave back its cache)
  // is run again as two halves, and later batches are no larger than a half:
  // the same results, since each tile's result does not depend on its batch.
  void run(size_t begin, size_t end) {
    const int64_t n = int64_t(end - begin);
    const Downloaded previous = download(std::exchange(in_flight_, {}));
    TileOutput out;
    try {
      ScopedSeconds timed(&times_.network);
      if (n == 1) {
        out = forward_(pending_[begin].tile, pending_[begin].window);
      } else {
        TensorList tiles, windows;
        for (size_t k = begin; k < end; ++k) tiles.push_back(pending_[k].tile), windows.push_back(pending_[k].window);
        out = forward_(concat(tiles, 0), concat(windows, 0));
      }
    } catch (const Error& e) {
      if (n == 1 || std::string(e.what()).find("out of memory") == std::string::npos) throw;
      batch_limit_ = std::min(batch_limit_, n / 2);
      place(previous);
      const size_t middle = begin + size_t(n / 2);
      run(begin, middle);
      run(middle, end);
      return;
    }
    place(previous);
    in_flight_.out = out;
    for (size_t k = begin; k < end; ++k) in_flight_.places.emplace_back(pending_[k].j, pending_[k].i);
  }

  // A batch's results on the CPU (none for an empty batch).
  Downloaded download(InFlight batch) {
    Downloaded d;
    d.places = std::move(batch.places);
    const int64_t n = int64_t(d.places.size());
    if (n == 0) return d;
    const TileOutput& out = batch.out;
    // Twice the tiles' size, or with cores_only twice their cores'.
    const int64_t sr_h = 2 * (out.cores_only ? g_.m1 : g_.tile_h()), sr_w = 2 * (out.cores_only ? g_.m2 : g_.tile_w());
    DCSR_CHECK(out.sr.defined() && out.sr.dim() == 4 && out.sr.size(0) == n && out.sr.size(2) == sr_h &&
                   out.sr.size(3) == sr_w,
               "tiled inference: the network returned SR ", out.sr.defined() ? shape_str(out.sr.shape()) : "none",
               " for ", n, " tile(s) of ", g_.tile_h(), "x", g_.tile_w(), " (expected ", sr_h, "x", sr_w, ")");
    ScopedSeconds timed(&times_.download);
    d.cores_only = out.cores_only;
    d.sr = out.sr.to(kCPU).to(kFloat32);
    if (options_.want_confidence) {
      DCSR_CHECK(out.confidence.defined(), "tiled inference: the network gave no confidence map");
      d.confidence = out.confidence.to(kCPU).to(kFloat32);
    }
    if (options_.want_warped_ref) {
      DCSR_CHECK(out.warped_ref.defined(), "tiled inference: the network gave no warped Ref");
      d.warped_ref = out.warped_ref.to(kCPU).to(kFloat32);
    }
    return d;
  }

  void place(const Downloaded& d) {
    const int64_t n = int64_t(d.places.size());
    if (n == 0) return;
    {
      ScopedSeconds timed(&times_.placing);
      place_all(d);
    }
    if (options_.progress)
      for (int64_t b = 0; b < n; ++b) options_.progress(++done_, total_);
  }

  // Places a batch's results into the current band.
  void place_all(const Downloaded& d) {
    const Tensor &sr = d.sr, &confidence = d.confidence, &warped_ref = d.warped_ref;
    const int64_t n = int64_t(d.places.size());
    if (options_.want_confidence) {
      if (!band_->maps.confidence.defined()) {
        // Output size = the image at the confidence's scale, rounded up; the
        // band has its tile rows' share of it (place_core checks the scale).
        const int64_t ch = confidence.size(2), cw = confidence.size(3);
        const int64_t rows = (g_.height * ch + g_.tile_h() - 1) / g_.tile_h(), core_rows = g_.m1 * ch / g_.tile_h();
        band_->maps.confidence_row = band_->j0 * core_rows;
        band_->maps.confidence_height = rows;
        band_->maps.confidence = empty({1, 1, std::min(rows, band_->j1 * core_rows) - band_->maps.confidence_row,
                                        (g_.width * cw + g_.tile_w() - 1) / g_.tile_w()});
      }
    }
    for (int64_t b = 0; b < n; ++b) {
      const auto [j, i] = d.places[size_t(b)];
      const int64_t j0 = band_->j0;
      place_core(sr, b, band_->maps.sr, g_, j0, j, i, "SR", d.cores_only);
      if (options_.want_confidence) place_core(confidence, b, band_->maps.confidence, g_, j0, j, i, "confidence");
      if (options_.want_warped_ref)
        place_core(warped_ref, b, band_->maps.warped_ref, g_, j0, j, i, "warped Ref", d.cores_only);
    }
  }

  const CompactImage& lr_;
  const CompactImage& ref_;
  const TileGrid& g_;
  const TileForward& forward_;
  const TiledOptions& options_;
  TilingTimes& times_;
  OutputBand* band_ = nullptr;
  int64_t batch_limit_;  // shrinks when a batch runs out of memory, for the rest of the image
  const int64_t total_;
  int64_t done_ = 0;
  int64_t last_h_ = -1, last_w_ = -1;  // the Ref window size of the batch before
  std::vector<Pending> pending_;  // same window size, at most batch_limit_
  InFlight in_flight_;            // the batch run last, not yet placed
};

}  // namespace

TiledResult tiled_inference(const Tensor& lr, const Tensor& ref, Mode mode, const TileForward& forward,
                            const TiledOptions& options) {
  DCSR_CHECK(lr.dim() == 4 && lr.size(0) == 1 && lr.size(1) == 3 && lr.is_cpu() && lr.dtype() == kFloat32,
             "tiled inference: LR must be a CPU float32 image (1, 3, H, W), got ", shape_str(lr.shape()));
  DCSR_CHECK(ref.dim() == 4 && ref.size(0) == 1 && ref.size(1) == 3 && ref.is_cpu() && ref.dtype() == kFloat32,
             "tiled inference: Ref must be a CPU float32 image (1, 3, H, W), got ", shape_str(ref.shape()));
  return tiled_inference(CompactImage(lr), CompactImage(ref), mode, forward, options);
}

TiledResult tiled_inference(const CompactImage& lr, const CompactImage& ref, Mode mode, const TileForward& forward,
                            const TiledOptions& options) {
  NoGradGuard no_grad;
  // Images narrower than kMinTiledSide in either direction (down to 1x1: the
  // docs promise any size) are too small for the network's pyramid (features
  // at 1/4 of the Ref window, reflection padding, whole Ref blocks). Such a
  // canonical pair runs padded with zeros below and to the right, which is
  // what every tile already reads beyond the image's end (extract_tile), and
  // the outputs are cropped back; a registered view is never this small (the
  // registration needs 32x32).
  if (!options.view && (lr.height() < kMinTiledSide || lr.width() < kMinTiledSide) && ref.height() == lr.height() &&
      ref.width() == lr.width()) {
    const int64_t H = lr.height(), W = lr.width();
    const int64_t h = std::max(H, kMinTiledSide), w = std::max(W, kMinTiledSide);
    TiledOptions whole = options;
    whole.on_band = nullptr;  // a small image is one band
    TiledResult padded = tiled_inference(lr.crop(0, 0, h, w), ref.crop(0, 0, h, w), mode, forward, whole);
    padded.sr = top_left(padded.sr, 2 * H, 2 * W);
    if (padded.warped_ref.defined()) padded.warped_ref = top_left(padded.warped_ref, 2 * H, 2 * W);
    if (padded.confidence.defined())  // at the map's scale, rounded up
      padded.confidence = top_left(padded.confidence, (H * padded.confidence.size(2) + h - 1) / h,
                                   (W * padded.confidence.size(3) + w - 1) / w);
    if (options.on_band) {
      options.on_band({0, 0, padded.sr, padded.confidence, padded.warped_ref,
                       padded.confidence.defined() ? padded.confidence.size(2) : 0});
      padded.sr = padded.confidence = padded.warped_ref = Tensor();
    }
    return padded;
  }
  const TileGrid g = make_tile_grid(lr.height(), lr.width(), mode);
  const int64_t ref_h = ref.height(), ref_w = ref.width();
  const int64_t block = big_block(mode);  // Ref windows must be whole blocks of AA1/AA3
  const FovRect* view = options.view ? &*options.view : nullptr;
  const bool canonical = !options.ref_rect && uses_canonical_windows(view, g.height, g.width, ref_h, ref_w);
  const FovRect ref_rect = options.ref_rect ? *options.ref_rect : view ? *view : FovRect{};
  if (!canonical) {
    DCSR_CHECK(view, "tiled inference: a Ref rectangle was given without the view");
    DCSR_CHECK(ref_h == 2 * ref_rect.height && ref_w == 2 * ref_rect.width, "tiled inference: the Ref is ", ref_w,
               "x", ref_h, " but its rectangle ", ref_rect.width, "x", ref_rect.height,
               " needs twice its size (normalise_reference)");
    DCSR_CHECK(ref_rect.y0 <= view->y0 && ref_rect.x0 <= view->x0 &&
                   view->y0 + view->height <= ref_rect.y0 + ref_rect.height &&
                   view->x0 + view->width <= ref_rect.x0 + ref_rect.width,
               "tiled inference: the Ref's rectangle (", ref_rect.x0, ", ", ref_rect.y0, ") ", ref_rect.width, "x",
               ref_rect.height, " does not hold the view (", view->x0, ", ", view->y0, ") ", view->width, "x",
               view->height);
  }
  TiledResult result;

  // Pass 1, row-major: every tile's Ref window (the coarse searches run here).
  const auto planning_start = std::chrono::steady_clock::now();
  std::vector<PlannedTile> plan;
  plan.reserve(size_t(g.ny * g.nx));
  Tensor ref_small;  // made on the first coarse tile
  bool have_ref_small = false;
  for (int64_t j = 0; j < g.ny; ++j)
    for (int64_t i = 0; i < g.nx; ++i) {
      RefWindow w = canonical ? ref_window(j, i, g.ny, g.nx, g.m1, g.m2, ref_h, ref_w)
                              : ref_window_in_view(j, i, g, *view, ref_rect, ref_h, ref_w);
      if (w.kind == WindowKind::Coarse) {
        if (!have_ref_small) ref_small = coarse_reference(ref.to_tensor()), have_ref_small = true;
        w = coarse_search(tile_of(lr, g, j, i), ref_small, ref_h, ref_w);
      }
      ++result.window_counts[size_t(w.kind)];
      w = fit_window(widen_thin_window(w, min_window_side(mode), 2 * g.m1, 2 * g.m2, ref_h, ref_w), block);
      if (options.on_window) options.on_window(j, i, w);
      plan.push_back({j, i, w});
    }
  result.times.windows = std::chrono::duration<double>(std::chrono::steady_clock::now() - planning_start).count();

  // Pass 2: the network, band by band (one band for the whole image without
  // on_band), a window size at a time within a band.
  const int64_t images = options.want_warped_ref ? 2 : 1;  // SR and warped Ref, float32
  const int64_t tile_row_bytes = images * 3 * (2 * g.m1) * (2 * g.width) * int64_t(sizeof(float));
  const int64_t band_tile_rows =
      options.on_band ? std::clamp<int64_t>(options.band_bytes / tile_row_bytes, 1, g.ny) : g.ny;
  TileBatcher batcher(lr, ref, g, forward, options, result.times);
  for (int64_t j0 = 0; j0 < g.ny; j0 += band_tile_rows) {
    OutputBand band;
    band.j0 = j0, band.j1 = std::min(g.ny, j0 + band_tile_rows);
    band.maps.sr_row = 2 * g.m1 * j0;
    const int64_t rows = std::min(2 * g.m1 * band.j1, 2 * g.height) - band.maps.sr_row;
    band.maps.sr = empty({1, 3, rows, 2 * g.width});
    if (options.want_warped_ref) band.maps.warped_ref = empty({1, 3, rows, 2 * g.width});
    std::vector<PlannedTile> band_plan(plan.begin() + j0 * g.nx, plan.begin() + band.j1 * g.nx);  // row-major
    group_by_window_size(band_plan);
    batcher.set_band(&band);
    for (const PlannedTile& t : band_plan) batcher.add(t);
    batcher.finish();
    if (options.on_band) {
      options.on_band(band.maps);
    } else {
      result.sr = band.maps.sr, result.confidence = band.maps.confidence, result.warped_ref = band.maps.warped_ref;
    }
  }
  return result;
}

}  // namespace dcsr
