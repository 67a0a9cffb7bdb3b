// Scratch folders and generated images for the tests of io/, data, tiling and
// the CLI. Tests never read ../shared: every image here is made on the fly.
#pragma once
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include "io/image_io.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace dcsr::test {

// A fresh folder under the system temp dir, removed with everything in it
// when the object goes away.
class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("dcsr_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string str() const { return path_.string(); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// A smooth, textured RGB test image (1, 3, h, w) in [0, 1]: sums of sines
// with a seeded phase, so every seed gives a different but deterministic picture.
inline Tensor test_image(int64_t h, int64_t w, uint64_t seed = 1) {
  Generator gen(seed);
  double phase[3], fy[3], fx[3];
  for (int c = 0; c < 3; ++c) phase[c] = gen.uniform(0, 6.28), fy[c] = gen.uniform(0.05, 0.4), fx[c] = gen.uniform(0.05, 0.4);
  Tensor t = empty({1, 3, h, w});
  float* d = t.data<float>();
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x)
        d[(c * h + y) * w + x] =
            float(0.5 + 0.3 * std::sin(fy[c] * double(y) + fx[c] * double(x) + phase[c]) +
                  0.15 * std::cos(0.9 * double(x) - 0.7 * double(y) + double(c)));
  return t;
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

inline std::string read_bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace dcsr::test
