// Byte-level and header-field mutations shared by every target.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <stdexcept>

#include "tests/fuzz/fuzz.h"

namespace dcsr::fuzz {

uint64_t interesting_integer(Rng& rng, uint64_t old_value, int width) {
  const uint64_t mask = width == 8 ? ~uint64_t(0) : (uint64_t(1) << (8 * width)) - 1;
  uint64_t v = 0;
  switch (rng.below(8)) {
    case 0: v = rng.pick(std::vector<uint64_t>{0, 1, 2, 3, 4, 7, 8, 15, 16, 17, 31, 32, 63, 64, 65}); break;
    case 1: v = mask; break;                  // -1
    case 2: v = mask >> 1; break;             // the largest signed value
    case 3: v = (mask >> 1) + 1; break;       // the smallest signed value
    case 4: v = uint64_t(1) << rng.below(uint64_t(8 * width)); break;
    case 5: v = (uint64_t(1) << rng.below(uint64_t(8 * width))) - 1 + rng.below(3); break;
    case 6: v = old_value + rng.below(33) - 16; break;  // nudged
    default: v = rng.next(); break;
  }
  return v & mask;
}

uint64_t read_field(const std::string& bytes, const Field& f) {
  uint64_t v = 0;
  for (int i = 0; i < f.width; ++i) {
    const uint64_t byte = static_cast<unsigned char>(bytes[f.offset + size_t(i)]);
    v |= byte << (8 * (f.big_endian ? f.width - 1 - i : i));
  }
  return v;
}

void write_field(std::string& bytes, const Field& f, uint64_t value) {
  for (int i = 0; i < f.width; ++i)
    bytes[f.offset + size_t(i)] = char((value >> (8 * (f.big_endian ? f.width - 1 - i : i))) & 0xff);
}

void mutate_bytes(std::string& bytes, Rng& rng) {
  const size_t n = bytes.size();
  const auto pos = [&](size_t limit) { return limit == 0 ? size_t(0) : size_t(rng.below(limit)); };
  switch (rng.below(10)) {
    case 0:  // flip one bit
      if (n) bytes[pos(n)] ^= char(1 << rng.below(8));
      break;
    case 1:  // one byte to a random or boundary value
      if (n) bytes[pos(n)] = char(rng.chance(2) ? rng.next() : rng.pick(std::vector<uint64_t>{0, 1, 0x7f, 0x80, 0xff}));
      break;
    case 2: {  // an interesting integer of 1, 2, 4 or 8 bytes, either byte order
      const int width = 1 << rng.below(4);
      if (n < size_t(width)) break;
      const Field f{pos(n - size_t(width) + 1), width, rng.chance(2)};
      write_field(bytes, f, interesting_integer(rng, read_field(bytes, f), width));
      break;
    }
    case 3: {  // delete a range
      const size_t at = pos(n + 1), length = std::min(n - at, size_t(1 + rng.below(rng.chance(4) ? 4096 : 16)));
      bytes.erase(at, length);
      break;
    }
    case 4: {  // insert random bytes
      std::string extra(size_t(1 + rng.below(rng.chance(4) ? 1024 : 8)), '\0');
      for (char& c : extra) c = char(rng.next());
      bytes.insert(pos(n + 1), extra);
      break;
    }
    case 5: {  // duplicate a range somewhere
      if (!n) break;
      const size_t from = pos(n), length = std::min(n - from, size_t(1 + rng.below(256)));
      const std::string piece = bytes.substr(from, length);
      bytes.insert(pos(n + 1), piece);
      break;
    }
    case 6:  // truncate
      bytes.resize(pos(n + 1));
      break;
    case 7: {  // overwrite a range with a copy of another one
      if (n < 2) break;
      const size_t from = pos(n), to = pos(n), length = std::min({n - from, n - to, size_t(1 + rng.below(64))});
      std::memmove(&bytes[to], &bytes[from], length);
      break;
    }
    case 8: {  // a run of one byte value
      if (!n) break;
      const size_t at = pos(n), length = std::min(n - at, size_t(1 + rng.below(128)));
      std::memset(&bytes[at], rng.chance(2) ? 0 : 0xff, length);
      break;
    }
    default:  // append zeros or garbage
      bytes.append(size_t(1 + rng.below(64)), rng.chance(2) ? '\0' : char(rng.next()));
      break;
  }
}

std::string mutate_seed(const Seed& seed, Rng& rng) {
  std::string bytes = seed.bytes;
  const int count = 1 + int(rng.below(4));
  for (int i = 0; i < count; ++i) {
    if (!seed.fields.empty() && rng.chance(2) && bytes.size() == seed.bytes.size()) {
      const Field& f = rng.pick(seed.fields);
      write_field(bytes, f, interesting_integer(rng, read_field(bytes, f), f.width));
    } else {
      mutate_bytes(bytes, rng);
    }
  }
  return bytes;
}

namespace {

nlohmann::json interesting_json(Rng& rng) {
  switch (rng.below(16)) {
    case 0: return -64;
    case 1: return -1;
    case 2: return 0;
    case 3: return 2.5;
    case 4: return rng.pick(std::vector<double>{1e30, 1e300, -1e300, 1e-300, 0.5, 64.0});
    case 5: return uint64_t(18446744073709551615ULL);
    case 6: return int64_t(9223372036854775807LL);
    case 7: return uint64_t(1) << rng.below(64);
    case 8: return rng.pick(std::vector<std::string>{"float32", "float16", "int64", "float64", "", "x", "dcsr"});
    case 9: return nullptr;
    case 10: return rng.chance(2);
    case 11: return nlohmann::json::array();
    case 12: return nlohmann::json::object();
    case 13: return nlohmann::json::array({rng.below(8), -1, 2.5});
    case 14: {  // nested deeper than any reader should follow
      nlohmann::json deep = 1;
      for (int i = 0, n = int(rng.below(200)); i < n; ++i) deep = nlohmann::json::array({deep});
      return deep;
    }
    default: return interesting_text(rng);
  }
}

// Every node of `json` (depth first, at most 4096).
void collect(nlohmann::json& json, std::vector<nlohmann::json*>& nodes) {
  if (nodes.size() >= 4096) return;
  nodes.push_back(&json);
  if (json.is_structured())
    for (auto& child : json) collect(child, nodes);
}

}  // namespace

void mutate_json(nlohmann::json& json, Rng& rng) {
  const int count = 1 + int(rng.below(3));
  for (int i = 0; i < count; ++i) {
    std::vector<nlohmann::json*> nodes;
    collect(json, nodes);
    nlohmann::json& node = *nodes[size_t(rng.below(nodes.size()))];
    const uint64_t op = rng.below(6);
    if (op == 0 && node.is_number()) {
      const int64_t delta = rng.pick(std::vector<int64_t>{-64, -1, 1, 64, 1 << 20});
      node = node.is_number_float() ? nlohmann::json(node.get<double>() + double(delta))
                                    : nlohmann::json(int64_t(node.get<uint64_t>() + uint64_t(delta)));
    } else if (op == 1 && node.is_object() && !node.empty()) {
      auto it = node.begin();
      std::advance(it, long(rng.below(node.size())));
      node.erase(it);
    } else if (op == 2 && node.is_object()) {
      node[rng.chance(2) ? "unknown_key" : interesting_text(rng)] = interesting_json(rng);
    } else if (op == 3 && node.is_array() && !node.empty()) {
      const size_t at = size_t(rng.below(node.size()));
      if (rng.chance(2)) node.erase(at);
      else node.push_back(node[at]);  // a duplicate at the end
    } else if (op == 4 && node.is_array() && node.size() >= 2) {
      std::swap(node[size_t(rng.below(node.size()))], node[size_t(rng.below(node.size()))]);
    } else {
      node = interesting_json(rng);
    }
  }
}

std::string interesting_text(Rng& rng) {
  static const std::vector<std::string> texts = {
      "", "0", "-0", "1", "-1", "2", "3", "7", "64", "65535", "65536", "1024", "1025", "100000", "2147483647",
      "2147483648", "-2147483649", "4294967296", "9223372036854775807", "9223372036854775808",
      "18446744073709551616", "99999999999999999999999", "1e308", "1e309", "-1e309", "1e-320", "nan", "NaN",
      "inf", "-inf", "0x10", "1.5", "1,5", " 1", "1 ", "+1", "--", "-", "=", "==", "cpu", "cuda", "4k", "8k",
      "a=b", "lr=1e-4", "steps", "\xff\xfe", "\xc3\x28", std::string("a\0b", 3), "/", ".", "..", "/dev/null",
      "/proc/self/mem", std::string(300, 'x'), "{}", "[]", "null", "true", "\"", "{\"a\":", "[[[[[[[["};
  std::string text = rng.pick(texts);
  if (rng.chance(4) && !text.empty()) text[size_t(rng.below(text.size()))] = char(rng.next());
  return text;
}

const std::string& scratch_dir() {
  // Never destroyed: the atexit handler registered inside the initialiser runs
  // after the destructor of a static std::string would have (ASan found that
  // use after free), so the name lives on the heap until the process ends.
  static const std::string& dir = *new std::string([] {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/dcsr_fuzz.XXXXXX";
    if (!::mkdtemp(&pattern[0])) throw std::runtime_error("dcsr_fuzz: cannot create a scratch folder: " + pattern);
    std::atexit([] { std::error_code ec; std::filesystem::remove_all(scratch_dir(), ec); });
    return pattern;
  }());
  return dir;
}

void write_whole_file(const std::string& path, const std::string& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("dcsr_fuzz: cannot write " + path + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) {
      ::close(fd);
      throw std::runtime_error("dcsr_fuzz: cannot write " + path);
    }
    done += size_t(n);
  }
  ::close(fd);
}

}  // namespace dcsr::fuzz
