// dcsr_fuzz: a mutation fuzzer over the readers of untrusted input (issue 17):
// the image readers (PNG, BMP, JPEG), checkpoints, named-tensor files, the
// JSON training and model configs and the command-line parser.
//
// Each target starts from seed inputs it builds itself (no files from outside
// are needed), and each run mutates one seed with a few operations: byte
// flips, interesting integers, inserted / deleted / duplicated ranges,
// truncation, and structure-aware edits of header fields (PNG chunk lengths
// and IHDR, BMP and JPEG dimensions and segment lengths, checkpoint offsets,
// shapes and dtypes in the JSON header). Some runs repair checksums after
// mutating (PNG CRCs and Adler-32) so that the decoder behind them is reached.
//
// A run passes when the reader returns or throws dcsr::Error. Any other
// exception, a crash or a sanitizer report is a failure. Run i of a target
// depends only on (seed, i): `--first i --runs 1 --save FILE` replays it.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dcsr::fuzz {

// splitmix64: small, fast, and the same sequence everywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n); n > 0.
  uint64_t below(uint64_t n) { return next() % n; }
  bool chance(int one_in) { return below(uint64_t(one_in)) == 0; }
  template <typename T>
  const T& pick(const std::vector<T>& items) { return items[size_t(below(items.size()))]; }

 private:
  uint64_t state_;
};

// A header field inside a seed: `width` bytes (1, 2, 4 or 8) at `offset`.
struct Field {
  size_t offset;
  int width;
  bool big_endian;
};

// A seed: its bytes and the header fields worth mutating as integers.
struct Seed {
  std::string bytes;
  std::vector<Field> fields;
  std::string extension;  // for the image targets: ".png", ".bmp", ".jpg"
};

// An integer that often breaks parsers: 0, 1, -1, powers of two and their
// neighbours, the limits of each width, or the old value nudged.
uint64_t interesting_integer(Rng& rng, uint64_t old_value, int width);
uint64_t read_field(const std::string& bytes, const Field& f);
void write_field(std::string& bytes, const Field& f, uint64_t value);

// One generic byte-level mutation in place (the result may be empty).
void mutate_bytes(std::string& bytes, Rng& rng);
// 1 to 4 mutations: header fields of `seed` first (while their offsets hold),
// then byte-level ones.
std::string mutate_seed(const Seed& seed, Rng& rng);

// 1 to 3 edits of a JSON document: a node replaced by an interesting value
// (negative, fractional, huge, of another type, deeply nested), a number
// nudged, a key or an element removed, duplicated or added.
void mutate_json(nlohmann::json& json, Rng& rng);

// A string that often breaks parsers of text values ("", "-1", "nan", huge numbers, ...).
std::string interesting_text(Rng& rng);

// A target: seeds, and one run on a mutated input (throws on rejection).
struct Target {
  std::string name;
  std::string summary;
  std::function<std::vector<Seed>()> make_seeds;
  // Builds the input of run `rng` from the seeds and runs the reader on it;
  // `input` receives the bytes (for --save and crash reports).
  std::function<void(const std::vector<Seed>& seeds, Rng& rng, std::string& input)> run;
};

std::vector<Target> image_targets();       // png, bmp, jpeg (fuzz_images.cpp)
std::vector<Target> checkpoint_targets();  // checkpoint, tensors (fuzz_checkpoint.cpp)
std::vector<Target> config_targets();      // config (fuzz_config.cpp)
std::vector<Target> cli_targets();         // cli (fuzz_cli.cpp)

// A scratch folder for the run's files (under $TMPDIR, else /tmp), removed at exit.
const std::string& scratch_dir();
void write_whole_file(const std::string& path, const std::string& bytes);

}  // namespace dcsr::fuzz
