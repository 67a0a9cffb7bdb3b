// A tiny binary file of named tensors, used for golden reference values
// (written by tests/reference/golden_io.py) and for saving tensors in tests.
//
// Layout (little-endian):
//   8 bytes magic "DCSRTNS1", u32 version, u32 count, then per tensor:
//   u32 name length, name bytes, u8 dtype (0 f32, 1 f64, 2 i64), u8 ndim,
//   u16 reserved, i64 dims[ndim], raw row-major data.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace dcsr {

constexpr uint32_t kTensorFileVersion = 1;

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// Writes atomically: a temporary file next to `path`, then a rename.
void save_tensors(const std::string& path, const NamedTensors& tensors);
// Reads every tensor to the CPU. Fails naming the file on a bad magic, a
// version other than kTensorFileVersion, truncation, trailing bytes, an unknown
// dtype, a negative or overflowing shape, or a name given twice.
std::map<std::string, Tensor> load_tensors(const std::string& path);
// The same from the file's bytes; `name` is used in messages.
std::map<std::string, Tensor> parse_tensors(const std::string& bytes, const std::string& name);

// The whole of a regular file. Fails naming the file (and `what` it should
// be, e.g. "checkpoint") when it is missing, unreadable, a folder, a device or
// a pipe, or larger than `max_bytes`.
std::string read_file_bytes(const std::string& path, const char* what, uint64_t max_bytes = uint64_t(1) << 40);
// The first `length` bytes of a regular file (all of it when it is shorter)
// and the file's size in *file_size: for a reader that needs only a file's
// header. Fails as read_file_bytes does.
std::string read_file_head(const std::string& path, const char* what, uint64_t length, uint64_t* file_size);

// A name read from a file, for messages: at most 64 characters, control
// characters as '?', so that an error stays one short line.
std::string printable_name(const std::string& name);

// Elements of `shape`, or a failure naming `what` when a size is negative or
// the product (or the product times `element_bytes`) exceeds `max_bytes`.
// Returns the element count; `*bytes` gets the byte count.
int64_t checked_numel(const Shape& shape, size_t element_bytes, uint64_t max_bytes, const std::string& what,
                      uint64_t* bytes);

// Writes `bytes` to `path` atomically (temporary file, fsync, rename): a crash
// leaves either the old file or the new one, never half of one.
void write_file_atomic(const std::string& path, const std::string& bytes);

// The same for a file written piece by piece (an image streamed as it is
// made): the pieces go to the temporary file `<path>.tmp.<pid>`
// (atomic_temp_path, io/output_rules.h); commit() fsyncs it and renames it to
// `path`. Destroyed without commit() (an error on the way), it removes the
// temporary file: `path` is never touched.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(std::string path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  void append(const char* data, size_t size);
  void append(const std::string& bytes) { append(bytes.data(), bytes.size()); }
  void commit();
  const std::string& path() const { return path_; }

 private:
  void discard() noexcept;
  std::string path_, temp_;
  int fd_ = -1;
};

}  // namespace dcsr
