#include "tensor/serialize.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace dcsr {

namespace {
const char kMagic[8] = {'D', 'C', 'S', 'R', 'T', 'N', 'S', '1'};

template <typename T>
void put(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof(T));
}

class Reader {
 public:
  Reader(std::string bytes, std::string path) : bytes_(std::move(bytes)), path_(std::move(path)) {}
  template <typename T>
  T get() {
    T value;
    std::memcpy(&value, take(sizeof(T)), sizeof(T));
    return value;
  }
  const char* take(size_t n) {
    DCSR_CHECK(pos_ + n <= bytes_.size(), path_, ": truncated tensor file (needed ", n, " bytes at offset ", pos_,
               ", file has ", bytes_.size(), ")");
    const char* p = bytes_.data() + pos_;
    pos_ += n;
    return p;
  }

 private:
  std::string bytes_;
  std::string path_;
  size_t pos_ = 0;
};
}  // namespace

void write_file_atomic(const std::string& path, const std::string& bytes) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  DCSR_CHECK(fd >= 0, "cannot write '", tmp, "': ", std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      int err = errno;
      ::close(fd);
      std::remove(tmp.c_str());
      fail("cannot write '", tmp, "': ", std::strerror(err));
    }
    done += size_t(n);
  }
  ::fsync(fd);
  ::close(fd);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    std::remove(tmp.c_str());
    fail("cannot rename '", tmp, "' to '", path, "': ", std::strerror(err));
  }
}

void save_tensors(const std::string& path, const NamedTensors& tensors) {
  std::string out(kMagic, sizeof(kMagic));
  put<uint32_t>(out, kTensorFileVersion);
  put<uint32_t>(out, uint32_t(tensors.size()));
  for (const auto& [name, tensor] : tensors) {
    put<uint32_t>(out, uint32_t(name.size()));
    out += name;
    put<uint8_t>(out, uint8_t(tensor.dtype()));
    put<uint8_t>(out, uint8_t(tensor.dim()));
    put<uint16_t>(out, 0);
    for (int64_t s : tensor.shape()) put<int64_t>(out, s);
    Tensor host = tensor.device() == kCPU ? tensor : tensor.detach().to(kCPU);
    out.append(static_cast<const char*>(host.raw_data()), host.nbytes());
  }
  write_file_atomic(path, out);
}

std::map<std::string, Tensor> load_tensors(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  DCSR_CHECK(file, "cannot open tensor file '", path, "'");
  std::stringstream buffer;
  buffer << file.rdbuf();
  Reader in(buffer.str(), path);
  DCSR_CHECK(std::memcmp(in.take(8), kMagic, 8) == 0, path, ": not a dcsr tensor file (bad magic)");
  uint32_t version = in.get<uint32_t>();
  DCSR_CHECK(version == kTensorFileVersion, path, ": tensor file version ", version, ", this build reads version ",
             kTensorFileVersion, "; regenerate golden files with: python3 tests/reference/make_goldens.py");
  uint32_t count = in.get<uint32_t>();
  std::map<std::string, Tensor> tensors;
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t name_length = in.get<uint32_t>();
    std::string name(in.take(name_length), name_length);
    uint8_t code = in.get<uint8_t>();
    DCSR_CHECK(code <= 2, path, ": tensor '", name, "' has unknown dtype code ", int(code));
    uint8_t ndim = in.get<uint8_t>();
    in.get<uint16_t>();
    Shape shape(ndim);
    for (auto& s : shape) {
      s = in.get<int64_t>();
      DCSR_CHECK(s >= 0, path, ": tensor '", name, "' has a negative size");
    }
    DType dtype = DType(code);
    size_t bytes = size_t(shape_numel(shape)) * dtype_size(dtype);
    tensors[name] = from_blob(in.take(bytes), shape, dtype);
  }
  return tensors;
}

}  // namespace dcsr
