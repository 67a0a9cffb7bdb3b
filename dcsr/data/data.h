// Datasets in the CameraFusion layout and the training patch sampler
// (dcsr-spec §10.1, §10.2).
//
//   ROOT/HR/       the wide image (2h x 2w)           target of basic training and evaluation
//   ROOT/LR/x2/    the wide image at 1/2 (h x w)      network input, basic (4K mode)
//   ROOT/Ref/x2/   the telephoto at 1/2 (h x w)       reference, basic (4K mode)
//   ROOT/LR/x1/    the wide image at full size        network input and target, SRA (8K mode)
//   ROOT/Ref/x1/   the telephoto at full size         reference, SRA (8K mode)
//
// Files are paired by sorted name (position i of each sorted folder listing).
// Geometry (spec §10.1): the telephoto shows the central half of the wide
// view at twice the density, so Ref/x2 has the LR's pixel size and Ref/x2
// pixel (r, c) shows LR position (h/4 + r/2, w/4 + c/2); Ref/x1 and LR/x1
// likewise at full size.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "io/image_io.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace dcsr {

// Basic: LR/x2 + Ref/x2 -> HR. Sra: LR/x1 + Ref/x1, the target is the LR itself.
enum class DatasetKind { Basic, Sra };

struct DatasetFiles {
  std::string root;
  DatasetKind kind = DatasetKind::Basic;
  std::vector<std::string> lr, ref, hr;  // hr empty for Sra
  int64_t size() const { return int64_t(lr.size()); }
};

// Lists the folders of `kind`. Fails with a clear message when the root or a
// folder is missing, a folder holds no images, or the counts differ.
DatasetFiles list_dataset(const std::string& root, DatasetKind kind);

// Checks the sizes of pair `index` (LR h x w): Ref must be h x w, HR (Basic)
// 2h x 2w. Fails naming the files and sizes.
void check_pair_sizes(const DatasetFiles& files, int64_t index, const ImageInfo& lr, const ImageInfo& ref,
                      const ImageInfo* hr);

// One pair as 8-bit images (hr empty for Sra).
struct ImagePair {
  std::string name;  // the LR file name
  ImageU8 lr, ref, hr;
};

// All pairs of a dataset in memory as 8-bit RGB (a quarter of float32).
class Dataset {
 public:
  Dataset(const std::string& root, DatasetKind kind);
  int64_t size() const { return int64_t(pairs_.size()); }
  DatasetKind kind() const { return files_.kind; }
  const DatasetFiles& files() const { return files_; }
  const ImagePair& pair(int64_t index) const { return pairs_.at(size_t(index)); }
  // Fails naming the first image whose LR is too small for `patch` (see can_sample_patch).
  void check_patch_size(int64_t patch) const;

 private:
  DatasetFiles files_;
  std::vector<ImagePair> pairs_;
};

// ---- §10.2 patch sampling ----

// The random choices for one training sample, drawn in this order from the
// generator: y, x (LR top-left), delta (Ref shift), horizontal flip, vertical
// flip, rot90 count.
struct PatchDraw {
  int64_t y = 0, x = 0;  // LR crop top-left
  int64_t delta = 0;     // Ref shift in [0, 30], the same for rows and columns
  bool hflip = false, vflip = false;
  int64_t rot90 = 0;  // counter-clockwise quarter turns, 0..3
};

// Whether an LR of lr_h x lr_w admits an LR crop of `patch` inside the
// telephoto's view: h/4 <= y <= 3h/4 - patch - 15 needs 3h/4 - h/4 >= patch + 15.
bool can_sample_patch(int64_t lr_h, int64_t lr_w, int64_t patch);

// y uniform in [h/4, 3h/4 - p + 1 - 15), x likewise with w (integer division,
// as the reference), delta uniform in [0, 30], flips with probability 1/2,
// rot90 count uniform in {0, 1, 2, 3}. The reference draws the rot90 count
// from NumPy's global RNG, which torch 1.4 does not re-seed in its loader
// workers, so all workers repeat one sequence (spec §10.2); we draw it from
// the same generator as everything else instead.
PatchDraw draw_patch(int64_t lr_h, int64_t lr_w, int64_t patch, Generator& gen);

// One sample, float32 in [0, 1]: lr (3, p, p) = LR[y:y+p, x:x+p]; ref
// (3, 2p, 2p) = Ref[2(y - h/4) + delta : +2p, 2(x - w/4) + delta : +2p];
// target (3, 2p, 2p) = HR[2y:2y+2p, 2x:2x+2p] (Basic) or the LR crop (Sra).
// The same flips and rotation are applied to all three (flips first, then
// np.rot90's counter-clockwise turns).
struct Patch {
  Tensor lr, ref, target;
};
Patch cut_patch(const ImagePair& pair, DatasetKind kind, const PatchDraw& draw, int64_t patch);

// Stacked samples: lr (B, 3, p, p), ref (B, 3, 2p, 2p), target (B, 3, 2p, 2p) or (B, 3, p, p).
struct Batch {
  Tensor lr, ref, target;
};
// One draw_patch + cut_patch per entry of `image_indices`, in order.
Batch make_batch(const Dataset& data, const std::vector<int64_t>& image_indices, int64_t patch, Generator& gen);
// The samples [begin, end) of that batch (a data-parallel rank's share):
// every sample's draw is still made, so `gen` ends where make_batch leaves it
// and the shares of all ranks together are exactly make_batch's batch.
Batch make_batch_share(const Dataset& data, const std::vector<int64_t>& image_indices, int64_t patch, Generator& gen,
                       int64_t begin, int64_t end);

// The sample order of one epoch: every image index repeated `repeats` times
// (the reference's num_patch; image = sample % n_images), shuffled
// (Fisher-Yates) with a generator seeded from (seed, epoch), so any epoch's
// order can be rebuilt on resume.
std::vector<int64_t> epoch_order(int64_t n_images, int64_t repeats, uint64_t seed, int64_t epoch);

}  // namespace dcsr
