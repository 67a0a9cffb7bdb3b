// The training configuration (dcsr/training/trainer.h): JSON reading and
// writing with type checks, the defaults of `dcsr train` and `dcsr sra`, the
// range checks, and command-line overrides.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "dcsr/model/loss.h"
#include "dcsr/model/network.h"
#include "dcsr/training/trainer.h"
#include "runtime/json_text.h"

namespace dcsr {
using nlohmann::json;

// ---------------------------------------------------------------- config

namespace {

// A JSON value for an error message: one line, invalid UTF-8 replaced (a
// plain dump() throws on it), cut to 200 characters.
std::string shown(const nlohmann::json& j) {
  std::string text = json_text(j);
  if (text.size() > 200) text = text.substr(0, 200) + "...";
  return text;
}

// The config's fields, each with a JSON reader that checks the type.
template <typename T>
T read_key(const json& j, const std::string& key);

template <>
std::string read_key<std::string>(const json& j, const std::string& key) {
  DCSR_CHECK(j.is_string(), "config key '", key, "': expected a string, got ", shown(j));
  return j.get<std::string>();
}
template <>
bool read_key<bool>(const json& j, const std::string& key) {
  DCSR_CHECK(j.is_boolean(), "config key '", key, "': expected true or false, got ", shown(j));
  return j.get<bool>();
}
template <>
int64_t read_key<int64_t>(const json& j, const std::string& key) {
  DCSR_CHECK(j.is_number_integer(), "config key '", key, "': expected an integer, got ", shown(j));
  DCSR_CHECK(!j.is_number_unsigned() || j.get<uint64_t>() <= uint64_t(INT64_MAX), "config key '", key, "': ",
             j.get<uint64_t>(), " is too large");
  return j.get<int64_t>();
}
template <>
uint64_t read_key<uint64_t>(const json& j, const std::string& key) {
  DCSR_CHECK(j.is_number_unsigned() || (j.is_number_integer() && j.get<int64_t>() >= 0), "config key '", key,
             "': expected a non-negative integer, got ", shown(j));
  return j.get<uint64_t>();
}
template <>
double read_key<double>(const json& j, const std::string& key) {
  DCSR_CHECK(j.is_number(), "config key '", key, "': expected a number, got ", shown(j));
  return j.get<double>();
}
template <>
std::vector<int64_t> read_key<std::vector<int64_t>>(const json& j, const std::string& key) {
  DCSR_CHECK(j.is_array(), "config key '", key, "': expected a list of integers, got ", shown(j));
  std::vector<int64_t> v;
  for (const json& e : j) v.push_back(read_key<int64_t>(e, key));
  return v;
}

// A monitored set: "DIR" or {"data": DIR, "ref_from": DIR2}.
MonitorSet read_monitor_set(const json& j, const std::string& key) {
  MonitorSet set;
  if (j.is_string()) {
    set.data = j.get<std::string>();
    return set;
  }
  DCSR_CHECK(j.is_object(), "config key '", key, "': expected a folder or {\"data\": DIR, \"ref_from\": DIR}, got ",
             shown(j));
  for (auto it = j.begin(); it != j.end(); ++it) {
    DCSR_CHECK(it.key() == "data" || it.key() == "ref_from", "config key '", key, "': unknown key '", it.key(),
               "' (known: data, ref_from)");
    (it.key() == "data" ? set.data : set.ref_from) = read_key<std::string>(it.value(), key + "." + it.key());
  }
  return set;
}
template <>
std::map<std::string, MonitorSet> read_key<std::map<std::string, MonitorSet>>(const json& j, const std::string& key) {
  DCSR_CHECK(j.is_object(), "config key '", key, "': expected an object of NAME: DIR, got ", shown(j));
  std::map<std::string, MonitorSet> sets;
  for (auto it = j.begin(); it != j.end(); ++it) sets[it.key()] = read_monitor_set(it.value(), key + "." + it.key());
  return sets;
}

// Calls fn(key, field) for every field: one list for reading, writing and
// the error message about unknown keys.
template <typename Config, typename Fn>
void for_each_field(Config& c, Fn&& fn) {
  fn("data", c.data);
  fn("val_data", c.val_data);
  fn("out_dir", c.out_dir);
  fn("sra", c.sra);
  fn("mode", c.mode);
  fn("val_mode", c.val_mode);
  fn("val_max_images", c.val_max_images);
  fn("monitor", c.monitor);
  fn("batch_size", c.batch_size);
  fn("patch_size", c.patch_size);
  fn("num_patch", c.num_patch);
  fn("epochs", c.epochs);
  fn("max_steps", c.max_steps);
  fn("n_feats", c.n_feats);
  fn("init", c.init);
  fn("vgg_init", c.vgg_init);
  fn("loss", c.loss);
  fn("feature_space", c.feature_space);
  fn("vgg_weights", c.vgg_weights);
  fn("lr", c.lr);
  fn("milestones", c.milestones);
  fn("gamma", c.gamma);
  fn("warmup_steps", c.warmup_steps);
  fn("seed", c.seed);
  fn("device", c.device);
  fn("log_every", c.log_every);
  fn("val_every", c.val_every);
  fn("checkpoint_every", c.checkpoint_every);
}

std::string known_keys() {
  TrainConfig c;
  std::string keys;
  for_each_field(c, [&](const char* key, auto&) { keys += (keys.empty() ? "" : ", ") + std::string(key); });
  return keys;
}

}  // namespace

void to_json(json& j, const MonitorSet& set) {
  if (set.ref_from.empty())
    j = set.data;
  else
    j = json{{"data", set.data}, {"ref_from", set.ref_from}};
}

json TrainConfig::to_json() const {
  json j = json::object();
  for_each_field(*this, [&](const char* key, const auto& field) { j[key] = field; });
  return j;
}

TrainConfig TrainConfig::from_json(const json& j, const TrainConfig& base) {
  DCSR_CHECK(j.is_object(), "training config: expected a JSON object, got ", shown(j));
  TrainConfig c = base;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key().rfind("_", 0) == 0) continue;  // "_comment" and the like
    bool found = false;
    for_each_field(c, [&](const char* key, auto& field) {
      if (it.key() != key) return;
      found = true;
      field = read_key<std::decay_t<decltype(field)>>(it.value(), key);
    });
    DCSR_CHECK(found, "unknown config key '", it.key(), "' (known keys: ", known_keys(), ")");
  }
  return c;
}

TrainConfig TrainConfig::from_json(const json& j) { return from_json(j, TrainConfig()); }

TrainConfig TrainConfig::basic_defaults() { return TrainConfig(); }

TrainConfig TrainConfig::sra_defaults() {
  TrainConfig c;
  c.out_dir = "experiments/sra";
  c.sra = true;
  c.mode = "8k";
  c.loss = "1*L1+0.1*CX_ref";
  c.epochs = 3;
  return c;
}

namespace {

// "config: <key> must be from <lo> to <hi>, got <value>" unless lo <= value <= hi.
template <typename T>
void check_range(const char* key, T value, T lo, T hi) {
  DCSR_CHECK(value >= lo && value <= hi, "config: ", key, " must be from ", lo, " to ", hi, ", got ", value);
}

constexpr int64_t kMaxSteps = int64_t(1) << 40;

}  // namespace

void TrainConfig::validate() const {
  DCSR_CHECK(!data.empty(), "config: 'data' (the training set folder) is not set; pass --data DIR");
  DCSR_CHECK(!out_dir.empty(), "config: 'out_dir' is empty");
  for (const auto& [key, value] : {std::pair<const char*, const std::string&>{"mode", mode}, {"val_mode", val_mode}}) {
    try {
      mode_from_name(value);
    } catch (const Error& e) {
      fail("config: ", key, ": ", e.what());
    }
  }
  check_range<int64_t>("batch_size", batch_size, 1, 4096);
  DCSR_CHECK(patch_size >= 8 && patch_size <= 4096 && patch_size % 4 == 0,
             "config: patch_size must be a multiple of 4 from 8 to 4096, got ", patch_size);
  check_range<int64_t>("num_patch", num_patch, 1, 1000000);
  check_range<int64_t>("epochs", epochs, 1, 1000000000);
  check_range<int64_t>("max_steps", max_steps, 0, kMaxSteps);
  check_range<int64_t>("val_max_images", val_max_images, 0, 1000000000);
  for (const auto& [name, set] : monitor) {
    const bool plain = !name.empty() && name.size() <= 64 &&
                       name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") ==
                           std::string::npos;
    DCSR_CHECK(plain, "config: monitor set name '", name, "' must be 1 to 64 letters, digits, '_', '-' or '.'");
    DCSR_CHECK(!set.data.empty(), "config: monitor set '", name, "' has no data folder");
  }
  DCSR_CHECK(n_feats >= 2 && n_feats <= 1024 && n_feats % 2 == 0, "config: n_feats must be even, from 2 to 1024, got ",
             n_feats);
  DCSR_CHECK(feature_space == "patch4" || feature_space == "patch4s2" || feature_space == "vgg",
             "config: feature_space must be patch4, patch4s2 or vgg, got '", feature_space, "'");
  // A rate too high diverges, which the trainer stops with status 3 and a
  // message (tests force that with lr 1e30). The schedule only lowers the
  // rate: gamma > 1 would raise it at every milestone, towards infinity.
  DCSR_CHECK(std::isfinite(lr) && lr > 0, "config: lr must be a finite number > 0, got ", lr);
  DCSR_CHECK(std::isfinite(gamma) && gamma > 0 && gamma <= 1, "config: gamma must be above 0 and at most 1, got ",
             gamma);
  for (int64_t m : milestones) check_range<int64_t>("each of milestones", m, 0, 1000000000);
  check_range<int64_t>("warmup_steps", warmup_steps, 0, kMaxSteps);
  check_range<int64_t>("log_every", log_every, 1, kMaxSteps);
  check_range<int64_t>("val_every", val_every, 0, kMaxSteps);
  check_range<int64_t>("checkpoint_every", checkpoint_every, 0, kMaxSteps);
  DCSR_CHECK(device == "cpu" || device == "cuda", "config: device must be cpu or cuda, got '", device, "'");
  const std::vector<LossTerm> terms = parse_loss_spec(loss);  // fails naming the bad term
  // SRA's target is the LR crop (§9.1, §10.4): there is no HR for MSE or CX_hr.
  if (sra)
    for (const LossTerm& t : terms)
      DCSR_CHECK(t.type != "MSE" && t.type != "CX_hr", "config: loss term ", t.type,
                 " needs an HR target, which SRA (sra true) has not; its terms are L1 and CX_ref");
}

TrainConfig load_train_config(const std::string& path, const TrainConfig& base) {
  std::error_code ec;
  DCSR_CHECK(!std::filesystem::is_directory(path, ec), "config file '", path, "' is a folder; expected a JSON file");
  std::ifstream file(path);
  DCSR_CHECK(file, "cannot open config file '", path, "'");
  json j;
  // A key given twice in one object: JSON leaves it open and the parser keeps
  // the last, so the first would go unchecked and unused; refused instead.
  std::vector<std::set<std::string>> keys_of_open_objects;
  std::string repeated;
  auto no_repeated_keys = [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) keys_of_open_objects.emplace_back();
    if (event == json::parse_event_t::object_end && !keys_of_open_objects.empty()) keys_of_open_objects.pop_back();
    if (event == json::parse_event_t::key && !keys_of_open_objects.empty() &&
        !keys_of_open_objects.back().insert(parsed.get<std::string>()).second && repeated.empty())
      repeated = parsed.get<std::string>();
    return true;
  };
  try {
    j = json::parse(file, no_repeated_keys);
  } catch (const json::exception& e) {
    fail("config file '", path, "' is not valid JSON: ", e.what());
  }
  DCSR_CHECK(repeated.empty(), "config file '", path, "': the key '", repeated, "' appears twice in one object");
  try {
    return TrainConfig::from_json(j, base);
  } catch (const Error& e) {
    fail("config file '", path, "': ", e.what());
  }
}

void apply_override(TrainConfig& config, const std::string& assignment) {
  size_t eq = assignment.find('=');
  DCSR_CHECK(eq != std::string::npos && eq > 0, "--set expects key=value, got '", assignment, "'");
  std::string key = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) value = text;  // a bare word: a string
  // A string field given a number or list (e.g. --set init=123) stays the text.
  json probe = config.to_json();
  if (probe.contains(key) && probe[key].is_string() && !value.is_string()) value = text;
  config = TrainConfig::from_json(json{{key, value}}, config);
}

}  // namespace dcsr
