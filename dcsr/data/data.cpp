#include "dcsr/data/data.h"

#include <algorithm>
#include <filesystem>

namespace dcsr {
namespace fs = std::filesystem;

namespace {

std::vector<std::string> list_folder(const std::string& root, const std::string& sub) {
  std::string dir = (fs::path(root) / sub).string();
  std::error_code ec;
  DCSR_CHECK(fs::is_directory(dir, ec), "dataset '", root, "': folder '", sub,
             "' is missing (expected the CameraFusion layout HR/, LR/x2/, Ref/x2/, LR/x1/, Ref/x1/; "
             "`dcsr prepare` makes one from photos)");
  std::vector<std::string> files = list_images(dir);
  DCSR_CHECK(!files.empty(), "dataset '", root, "': folder '", sub, "' holds no images (.png .jpg .jpeg .bmp .heic .heif .avif)");
  return files;
}

std::string size_str(const ImageInfo& info) { return std::to_string(info.width) + "x" + std::to_string(info.height); }
std::string name_of(const std::string& path) { return fs::path(path).filename().string(); }

}  // namespace

DatasetFiles list_dataset(const std::string& root, DatasetKind kind) {
  std::error_code ec;
  DCSR_CHECK(fs::is_directory(root, ec), "dataset folder '", root, "' does not exist");
  DatasetFiles files;
  files.root = root;
  files.kind = kind;
  const std::string lr_sub = kind == DatasetKind::Basic ? "LR/x2" : "LR/x1";
  const std::string ref_sub = kind == DatasetKind::Basic ? "Ref/x2" : "Ref/x1";
  files.lr = list_folder(root, lr_sub);
  files.ref = list_folder(root, ref_sub);
  DCSR_CHECK(files.ref.size() == files.lr.size(), "dataset '", root, "': ", lr_sub, " has ", files.lr.size(),
             " images but ", ref_sub, " has ", files.ref.size(), " (files are paired by sorted name)");
  if (kind == DatasetKind::Basic) {
    files.hr = list_folder(root, "HR");
    DCSR_CHECK(files.hr.size() == files.lr.size(), "dataset '", root, "': ", lr_sub, " has ", files.lr.size(),
               " images but HR has ", files.hr.size(), " (files are paired by sorted name)");
  }
  // Paired by sorted name, so a pair's files carry one name (any extension):
  // a renamed or missing file would otherwise pair every later image with its
  // neighbour's, and measure it so without a word.
  for (size_t i = 0; i < files.lr.size(); ++i)
    for (const std::vector<std::string>* other : {&files.ref, &files.hr}) {
      if (other->empty()) continue;
      const fs::path a = fs::path(files.lr[i]), b = fs::path((*other)[i]);
      DCSR_CHECK(a.stem() == b.stem(), "dataset '", root, "': pair ", i + 1, " (by sorted name) is '", a.string(),
                 "' with '", b.string(), "': the names differ (a pair's files must share a name; is one missing?)");
    }
  return files;
}

void check_pair_sizes(const DatasetFiles& files, int64_t index, const ImageInfo& lr, const ImageInfo& ref,
                      const ImageInfo* hr) {
  const std::string& lr_path = files.lr[size_t(index)];
  DCSR_CHECK(ref.height == lr.height && ref.width == lr.width, "dataset '", files.root, "': Ref '",
             files.ref[size_t(index)], "' is ", size_str(ref), " but its LR '", lr_path, "' is ", size_str(lr),
             " (the reference image must have the LR's pixel size, spec §10.1)");
  if (hr) {
    DCSR_CHECK(hr->height == 2 * lr.height && hr->width == 2 * lr.width, "dataset '", files.root, "': HR '",
               files.hr[size_t(index)], "' is ", size_str(*hr), " but its LR '", lr_path, "' is ", size_str(lr),
               " (HR must be exactly twice the LR size)");
  }
}

Dataset::Dataset(const std::string& root, DatasetKind kind) : files_(list_dataset(root, kind)) {
  pairs_.resize(size_t(files_.size()));
  for (int64_t i = 0; i < files_.size(); ++i) {
    ImagePair& p = pairs_[size_t(i)];
    p.name = name_of(files_.lr[size_t(i)]);
    p.lr = read_image_u8(files_.lr[size_t(i)]);
    p.ref = read_image_u8(files_.ref[size_t(i)]);
    ImageInfo hr_info;
    if (kind == DatasetKind::Basic) {
      p.hr = read_image_u8(files_.hr[size_t(i)]);
      hr_info = {p.hr.height, p.hr.width, 3};
    }
    check_pair_sizes(files_, i, {p.lr.height, p.lr.width, 3}, {p.ref.height, p.ref.width, 3},
                     kind == DatasetKind::Basic ? &hr_info : nullptr);
  }
}

void Dataset::check_patch_size(int64_t patch) const {
  DCSR_CHECK(patch >= 4 && patch % 2 == 0, "patch size must be even and >= 4, got ", patch);
  for (int64_t i = 0; i < size(); ++i) {
    const ImageU8& lr = pairs_[size_t(i)].lr;
    DCSR_CHECK(can_sample_patch(lr.height, lr.width, patch), "dataset '", files_.root, "': LR '",
               files_.lr[size_t(i)], "' (", lr.width, "x", lr.height, ") is too small for patch size ", patch,
               ": patches are sampled inside the telephoto's view (the central half), which needs a width and height of about 2 * (patch + 15) or more");
  }
}

namespace {
// The end (exclusive) of the LR crop's top (or left) along a side of n LR
// pixels: the spec's 3n/4 - p + 1 - 15 (§10.2), but never so far that the
// Ref crop, 2p long at 2 (y - n/4) + delta with delta up to 30, ends past the
// n-pixel Ref/x2. For n = 4k + 3 the spec's bound reaches one pixel past it
// (the reference's batch of such crops would not stack); for every other n
// the spec's bound is the smaller, so the draws are the spec's.
int64_t crop_start_end(int64_t n, int64_t patch) {
  const int64_t spec = 3 * n / 4 - patch + 1 - 15;
  const int64_t room = n - 2 * patch - 30;  // where the Ref crop may start, at delta 30
  const int64_t ref_fits = n / 4 + (room >= 0 ? room / 2 : -((1 - room) / 2)) + 1;  // floor(room / 2)
  return std::min(spec, ref_fits);
}
}  // namespace

bool can_sample_patch(int64_t lr_h, int64_t lr_w, int64_t patch) {
  auto ok = [&](int64_t n) { return crop_start_end(n, patch) > n / 4; };
  return ok(lr_h) && ok(lr_w);
}

PatchDraw draw_patch(int64_t lr_h, int64_t lr_w, int64_t patch, Generator& gen) {
  DCSR_CHECK(can_sample_patch(lr_h, lr_w, patch), "draw_patch: LR ", lr_w, "x", lr_h, " is too small for patch ",
             patch);
  PatchDraw d;
  d.y = gen.randint(lr_h / 4, crop_start_end(lr_h, patch));
  d.x = gen.randint(lr_w / 4, crop_start_end(lr_w, patch));
  d.delta = gen.randint(0, 31);
  d.hflip = gen.uniform01() < 0.5;
  d.vflip = gen.uniform01() < 0.5;
  d.rot90 = gen.randint(0, 4);
  return d;
}

namespace {

// out (3, s, s) float = augmented crop of `image` at (top, left), s x s.
// Output pixel (y, x) reads the crop at the position found by undoing the
// rotations (np.rot90 once: out[y][x] = in[x][s-1-y]), then the vertical flip
// (in[s-1-y][x]), then the horizontal flip (in[y][s-1-x]).
void cut_augmented(const ImageU8& image, int64_t top, int64_t left, int64_t s, const PatchDraw& d, float* out) {
  DCSR_CHECK(top >= 0 && left >= 0 && top + s <= image.height && left + s <= image.width, "cut_patch: crop (", top,
             ", ", left, ") of ", s, "x", s, " outside the ", image.width, "x", image.height, " image");
  const int64_t hw = image.height * image.width;
  for (int64_t y = 0; y < s; ++y)
    for (int64_t x = 0; x < s; ++x) {
      int64_t sy = y, sx = x;
      for (int64_t k = 0; k < d.rot90; ++k) {
        int64_t ny = sx, nx = s - 1 - sy;
        sy = ny, sx = nx;
      }
      if (d.vflip) sy = s - 1 - sy;
      if (d.hflip) sx = s - 1 - sx;
      const int64_t src = (top + sy) * image.width + left + sx;
      for (int64_t c = 0; c < 3; ++c) out[(c * s + y) * s + x] = float(image.data[size_t(c * hw + src)]) / 255.0f;
    }
}

}  // namespace

Patch cut_patch(const ImagePair& pair, DatasetKind kind, const PatchDraw& d, int64_t p) {
  const int64_t h = pair.lr.height, w = pair.lr.width;
  Patch out;
  out.lr = empty({3, p, p});
  out.ref = empty({3, 2 * p, 2 * p});
  cut_augmented(pair.lr, d.y, d.x, p, d, out.lr.data<float>());
  cut_augmented(pair.ref, 2 * (d.y - h / 4) + d.delta, 2 * (d.x - w / 4) + d.delta, 2 * p, d, out.ref.data<float>());
  if (kind == DatasetKind::Basic) {
    out.target = empty({3, 2 * p, 2 * p});
    cut_augmented(pair.hr, 2 * d.y, 2 * d.x, 2 * p, d, out.target.data<float>());
  } else {
    out.target = out.lr;  // SRA: the LR crop is its own target (spec §10.4)
  }
  return out;
}

Batch make_batch(const Dataset& data, const std::vector<int64_t>& image_indices, int64_t p, Generator& gen) {
  return make_batch_share(data, image_indices, p, gen, 0, int64_t(image_indices.size()));
}

Batch make_batch_share(const Dataset& data, const std::vector<int64_t>& image_indices, int64_t p, Generator& gen,
                       int64_t begin, int64_t end) {
  DCSR_CHECK(!image_indices.empty(), "make_batch: no samples");
  DCSR_CHECK(0 <= begin && begin <= end && end <= int64_t(image_indices.size()), "make_batch: share [", begin, ", ",
             end, ") of ", image_indices.size(), " samples");
  const int64_t b = end - begin;
  const int64_t tp = data.kind() == DatasetKind::Basic ? 2 * p : p;
  Batch batch{empty({b, 3, p, p}), empty({b, 3, 2 * p, 2 * p}), empty({b, 3, tp, tp})};
  for (int64_t n = 0; n < int64_t(image_indices.size()); ++n) {
    const ImagePair& pair = data.pair(image_indices[size_t(n)]);
    // Every sample is drawn, so that the generator moves the same on every
    // rank; only the share's samples are cut.
    const PatchDraw draw = draw_patch(pair.lr.height, pair.lr.width, p, gen);
    if (n < begin || n >= end) continue;
    Patch s = cut_patch(pair, data.kind(), draw, p);
    const int64_t k = n - begin;
    std::copy_n(s.lr.data<float>(), s.lr.numel(), batch.lr.data<float>() + k * s.lr.numel());
    std::copy_n(s.ref.data<float>(), s.ref.numel(), batch.ref.data<float>() + k * s.ref.numel());
    std::copy_n(s.target.data<float>(), s.target.numel(), batch.target.data<float>() + k * s.target.numel());
  }
  return batch;
}

std::vector<int64_t> epoch_order(int64_t n_images, int64_t repeats, uint64_t seed, int64_t epoch) {
  DCSR_CHECK(n_images > 0 && repeats > 0, "epoch_order: ", n_images, " images x ", repeats, " repeats");
  std::vector<int64_t> order(size_t(n_images * repeats));
  for (size_t i = 0; i < order.size(); ++i) order[i] = int64_t(i) % n_images;
  // A stream of its own per epoch (PCG streams are independent sequences).
  Generator gen(seed, 0x5A3C0000u + uint64_t(epoch));
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[size_t(gen.randint(0, int64_t(i)))]);
  return order;
}

}  // namespace dcsr
