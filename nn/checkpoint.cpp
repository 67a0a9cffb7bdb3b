#include "nn/checkpoint.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <set>

#include "runtime/json_text.h"

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

constexpr size_t kMaxDims = 16;
constexpr int kMaxJsonDepth = 64;

// At most 200 characters of `text` on one line (JSON dumps and parser messages in errors).
std::string clip(const std::string& text) {
  std::string out = text.size() > 200 ? text.substr(0, 200) + "..." : text;
  for (char& c : out)
    if (c == '\n' || c == '\r') c = ' ';
  return out;
}

// Fails naming the tensor and the element when a float tensor holds a NaN or an infinity.
template <typename T>
void check_finite_values(const char* data, uint64_t nbytes, const std::string& what) {
  const uint64_t n = nbytes / sizeof(T);
  for (uint64_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, data + i * sizeof(T), sizeof(T));
    DCSR_CHECK(std::isfinite(v), what, " holds a non-finite value (", v, " at element ", i, ")");
  }
}

void check_finite(const Tensor& host, const std::string& what) {
  if (host.dtype() == kFloat32) check_finite_values<float>(static_cast<const char*>(host.raw_data()), host.nbytes(), what);
  if (host.dtype() == kFloat64) check_finite_values<double>(static_cast<const char*>(host.raw_data()), host.nbytes(), what);
}

// "3 missing (e.g. a, b, c)": the count and the first few names.
std::string summary(const std::vector<std::string>& names, const char* kind) {
  std::string out = std::to_string(names.size()) + " " + kind + " (";
  const size_t shown = std::min<size_t>(names.size(), 3);
  out += names.size() > shown ? "e.g. " : "";
  for (size_t i = 0; i < shown; ++i) out += (i ? ", " : "") + names[i];
  return out + ")";
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
  std::string bytes;
  try {
    bytes = encode_checkpoint(ckpt);
  } catch (const Error& e) {
    fail("save_checkpoint ", path, ": ", e.what());
  }
  write_file_atomic(path, bytes);
}

std::string encode_checkpoint(const Checkpoint& ckpt) {
  // ordered_json: keys in the order tools/convert_weights.py writes them.
  nlohmann::ordered_json entries = nlohmann::ordered_json::array();
  std::vector<std::pair<uint64_t, Tensor>> blobs;
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : ckpt.tensors) {
    DCSR_CHECK(tensor.defined(), "tensor '", name, "' is undefined");
    DCSR_CHECK(seen.insert(name).second, "duplicate tensor name '", name, "'");
    Tensor host = tensor.device() == kCPU ? tensor.detach() : tensor.detach().to(kCPU);
    check_finite(host, "tensor '" + name + "'");  // what read_checkpoint would refuse is not written
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
  std::string text;
  try {  // dump() fails on a string that is not UTF-8
    nlohmann::ordered_json header;
    header["format"] = kFormat;
    header["version"] = kVersion;
    header["config"] = nlohmann::ordered_json::parse(ckpt.config.is_null() ? "{}" : json_text(ckpt.config));
    header["tensors"] = entries;
    header["extra"] = nlohmann::ordered_json::parse(ckpt.extra.is_null() ? "{}" : json_text(ckpt.extra));
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    fail("cannot encode the checkpoint header: ", clip(e.what()));
  }
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
  return out;
}

Checkpoint read_checkpoint(const std::string& path) {
  return parse_checkpoint(read_file_bytes(path, "checkpoint"), path);
}

namespace {

// Whether any value of JSON text (a container, a key or a scalar) lies inside
// more than `limit` arrays and objects: the rule nlohmann's parse callback
// applied with its depth argument, which this file used before. Malformed
// text is left to the parser.
bool json_deeper_than(const char* text, size_t size, int64_t limit) {
  int64_t depth = 0;  // containers open around the current position
  bool in_string = false;
  for (size_t i = 0; i < size; ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;  // the escaped character is skipped
      else if (c == '"') in_string = false;
      continue;
    }
    const bool value_start = c == '[' || c == '{' || c == '"' || c == '-' || (c >= '0' && c <= '9') || c == 't' ||
                             c == 'f' || c == 'n';
    if (value_start && depth > limit) return true;
    if (c == '"') in_string = true;
    else if (c == '[' || c == '{') ++depth;
    else if (c == ']' || c == '}') --depth;
  }
  return false;
}

// What a checkpoint's header entry says about one tensor.
struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t offset, nbytes;
};

// A non-negative JSON integer at most `max` (not a float, bool or string).
uint64_t count_value(const nlohmann::json& v, uint64_t max, const std::string& what) {
  DCSR_CHECK(v.is_number_integer() && (v.is_number_unsigned() || v.get<int64_t>() >= 0), what,
             " must be a non-negative integer, got ", clip(v.dump()));
  const uint64_t n = v.get<uint64_t>();
  DCSR_CHECK(n <= max, what, " is ", n, ", more than ", max);
  return n;
}

const nlohmann::json& field(const nlohmann::json& entry, const char* key, const std::string& what) {
  auto it = entry.find(key);
  DCSR_CHECK(it != entry.end(), what, " has no \"", key, "\"");
  return *it;
}

// One entry of "tensors", checked against the `data_bytes` after data_start.
Entry parse_entry(const nlohmann::json& e, size_t index, uint64_t data_bytes, const std::string& path) {
  DCSR_CHECK(e.is_object(), path, ": tensor entry ", index, " is not a JSON object");
  Entry t;
  const std::string entry_what = path + ": tensor entry " + std::to_string(index);
  const nlohmann::json& name = field(e, "name", entry_what);
  DCSR_CHECK(name.is_string() && !name.get<std::string>().empty(), path, ": tensor entry ", index,
             " has a name that is not a non-empty string");
  t.name = name.get<std::string>();
  const std::string what = path + ": tensor '" + printable_name(t.name) + "'";
  const nlohmann::json& dtype = field(e, "dtype", what);
  DCSR_CHECK(dtype.is_string() && (dtype == "float32" || dtype == "float64" || dtype == "int64"), what,
             " has unknown dtype ", clip(dtype.dump()), " (expected float32, float64 or int64)");
  t.dtype = dtype_from_name(dtype.get<std::string>());
  const nlohmann::json& shape = field(e, "shape", what);
  DCSR_CHECK(shape.is_array() && shape.size() <= kMaxDims, what, " has a shape that is not an array of at most ",
             kMaxDims, " sizes: ", clip(shape.dump()));
  for (const auto& s : shape) t.shape.push_back(int64_t(count_value(s, uint64_t(INT64_MAX), what + ": a size")));
  t.offset = count_value(field(e, "offset", what), UINT64_MAX, what + ": offset");
  t.nbytes = count_value(field(e, "nbytes", what), UINT64_MAX, what + ": nbytes");
  uint64_t expected = 0;
  checked_numel(t.shape, dtype_size(t.dtype), UINT64_MAX, what, &expected);
  DCSR_CHECK(t.nbytes == expected, what, ": nbytes ", t.nbytes, " does not match shape ", shape_str(t.shape),
             " of ", dtype_name(t.dtype), " (", expected, " bytes)");
  DCSR_CHECK(t.offset % kAlign == 0, what, ": offset ", t.offset, " is not a multiple of ", kAlign);
  DCSR_CHECK(t.offset <= data_bytes && t.nbytes <= data_bytes - t.offset, path, ": truncated checkpoint (tensor '",
             printable_name(t.name), "' at offset ", t.offset, " has ", t.nbytes, " bytes, the data after the header ",
             data_bytes, ")");
  return t;
}

// Fails naming the first pair of tensors whose bytes overlap.
void check_no_overlap(std::vector<const Entry*> entries, const std::string& path) {
  std::sort(entries.begin(), entries.end(), [](const Entry* a, const Entry* b) { return a->offset < b->offset; });
  const Entry* last = nullptr;  // the tensor reaching furthest so far
  for (const Entry* e : entries) {
    if (e->nbytes == 0) continue;
    DCSR_CHECK(!last || last->offset + last->nbytes <= e->offset, path, ": tensors '", printable_name(last->name),
               "' and '", printable_name(e->name), "' overlap (bytes ", e->offset, " to ",
               last->offset + last->nbytes, " of the data)");
    if (!last || e->offset + e->nbytes > last->offset + last->nbytes) last = e;
  }
}

// The header's format, version, config and extra (into `ckpt`), and its
// tensor entries checked against a file of `file_size` bytes: everything but
// the tensors' values.
std::vector<Entry> read_header(const nlohmann::json& header, uint64_t header_len, uint64_t file_size,
                               const std::string& path, Checkpoint& ckpt) {
  DCSR_CHECK(header.is_object() && header.contains("format") && header.at("format") == kFormat, path,
             ": not a dcsr checkpoint (format is not '", kFormat, "')");
  DCSR_CHECK(header.contains("version") && header.at("version") == kVersion, path, ": checkpoint version ",
             clip(header.value("version", nlohmann::json()).dump()), ", this build reads version ", kVersion);
  for (const char* key : {"config", "extra"}) {
    if (!header.contains(key)) continue;
    DCSR_CHECK(header.at(key).is_object(), path, ": corrupt checkpoint header (\"", key, "\" is not an object)");
    (key[0] == 'c' ? ckpt.config : ckpt.extra) = header.at(key);
  }
  DCSR_CHECK(header.contains("tensors") && header.at("tensors").is_array(), path,
             ": corrupt checkpoint header (no \"tensors\" array)");
  const uint64_t data_start = align_up(16 + header_len);
  const uint64_t data_bytes = file_size > data_start ? file_size - data_start : 0;
  std::vector<Entry> entries;
  std::set<std::string> seen;
  for (const auto& e : header.at("tensors")) {
    entries.push_back(parse_entry(e, entries.size(), data_bytes, path));
    DCSR_CHECK(seen.insert(entries.back().name).second, path, ": duplicate tensor '",
               printable_name(entries.back().name), "'");
  }
  std::vector<const Entry*> by_offset;
  for (const Entry& e : entries) by_offset.push_back(&e);
  check_no_overlap(by_offset, path);
  return entries;
}

Checkpoint checkpoint_from_header(const nlohmann::json& header, const std::string& bytes, uint64_t header_len,
                                  const std::string& path) {
  Checkpoint ckpt;
  const std::vector<Entry> entries = read_header(header, header_len, bytes.size(), path, ckpt);
  const uint64_t data_start = align_up(16 + header_len);
  for (const Entry& e : entries) {
    const char* data = e.nbytes ? bytes.data() + data_start + e.offset : bytes.data();
    const std::string what = path + ": tensor '" + printable_name(e.name) + "'";
    if (e.dtype == kFloat32) check_finite_values<float>(data, e.nbytes, what);
    if (e.dtype == kFloat64) check_finite_values<double>(data, e.nbytes, what);
    ckpt.tensors.emplace_back(e.name, from_blob(data, e.shape, e.dtype));
  }
  return ckpt;
}

// The header's length, after the magic, checked against a file of
// `file_size` bytes that `first` begins (at least its first 16 when it has them).
uint64_t header_length(const std::string& first, uint64_t file_size, const std::string& path) {
  DCSR_CHECK(file_size >= 16 && first.size() >= 16 && std::memcmp(first.data(), kMagic, 8) == 0, path,
             ": not a dcsr checkpoint (bad magic or shorter than 16 bytes)");
  uint64_t header_len;
  std::memcpy(&header_len, first.data() + 8, 8);
  DCSR_CHECK(header_len <= file_size - 16, path, ": truncated checkpoint (header of ", header_len,
             " bytes, file has ", file_size, ")");
  return header_len;
}

// Parses the header, bytes 16 to 16 + header_len of `bytes`, and returns
// use(header); a JSON error in either is a corrupt header.
template <typename Use>
auto with_header(const std::string& bytes, uint64_t header_len, const std::string& path, Use use) {
  // Nesting is limited: copying, comparing and printing JSON recurse. Checked
  // by a scan of the brackets, not by a parse callback: nlohmann's callback
  // parser looks over an object's members at each '}', so a 1.2 MB header of
  // many small objects took 33 s to parse.
  DCSR_CHECK(!json_deeper_than(bytes.data() + 16, size_t(header_len), kMaxJsonDepth), path,
             ": corrupt checkpoint header (JSON nested deeper than ", kMaxJsonDepth, " levels)");
  try {
    return use(nlohmann::json::parse(bytes.begin() + 16, bytes.begin() + 16 + int64_t(header_len)));
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": corrupt checkpoint header (", clip(e.what()), ")");
  }
}

}  // namespace

Checkpoint parse_checkpoint(const std::string& bytes, const std::string& path) {
  const uint64_t header_len = header_length(bytes, bytes.size(), path);
  return with_header(bytes, header_len, path, [&](const nlohmann::json& header) {
    return checkpoint_from_header(header, bytes, header_len, path);
  });
}

Checkpoint read_checkpoint_metadata(const std::string& path) {
  uint64_t file_size = 0;
  const std::string first = read_file_head(path, "checkpoint", 16, &file_size);
  const uint64_t header_len = header_length(first, file_size, path);
  const std::string bytes = read_file_head(path, "checkpoint", 16 + header_len, &file_size);
  // Replaced between the two reads (a run saving it): the length read first is not this file's.
  DCSR_CHECK(bytes.size() == 16 + header_len && bytes.compare(0, 16, first) == 0, path,
             ": the checkpoint changed while being read");
  return with_header(bytes, header_len, path, [&](const nlohmann::json& header) {
    Checkpoint metadata;
    read_header(header, header_len, file_size, path, metadata);
    return metadata;
  });
}

NamedTensors module_state(const nn::Module& module) {
  NamedTensors out;
  for (const auto& [name, t] : module.named_parameters())
    out.emplace_back(name, t.device() == kCPU ? t.detach().clone() : t.detach().to(kCPU));
  return out;
}

namespace {
// Whether every value of a float64 CPU tensor is finite as a float32.
bool fits_float32(const Tensor& t) {
  const Tensor c = t.is_cpu() ? t : t.to(kCPU);
  const double* v = c.data<double>();
  for (int64_t i = 0; i < c.numel(); ++i)
    if (!(std::abs(v[i]) <= double(std::numeric_limits<float>::max()))) return false;
  return true;
}
}  // namespace

void load_parameters_strict(nn::Module& module, const Checkpoint& ckpt, const std::string& prefix) {
  std::map<std::string, const Tensor*> available;
  for (const auto& [name, t] : ckpt.tensors)
    if (name.compare(0, prefix.size(), prefix) == 0) available[name.substr(prefix.size())] = &t;
  std::vector<std::string> missing, unexpected, wrong, not_floating, beyond_float32;
  const NamedTensors params = module.named_parameters();
  std::set<std::string> known;
  for (const auto& [name, p] : params) {
    known.insert(name);
    auto it = available.find(name);
    if (it == available.end()) {
      missing.push_back(printable_name(prefix + name));
    } else if (it->second->shape() != p.shape()) {
      wrong.push_back(printable_name(prefix + name) + " (checkpoint " + shape_str(it->second->shape()) + ", model " +
                      shape_str(p.shape()) + ")");
    } else if (!is_floating(it->second->dtype())) {
      // Checked with the rest, before anything is copied: a failure changes nothing.
      not_floating.push_back(printable_name(prefix + name) + " (" + dtype_name(it->second->dtype()) + ")");
    } else if (it->second->dtype() == kFloat64 && p.dtype() == kFloat32 && !fits_float32(*it->second)) {
      // Finite in the file, infinite once converted (1e300): the network would compute NaN.
      beyond_float32.push_back(printable_name(prefix + name));
    }
  }
  for (const auto& [name, t] : available)
    if (!known.count(name)) unexpected.push_back(printable_name(prefix + name));
  // One line however long the lists: a count and a few names of each kind.
  const std::pair<const std::vector<std::string>&, const char*> problems[] = {
      {missing, "missing"},
      {unexpected, "unexpected"},
      {wrong, "with the wrong shape"},
      {not_floating, "not floating (parameters are)"},
      {beyond_float32, "with values beyond float32's range"}};
  std::string found;
  for (const auto& [names, label] : problems)
    if (!names.empty()) found += (found.empty() ? " " : "; ") + summary(names, label);
  if (!found.empty()) throw Error("load_parameters_strict: the checkpoint does not match the model:" + found);
  for (const auto& [name, p] : params) {
    module.copy_into_parameter(name, *available.at(name));
  }
}

}  // namespace dcsr
