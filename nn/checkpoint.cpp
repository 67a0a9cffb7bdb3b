#include "nn/checkpoint.h"

#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace dcsr {

namespace {
const char kMagic[8] = {'D', 'C', 'S', 'R', 'C', 'K', 'P', 'T'};
const char* kFormat = "dcsr-checkpoint";
constexpr int kVersion = 1;
constexpr uint64_t kAlign = 64;

uint64_t align_up(uint64_t x) { return (x + kAlign - 1) / kAlign * kAlign; }

// The checkpoint stores little-endian bytes; this library only targets
// little-endian hosts (x86-64, aarch64), so raw copies are the right bytes.
static_assert(sizeof(uint64_t) == 8, "64-bit sizes");

std::string list(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) out += (i ? ", " : "") + names[i];
  return out;
}
}  // namespace

const Tensor* Checkpoint::find(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return &t;
  return nullptr;
}

const Tensor& Checkpoint::at(const std::string& name) const {
  const Tensor* t = find(name);
  DCSR_CHECK(t != nullptr, "checkpoint: no tensor named '", name, "'");
  return *t;
}

void save_checkpoint(const std::string& path, const Checkpoint& ckpt) {
  // ordered_json: keys in the order tools/convert_weights.py writes them.
  nlohmann::ordered_json entries = nlohmann::ordered_json::array();
  std::vector<std::pair<uint64_t, Tensor>> blobs;
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : ckpt.tensors) {
    DCSR_CHECK(tensor.defined(), "save_checkpoint ", path, ": tensor '", name, "' is undefined");
    DCSR_CHECK(seen.insert(name).second, "save_checkpoint ", path, ": duplicate tensor name '", name, "'");
    Tensor host = tensor.device() == kCPU ? tensor.detach() : tensor.detach().to(kCPU);
    offset = align_up(offset);
    nlohmann::ordered_json entry;
    entry["name"] = name;
    entry["dtype"] = dtype_name(host.dtype());
    entry["shape"] = host.shape();
    entry["offset"] = offset;
    entry["nbytes"] = uint64_t(host.nbytes());
    entries.push_back(entry);
    blobs.emplace_back(offset, host);
    offset += host.nbytes();
  }
  nlohmann::ordered_json header;
  header["format"] = kFormat;
  header["version"] = kVersion;
  header["config"] = nlohmann::ordered_json::parse(ckpt.config.is_null() ? "{}" : ckpt.config.dump());
  header["tensors"] = entries;
  header["extra"] = nlohmann::ordered_json::parse(ckpt.extra.is_null() ? "{}" : ckpt.extra.dump());
  const std::string text = header.dump();
  const uint64_t data_start = align_up(16 + text.size());
  std::string out;
  out.reserve(size_t(data_start + offset));
  out.append(kMagic, 8);
  const uint64_t header_len = text.size();
  out.append(reinterpret_cast<const char*>(&header_len), 8);
  out += text;
  out.resize(size_t(data_start), '\0');
  for (const auto& [off, host] : blobs) {
    out.resize(size_t(data_start + off), '\0');
    out.append(static_cast<const char*>(host.raw_data()), host.nbytes());
  }
  write_file_atomic(path, out);
}

Checkpoint read_checkpoint(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  DCSR_CHECK(file, "cannot open checkpoint '", path, "'");
  std::stringstream buffer;
  buffer << file.rdbuf();
  const std::string bytes = buffer.str();
  DCSR_CHECK(bytes.size() >= 16 && std::memcmp(bytes.data(), kMagic, 8) == 0, path,
             ": not a dcsr checkpoint (bad magic or shorter than 16 bytes)");
  uint64_t header_len;
  std::memcpy(&header_len, bytes.data() + 8, 8);
  DCSR_CHECK(header_len <= bytes.size() - 16, path, ": truncated checkpoint (header of ", header_len,
             " bytes, file has ", bytes.size(), ")");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes.begin() + 16, bytes.begin() + 16 + int64_t(header_len));
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": corrupt checkpoint header (", e.what(), ")");
  }
  Checkpoint ckpt;
  try {
    DCSR_CHECK(header.is_object() && header.value("format", "") == kFormat, path,
               ": not a dcsr checkpoint (format is not '", kFormat, "')");
    DCSR_CHECK(header.value("version", -1) == kVersion, path, ": checkpoint version ", header.value("version", -1),
               ", this build reads version ", kVersion);
    ckpt.config = header.value("config", nlohmann::json::object());
    ckpt.extra = header.value("extra", nlohmann::json::object());
    const uint64_t data_start = align_up(16 + header_len);
    std::set<std::string> seen;
    for (const auto& e : header.at("tensors")) {
      const std::string name = e.at("name").get<std::string>();
      DCSR_CHECK(seen.insert(name).second, path, ": duplicate tensor '", name, "'");
      DType dtype;
      try {
        dtype = dtype_from_name(e.at("dtype").get<std::string>());
      } catch (const Error&) {
        fail(path, ": tensor '", name, "' has unknown dtype '", e.at("dtype").get<std::string>(), "'");
      }
      const Shape shape = e.at("shape").get<Shape>();
      for (int64_t s : shape) DCSR_CHECK(s >= 0, path, ": tensor '", name, "' has a negative size");
      const uint64_t off = e.at("offset").get<uint64_t>();
      const uint64_t nbytes = e.at("nbytes").get<uint64_t>();
      DCSR_CHECK(nbytes == uint64_t(shape_numel(shape)) * dtype_size(dtype), path, ": tensor '", name, "': nbytes ",
                 nbytes, " does not match shape ", shape_str(shape));
      DCSR_CHECK(off % kAlign == 0, path, ": tensor '", name, "': offset ", off, " is not a multiple of ", kAlign);
      DCSR_CHECK(data_start + off + nbytes <= bytes.size(), path, ": truncated checkpoint (tensor '", name,
                 "' ends at byte ", data_start + off + nbytes, ", file has ", bytes.size(), ")");
      ckpt.tensors.emplace_back(name, from_blob(bytes.data() + data_start + off, shape, dtype));
    }
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": corrupt checkpoint header (", e.what(), ")");
  }
  return ckpt;
}

NamedTensors module_state(const nn::Module& module) {
  NamedTensors out;
  for (const auto& [name, t] : module.named_parameters())
    out.emplace_back(name, t.device() == kCPU ? t.detach() : t.detach().to(kCPU));
  return out;
}

void load_parameters_strict(nn::Module& module, const Checkpoint& ckpt, const std::string& prefix) {
  std::map<std::string, const Tensor*> available;
  for (const auto& [name, t] : ckpt.tensors)
    if (name.compare(0, prefix.size(), prefix) == 0) available[name.substr(prefix.size())] = &t;
  std::vector<std::string> missing, unexpected, wrong;
  const NamedTensors params = module.named_parameters();
  std::set<std::string> known;
  for (const auto& [name, p] : params) {
    known.insert(name);
    auto it = available.find(name);
    if (it == available.end()) {
      missing.push_back(prefix + name);
    } else if (it->second->shape() != p.shape()) {
      wrong.push_back(prefix + name + " (checkpoint " + shape_str(it->second->shape()) + ", model " +
                      shape_str(p.shape()) + ")");
    }
  }
  for (const auto& [name, t] : available)
    if (!known.count(name)) unexpected.push_back(prefix + name);
  if (!missing.empty() || !unexpected.empty() || !wrong.empty()) {
    std::ostringstream msg;
    msg << "load_parameters_strict: the checkpoint does not match the model:";
    if (!missing.empty()) msg << "\n  missing (" << missing.size() << "): " << list(missing);
    if (!unexpected.empty()) msg << "\n  unexpected (" << unexpected.size() << "): " << list(unexpected);
    if (!wrong.empty()) msg << "\n  wrong shape (" << wrong.size() << "): " << list(wrong);
    throw Error(msg.str());
  }
  for (const auto& [name, p] : params) {
    const Tensor& src = *available.at(name);
    DCSR_CHECK(is_floating(src.dtype()), "load_parameters_strict: tensor '", prefix + name, "' is ",
               dtype_name(src.dtype()), ", parameters are floating");
    module.copy_into_parameter(name, src);
  }
}

}  // namespace dcsr
