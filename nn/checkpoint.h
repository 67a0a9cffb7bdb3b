// Checkpoint files ("DCSRCKPT"): model weights, optimiser state and training
// metadata in one file, the format written by tools/convert_weights.py
// (tests/reference/README.md, "Weight checkpoints"):
//
//   8 bytes  magic "DCSRCKPT"
//   u64      header_len (little-endian)
//   header   UTF-8 JSON {"format": "dcsr-checkpoint", "version": 1, "config": {...},
//            "tensors": [{"name", "dtype", "shape", "offset", "nbytes"}, ...], "extra": {...}}
//   padding  zeros up to data_start = the next multiple of 64 at or after 16 + header_len
//   data     tensor i at data_start + offset_i (offsets multiples of 64, zero gaps),
//            little-endian, row-major
//
// Reading validates everything and fails with the file's name and what is
// wrong; writing is atomic (a crash leaves the old file or the new one).
#pragma once
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "nn/module.h"
#include "tensor/serialize.h"

namespace dcsr {

struct Checkpoint {
  nlohmann::json config = nlohmann::json::object();
  NamedTensors tensors;  // in file order; CPU tensors after reading
  nlohmann::json extra = nlohmann::json::object();

  // The tensor called `name`, or nullptr.
  const Tensor* find(const std::string& name) const;
  // The tensor called `name`; fails naming it when absent.
  const Tensor& at(const std::string& name) const;
};

void save_checkpoint(const std::string& path, const Checkpoint& ckpt);
// The bytes save_checkpoint writes.
std::string encode_checkpoint(const Checkpoint& ckpt);
// Reads and validates: the header is a JSON object of the shape above; every
// tensor entry has a non-empty name (no two alike), a known dtype, a shape of
// at most 16 non-negative integer sizes, nbytes = numel * dtype size, a
// 64-aligned offset; tensors lie inside the data and do not overlap; float
// tensors hold only finite values. Fails naming the file and the tensor.
Checkpoint read_checkpoint(const std::string& path);
// The same from the file's bytes; `path` is only used in messages.
Checkpoint parse_checkpoint(const std::string& bytes, const std::string& path);
// The config and extra alone (`tensors` empty), for a caller that needs no
// tensor: reads the magic, the header length and the header, not the data (a
// training run's best score is in model_best's "loop", beside the model and
// the optimiser's moments). The header is checked as read_checkpoint checks
// it, its tensor entries against the file's size too (a truncated file is
// refused); the values, never read, are not checked.
Checkpoint read_checkpoint_metadata(const std::string& path);

// Every parameter of `module` with its name, copied to the CPU (for saving).
NamedTensors module_state(const nn::Module& module);

// Copies the checkpoint tensors `prefix + name` into the module's parameters
// (converted to each parameter's dtype and device). Strict: fails when a
// parameter has no tensor, a tensor under `prefix` has no parameter, or
// shapes differ, in one line: the count of each kind and up to three names
// ("2 missing (a, b); 14 unexpected (e.g. c, d, e)"). Nothing is copied then. Tensors not starting with `prefix`
// are ignored (a training checkpoint holds optimiser state next to the model).
void load_parameters_strict(nn::Module& module, const Checkpoint& ckpt, const std::string& prefix = "");

}  // namespace dcsr
