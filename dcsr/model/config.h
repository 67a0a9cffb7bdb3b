// Model configuration shared by the network, the trainer and checkpoints.
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace dcsr {

// The two ways the reference runs the same weights (dcsr-spec §2, §7):
//   K4 ("4k"): matching on the LR grid (inputs bicubic x2 before the VGG
//              layers), 2x2 Ref blocks for AA1/AA3, 1x1 for AA2;
//   K8 ("8k"): matching on the LR/2 grid, 4x4 blocks for AA1/AA3, 2x2 for AA2.
enum class Mode { K4, K8 };

const char* mode_name(Mode mode);                 // "4k" | "8k"
Mode mode_from_name(const std::string& name);     // accepts "4k"/"4K"/"8k"/"8K"
// Block size of AA1/AA3 (2 / 4) and of AA2 (1 / 2) in `mode`.
inline int64_t big_block(Mode mode) { return mode == Mode::K8 ? 4 : 2; }
inline int64_t small_block(Mode mode) { return mode == Mode::K8 ? 2 : 1; }

struct ModelConfig {
  // Width of the trunk, encoders and decoders. The reference option default
  // is 32 but every released script uses 64 (spec §1); the matching layers,
  // the aligners and alpha3 have fixed widths.
  int64_t n_feats = 64;

  // {"model": "dcsr", "n_feats": N} (what tools/convert_weights.py writes).
  nlohmann::json to_json() const;
  // Accepts that object; fails on another "model" or a bad n_feats.
  static ModelConfig from_json(const nlohmann::json& json);
};

}  // namespace dcsr
