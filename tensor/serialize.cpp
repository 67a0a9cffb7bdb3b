#include "tensor/serialize.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <utility>

namespace dcsr {

namespace {
const char kMagic[8] = {'D', 'C', 'S', 'R', 'T', 'N', 'S', '1'};

template <typename T>
void put(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof(T));
}

class Reader {
 public:
  Reader(const std::string& bytes, const std::string& name) : bytes_(bytes), name_(name) {}
  template <typename T>
  T get() {
    T value;
    std::memcpy(&value, take(sizeof(T)), sizeof(T));
    return value;
  }
  const char* take(uint64_t n) {
    DCSR_CHECK(n <= bytes_.size() - pos_, name_, ": truncated tensor file (needed ", n, " bytes at offset ", pos_,
               ", file has ", bytes_.size(), ")");
    const char* p = bytes_.data() + pos_;
    pos_ += size_t(n);
    return p;
  }
  size_t left() const { return bytes_.size() - pos_; }

 private:
  const std::string& bytes_;
  const std::string& name_;
  size_t pos_ = 0;
};

}  // namespace

std::string printable_name(const std::string& name) {
  std::string out = name.substr(0, 64);
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return name.size() > 64 ? out + "..." : out;
}

AtomicFileWriter::AtomicFileWriter(std::string path)
    : path_(std::move(path)), temp_(path_ + ".tmp." + std::to_string(::getpid())) {
  fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  DCSR_CHECK(fd_ >= 0, "cannot write '", temp_, "': ", std::strerror(errno));
}

AtomicFileWriter::~AtomicFileWriter() { discard(); }

void AtomicFileWriter::discard() noexcept {
  if (fd_ < 0) return;
  ::close(fd_);
  fd_ = -1;
  std::remove(temp_.c_str());
}

void AtomicFileWriter::append(const char* data, size_t size) {
  DCSR_CHECK(fd_ >= 0, "cannot write '", path_, "': the file was already committed or abandoned");
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd_, data + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      discard();
      fail("cannot write '", temp_, "': ", std::strerror(err));
    }
    done += size_t(n);
  }
}

void AtomicFileWriter::commit() {
  DCSR_CHECK(fd_ >= 0, "cannot write '", path_, "': the file was already committed or abandoned");
  // A late error (a full disk or a quota on a network file system reports
  // it only here) must not rename a cut temp file over a good output.
  // EINVAL: the file system cannot sync, which is no error of the data.
  int err = ::fsync(fd_) != 0 && errno != EINVAL ? errno : 0;
  if (::close(fd_) != 0 && err == 0 && errno != EINTR) err = errno;
  fd_ = -1;
  if (err != 0) {
    std::remove(temp_.c_str());
    fail("cannot write '", path_, "': ", std::strerror(err), " (at the end of writing its temp file)");
  }
  if (std::rename(temp_.c_str(), path_.c_str()) != 0) {
    err = errno;
    std::remove(temp_.c_str());
    fail("cannot rename '", temp_, "' to '", path_, "': ", std::strerror(err));
  }
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  AtomicFileWriter file(path);
  file.append(bytes);
  file.commit();
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

namespace {
// The first `length` bytes of a regular file of at most `max_bytes` (all of it
// when shorter); its size in *file_size when given.
std::string read_regular_file(const std::string& path, const char* what, uint64_t max_bytes, uint64_t length,
                              uint64_t* file_size) {
  // O_NONBLOCK: opening a FIFO would otherwise wait for a writer, forever
  // (a regular file's reads ignore the flag).
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  DCSR_CHECK(fd >= 0, "cannot open ", what, " '", path, "': ", std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const bool folder = S_ISDIR(st.st_mode);
    ::close(fd);
    fail("cannot read ", what, " '", path, "': ", folder ? "it is a folder" : "not a regular file");
  }
  if (uint64_t(st.st_size) > max_bytes) {
    ::close(fd);
    fail("cannot read ", what, " '", path, "': ", st.st_size, " bytes, more than the limit of ", max_bytes);
  }
  if (file_size) *file_size = uint64_t(st.st_size);
  std::string bytes(size_t(std::min(uint64_t(st.st_size), length)), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::read(fd, &bytes[done], bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : 0;
      ::close(fd);
      fail("cannot read ", what, " '", path, "': ", err ? std::strerror(err) : "it shrank while being read");
    }
    done += size_t(n);
  }
  ::close(fd);
  return bytes;
}
}  // namespace

std::string read_file_bytes(const std::string& path, const char* what, uint64_t max_bytes) {
  return read_regular_file(path, what, max_bytes, UINT64_MAX, nullptr);
}

std::string read_file_head(const std::string& path, const char* what, uint64_t length, uint64_t* file_size) {
  return read_regular_file(path, what, UINT64_MAX, length, file_size);
}

int64_t checked_numel(const Shape& shape, size_t element_bytes, uint64_t max_bytes, const std::string& what,
                      uint64_t* bytes) {
  uint64_t numel = 1, total = element_bytes;
  bool too_big = false;
  for (int64_t s : shape) {
    DCSR_CHECK(s >= 0, what, " has a negative size in shape ", shape_str(shape));
    too_big = too_big || __builtin_mul_overflow(numel, uint64_t(s), &numel);
  }
  too_big = too_big || __builtin_mul_overflow(numel, uint64_t(element_bytes), &total) || total > max_bytes;
  DCSR_CHECK(!too_big, what, " has shape ", shape_str(shape), ", more than the ", max_bytes,
             " bytes available");
  if (bytes) *bytes = total;
  return int64_t(numel);
}

std::map<std::string, Tensor> load_tensors(const std::string& path) {
  return parse_tensors(read_file_bytes(path, "tensor file"), path);
}

std::map<std::string, Tensor> parse_tensors(const std::string& bytes, const std::string& name) {
  Reader in(bytes, name);
  DCSR_CHECK(std::memcmp(in.take(8), kMagic, 8) == 0, name, ": not a dcsr tensor file (bad magic)");
  uint32_t version = in.get<uint32_t>();
  DCSR_CHECK(version == kTensorFileVersion, name, ": tensor file version ", version, ", this build reads version ",
             kTensorFileVersion, "; regenerate golden files with: python3 tests/reference/make_goldens.py");
  uint32_t count = in.get<uint32_t>();
  std::map<std::string, Tensor> tensors;
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t name_length = in.get<uint32_t>();
    std::string tensor(in.take(name_length), name_length);
    const std::string what = name + ": tensor '" + printable_name(tensor) + "'";
    DCSR_CHECK(!tensors.count(tensor), what, " appears twice");
    uint8_t code = in.get<uint8_t>();
    DCSR_CHECK(code <= 2, what, " has unknown dtype code ", int(code));
    uint8_t ndim = in.get<uint8_t>();
    in.get<uint16_t>();
    Shape shape(ndim);
    for (auto& s : shape) s = in.get<int64_t>();
    const DType dtype = DType(code);
    uint64_t nbytes = 0;
    checked_numel(shape, dtype_size(dtype), UINT64_MAX, what, &nbytes);  // take() checks the length
    tensors[tensor] = from_blob(in.take(nbytes), shape, dtype);
  }
  DCSR_CHECK(in.left() == 0, name, ": ", in.left(), " bytes after the last of its ", count, " tensors");
  return tensors;
}

}  // namespace dcsr
