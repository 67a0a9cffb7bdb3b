// `dcsr sr` on folders (--lr-dir/--ref-dir/--out-dir): the pairs, and their
// processing, one process or sharded over the ranks of `mpirun -np N`
// (dcsr/inference/shard_reports.h). The single-pair mode and the options are
// in cmd_sr.cpp.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "dcsr/inference/tiling.h"
#include "dcsr/model/config.h"
#include "dcsr/registration/registration.h"
#include "io/image_io.h"
#include "tensor/tensor.h"

namespace dcsr::cli {

// The options shared by both modes.
struct SrSettings {
  Mode mode = Mode::K4;
  std::string registration = "auto";
  bool quiet = false;
  ImageWriteOptions write;  // --bit-depth, --quality: the SR images' format options
  int64_t tile_batch = 1;   // --tile-batch: tiles per network call (TiledOptions::batch_tiles)
  int64_t band_bytes = TiledOptions{}.band_bytes;  // the outputs' band (output_band_bytes())
  bool write_behind = false;  // the outputs written on a thread of their own (write_behind_for())
};

// The output band of `dcsr sr` (TiledOptions::band_bytes): DCSR_OUTPUT_BAND_MIB
// in the environment, a whole number of MiB from 1 to 1048576 (for tests, and
// for a tighter memory budget), else 256 MiB. A bad value is an Error naming it.
int64_t output_band_bytes();

// Whether `dcsr sr` writes its outputs behind the inference: each band is
// converted, coded and written on a thread of its own while the next band is
// computed, and bands are at most kWriteBehindBandBytes so that there is more
// than one. On a GPU the host's PNG or JPEG coding then overlaps the device's
// kernels instead of following them; on the CPU the coding would only take
// cores from the inference (and hold a second band of memory). So: the
// environment's DCSR_WRITE_BEHIND (1 or 0; anything else is an Error naming
// it), else on for CUDA and off for the CPU. The files are the same bytes.
bool write_behind_for(Device device);
constexpr int64_t kWriteBehindBandBytes = int64_t(32) << 20;


// The pair as the tiling takes it: the LR, the Ref and where the Ref lies.
// The images are held compactly (8-bit samples where the file has 8 bits:
// io/image_io.h's CompactImage), a registered Ref as the float32 it is made.
struct PreparedPair {
  CompactImage lr, ref;
  std::optional<FovRect> view;      // unset: the canonical layout, today's path
  std::optional<FovRect> ref_rect;  // where ref lies (holds the view); set with it
  std::string registration_line;
  PhotoMetadata wide_metadata;  // the wide image's colour profile and EXIF block, carried to the SR image
  // The tiling's options for this pair's geometry (view and ref_rect).
  void place(TiledOptions& options) const { options.view = view, options.ref_rect = ref_rect; }
};

// A registration JSON file as `dcsr register --json` writes it (cmd_sr.cpp;
// `dcsr sr` and `dcsr detail`); a bad file fails naming it and --registration.
Registration read_registration_file(const std::string& path);

// Reads and registers one pair (cmd_sr.cpp). registration: "auto", "none" or a JSON file.
PreparedPair prepare_pair(const std::string& lr_path, const std::string& ref_path, const std::string& registration);

class OutputFiles;  // cli.h

// Where one pair's outputs go: the SR image, and the confidence map and the
// warped Ref when their paths are not empty; all declared in the OutputFiles.
struct SrOutputPaths {
  std::string sr, confidence, warped_ref;
};

// Super-resolves the pair and writes its outputs as their rows are made
// (TiledOptions::on_band into ImageFileWriter): the outputs take one band of
// memory (TiledOptions::band_bytes), not the whole image. The files are
// complete when this returns; outputs.commit() is the caller's, and an error
// on the way leaves no output behind. `times` (optional) gets the time spent
// converting, coding and writing the rows, and (with s.write_behind) how long
// the inference waited for that.
struct WritingTimes {
  double writing = 0.0, waited = 0.0;
};
TiledResult super_resolve_to_files(const PreparedPair& pair, const TileForward& forward, const SrSettings& s,
                                   TiledOptions options, const SrOutputPaths& paths, OutputFiles& outputs,
                                   WritingTimes* times = nullptr);

// Pairs by sorted name, each output OUT-DIR/<lr stem>.<ext>.
struct BatchPlan {
  std::vector<std::string> lrs, refs, outs;
  std::string out_dir;
};

// The pairs of two folders; fails (one line) when the counts differ, two
// outputs collide or --out-dir is an input folder.
BatchPlan plan_batch(const std::string& lr_dir, const std::string& ref_dir, const std::string& out_dir,
                     const std::string& ext);

// Super-resolves every pair of `plan` with `forward`, each output written
// through the output rules (io/output_rules.h); a bad pair is reported on one
// line and skipped. Under mpirun the pairs are shared over the ranks and the
// root prints the one progress display and summary. Returns the exit status,
// the same on every rank: 0, or 4 when some pair was skipped. The summary
// names model_path and the mode (the two models differ: models/README.md).
int process_pairs(const BatchPlan& plan, const TileForward& forward, const SrSettings& s,
                  const std::string& model_path);

}  // namespace dcsr::cli
