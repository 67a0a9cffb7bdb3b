// Target config: the JSON training config (dcsr/training/trainer.h:
// load_train_config, TrainConfig::from_json, validate, apply_override) and the
// model config (dcsr/model/config.h ModelConfig::from_json). Seeds are the
// defaults of `dcsr train` and `dcsr sra` as JSON; runs edit the JSON (values
// of other types, out of range, nested, unknown keys) or its bytes.
// A config that passes validate() must survive to_json + from_json.
#include <stdexcept>

#include "dcsr/model/config.h"
#include "dcsr/training/trainer.h"
#include "tests/fuzz/fuzz.h"

namespace dcsr::fuzz {
namespace {

std::vector<Seed> config_seeds() {
  TrainConfig basic = TrainConfig::basic_defaults(), sra = TrainConfig::sra_defaults();
  basic.data = sra.data = "data/train";
  sra.monitor["real"] = {"data/real_val", ""};
  sra.monitor["real_other"] = {"data/real_val", "data/real_train"};
  return {{basic.to_json().dump(2), {}, ".json"},
          {sra.to_json().dump(), {}, ".json"},
          {R"({"_comment": "x", "n_feats": 32, "lr": 2e-4, "milestones": [1, 2], "model": "dcsr"})", {}, ".json"}};
}

void run_config(const std::vector<Seed>& seeds, Rng& rng, std::string& input) {
  const Seed& seed = rng.pick(seeds);
  const TrainConfig base = rng.chance(2) ? TrainConfig::basic_defaults() : TrainConfig::sra_defaults();
  if (rng.chance(5)) {  // a --set override
    static const std::vector<std::string> keys = [] {
      std::vector<std::string> k;
      const nlohmann::json defaults = TrainConfig().to_json();
      for (const auto& item : defaults.items()) k.push_back(item.key());
      return k;
    }();
    const std::string key = rng.chance(8) ? interesting_text(rng) : rng.pick(keys);
    nlohmann::json value = nlohmann::json::parse(seed.bytes);
    mutate_json(value, rng);
    input = key + "=" + (rng.chance(2) ? interesting_text(rng)
                                       : value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    TrainConfig config = base;
    apply_override(config, input);
    config.validate();
    return;
  }
  if (rng.chance(2)) {
    nlohmann::json j = nlohmann::json::parse(seed.bytes);
    mutate_json(j, rng);
    input = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (rng.chance(4)) mutate_bytes(input, rng);
  } else {
    input = mutate_seed(seed, rng);
  }
  TrainConfig config;
  if (rng.chance(4)) {
    const std::string path = scratch_dir() + "/input.json";
    write_whole_file(path, input);
    config = load_train_config(path, base);
  } else {
    const nlohmann::json j = nlohmann::json::parse(input, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return;  // load_train_config's own message covers this (tested above)
    try {
      ModelConfig::from_json(j);
    } catch (const Error&) {
    }
    config = TrainConfig::from_json(j, base);
  }
  config.validate();
  const TrainConfig back = TrainConfig::from_json(config.to_json());
  back.validate();
  if (back.to_json() != config.to_json()) throw std::logic_error("a valid config changed through to_json + from_json");
}

}  // namespace

std::vector<Target> config_targets() {
  return {{"config", "load_train_config / TrainConfig::from_json + validate / apply_override, ModelConfig::from_json",
           config_seeds, run_config}};
}

}  // namespace dcsr::fuzz
