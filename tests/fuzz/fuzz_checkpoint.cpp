// Targets checkpoint and tensors: nn/checkpoint.h's parse_checkpoint /
// read_checkpoint and tensor/serialize.h's parse_tensors on mutated files.
// Half the checkpoint runs edit the JSON header (offsets, shapes, dtypes,
// names, nesting) and write it back with a correct header length, so that
// the checks behind the JSON parser are reached; the rest mutate bytes.
// An accepted checkpoint must survive encode + parse unchanged, and loading
// into a small module and reading its model config may only fail with dcsr::Error.
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "dcsr/model/config.h"
#include "nn/checkpoint.h"
#include "nn/layers.h"
#include "tests/fuzz/fuzz.h"

namespace dcsr::fuzz {
namespace {

std::vector<Seed> checkpoint_seeds() {
  Generator gen(5);
  nn::Conv2d conv(3, 4, 3, gen);
  Checkpoint full;
  full.config = ModelConfig{4}.to_json();
  full.extra = {{"loop", {{"step", 3}, {"epoch", 1}}}, {"train_config", {{"lr", 1e-4}}}};
  full.tensors = module_state(conv);
  full.tensors.emplace_back("adam.step", from_vector(std::vector<int64_t>{3}, {1}));
  full.tensors.emplace_back("adam.m.weight", uniform({4, 3, 3, 3}, gen, -1, 1, kFloat64));
  full.tensors.emplace_back("scalar", scalar_tensor(2.5, kFloat32));
  full.tensors.emplace_back("empty", zeros({0, 4}));
  Checkpoint one;
  one.tensors = {{"w", ones({2, 3})}};
  const Checkpoint empty;
  std::vector<Seed> seeds;
  for (const Checkpoint* c : std::vector<const Checkpoint*>{&full, &one, &empty}) seeds.push_back({encode_checkpoint(*c), {{8, 8, false}}, ".ckpt"});
  return seeds;
}

// The seed with its JSON header edited and written back: the data region
// follows at the next multiple of 64, as the format requires.
std::string mutate_header(const std::string& seed, Rng& rng) {
  uint64_t header_len;
  std::memcpy(&header_len, seed.data() + 8, 8);
  const uint64_t data_start = (16 + header_len + 63) / 64 * 64;
  nlohmann::json header = nlohmann::json::parse(seed.substr(16, header_len));
  mutate_json(header, rng);
  const std::string text = header.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string out = seed.substr(0, 8);
  const uint64_t length = text.size();
  out.append(reinterpret_cast<const char*>(&length), 8);
  out += text;
  out.resize((16 + text.size() + 63) / 64 * 64, '\0');
  return out + seed.substr(std::min<size_t>(size_t(data_start), seed.size()));
}

void run_checkpoint(const std::vector<Seed>& seeds, Rng& rng, std::string& input) {
  const Seed& seed = rng.pick(seeds);
  if (rng.chance(2)) {
    input = mutate_header(seed.bytes, rng);
    if (rng.chance(4)) mutate_bytes(input, rng);
  } else {
    input = mutate_seed(seed, rng);
  }
  Checkpoint ckpt;
  if (rng.chance(8)) {  // through the file reader too
    const std::string path = scratch_dir() + "/input.ckpt";
    write_whole_file(path, input);
    ckpt = read_checkpoint(path);
  } else {
    ckpt = parse_checkpoint(input, "input.ckpt");
  }
  // Accepted: it must encode and read back the same.
  const Checkpoint back = parse_checkpoint(encode_checkpoint(ckpt), "re-encoded");
  if (back.tensors.size() != ckpt.tensors.size() || back.config != ckpt.config || back.extra != ckpt.extra)
    throw std::logic_error("an accepted checkpoint changed through encode + parse");
  for (size_t i = 0; i < back.tensors.size(); ++i) {
    const Tensor &a = back.tensors[i].second, &b = ckpt.tensors[i].second;
    if (back.tensors[i].first != ckpt.tensors[i].first || a.shape() != b.shape() || a.dtype() != b.dtype() ||
        std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) != 0)
      throw std::logic_error("tensor " + std::to_string(i) + " changed through encode + parse");
  }
  try {
    ModelConfig::from_json(ckpt.config);
  } catch (const Error&) {
  }
  Checkpoint model_only;
  for (const auto& [name, t] : ckpt.tensors)
    if (name.rfind("adam.", 0) != 0) model_only.tensors.emplace_back(name, t);
  Generator gen(1);
  nn::Conv2d conv(3, 4, 3, gen);
  try {  // most accepted files do not fit this module: that must be a dcsr::Error
    load_parameters_strict(conv, model_only);
  } catch (const Error&) {
  }
}

std::vector<Seed> tensor_file_seeds() {
  Generator gen(9);
  const std::string path = scratch_dir() + "/seed.bin";
  save_tensors(path, {{"a", uniform({2, 3}, gen, -1, 1, kFloat32)},
                      {"b", from_vector(std::vector<int64_t>{1, -2, 3}, {3})},
                      {"c", scalar_tensor(1.5, kFloat64)}});
  std::ifstream in(path, std::ios::binary);
  Seed seed{std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()), {}, ".bin"};
  // version, count; per tensor: name length, dtype, ndim, the dims.
  seed.fields = {{8, 4, false}, {12, 4, false}};
  size_t at = 16;
  for (int i = 0; i < 3; ++i) {
    const size_t name_length = size_t(read_field(seed.bytes, {at, 4, false}));
    const size_t ndim = uint8_t(seed.bytes[at + 5 + name_length]);
    seed.fields.insert(seed.fields.end(), {{at, 4, false}, {at + 4 + name_length, 1, false}, {at + 5 + name_length, 1, false}});
    const size_t dims_at = at + 8 + name_length;
    uint64_t numel = 1;
    for (size_t d = 0; d < ndim; ++d) {
      seed.fields.push_back({dims_at + 8 * d, 8, false});
      numel *= read_field(seed.bytes, {dims_at + 8 * d, 8, false});
    }
    const size_t element = uint8_t(seed.bytes[at + 4 + name_length]) == 0 ? 4 : 8;
    at = dims_at + 8 * ndim + size_t(numel) * element;
  }
  return {seed};
}

void run_tensor_file(const std::vector<Seed>& seeds, Rng& rng, std::string& input) {
  input = mutate_seed(rng.pick(seeds), rng);
  for (const auto& [name, t] : parse_tensors(input, "input.bin"))
    if (t.dim() > 0 && t.numel() != shape_numel(t.shape())) throw std::logic_error("inconsistent tensor " + name);
}

}  // namespace

std::vector<Target> checkpoint_targets() {
  return {{"checkpoint", "nn/checkpoint.h parse_checkpoint / read_checkpoint, then strict loading", checkpoint_seeds,
           run_checkpoint},
          {"tensors", "tensor/serialize.h parse_tensors (named-tensor files)", tensor_file_seeds, run_tensor_file}};
}

}  // namespace dcsr::fuzz
