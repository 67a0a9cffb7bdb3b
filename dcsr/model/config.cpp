#include "dcsr/model/config.h"

#include "tensor/error.h"

namespace dcsr {

const char* mode_name(Mode mode) { return mode == Mode::K8 ? "8k" : "4k"; }

Mode mode_from_name(const std::string& name) {
  if (name == "4k" || name == "4K") return Mode::K4;
  if (name == "8k" || name == "8K") return Mode::K8;
  fail("unknown mode '", name, "' (expected 4k or 8k)");
}

nlohmann::json ModelConfig::to_json() const { return {{"model", "dcsr"}, {"n_feats", n_feats}}; }

ModelConfig ModelConfig::from_json(const nlohmann::json& json) {
  DCSR_CHECK(json.is_object(), "model config: expected a JSON object, got ", json.dump());
  if (json.contains("model"))
    DCSR_CHECK(json["model"] == "dcsr", "model config: model is ", json["model"].dump(), ", expected \"dcsr\"");
  ModelConfig config;
  if (json.contains("n_feats")) {
    DCSR_CHECK(json["n_feats"].is_number_integer(), "model config: n_feats must be an integer, got ",
               json["n_feats"].dump());
    config.n_feats = json["n_feats"].get<int64_t>();
  }
  DCSR_CHECK(config.n_feats >= 2 && config.n_feats <= 1024 && config.n_feats % 2 == 0,
             "model config: n_feats must be even, from 2 to 1024 (as training takes it), got ", config.n_feats);
  return config;
}

}  // namespace dcsr
