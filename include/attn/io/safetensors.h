// Checkpoints in the safetensors format: named float32 tensors plus string metadata.
//
// Layout of a file: an 8-byte little-endian header length N, N bytes of JSON
//   {"__metadata__": {"key": "value", ...}, "name": {"dtype": "F32", "shape": [..],
//    "data_offsets": [begin, end]}, ...}
// padded with spaces to a multiple of 8, then the tensor bytes. Writing is atomic (AtomicFile), so
// a crash while saving never harms the previous checkpoint. Reading checks everything — header
// length, JSON, dtype, shapes, offsets inside the file, sizes that add up — and throws attn::Error
// naming the file and the problem.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace attn {

// A tensor to write: `data` holds the product of `shape` floats, row-major.
struct NamedTensor {
  std::string name;
  std::vector<int64_t> shape;
  const float* data = nullptr;
};

using Metadata = std::map<std::string, std::string>;

// Writes the tensors (in the given order) and the metadata to `path` atomically.
void write_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                       const Metadata& metadata);

// True when `path` is meant as a safetensors checkpoint: its name ends in .safetensors, or it
// starts like one (a plausible 8-byte header length, then '{'). Only reading it tells whether it
// is intact; a broken one is then reported as such, not taken for another format.
bool looks_like_safetensors(const std::string& path);

// A checkpoint read into memory.
class SafetensorsFile {
 public:
  // Reads and checks `path`; throws attn::Error if it is missing, truncated or inconsistent.
  static SafetensorsFile read(const std::string& path);
  // Parses the bytes of a checkpoint; `name` is used in error messages.
  static SafetensorsFile parse(std::vector<uint8_t> bytes, const std::string& name);

  const Metadata& metadata() const { return metadata_; }
  // The metadata value of `key`; throws naming the key if it is absent.
  const std::string& meta(const std::string& key) const;
  bool contains(const std::string& name) const { return entries_.count(name) > 0; }
  std::vector<std::string> names() const;
  // The shape of tensor `name`; throws if absent.
  const std::vector<int64_t>& shape(const std::string& name) const;
  // Copies tensor `name` into `out` after checking that its shape is `expected`.
  void read_into(const std::string& name, const std::vector<int64_t>& expected, float* out) const;

 private:
  struct Entry {
    std::vector<int64_t> shape;
    size_t begin = 0;  // byte offsets into data_
    size_t end = 0;
  };
  const Entry& entry(const std::string& name) const;

  std::string name_;
  Metadata metadata_;
  std::map<std::string, Entry> entries_;
  std::vector<uint8_t> bytes_;  // the whole file
  size_t data_start_ = 0;
};

}  // namespace attn
