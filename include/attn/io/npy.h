// Reading and writing NumPy .npy files (format versions 1.0, 2.0 and 3.0).
//
// The reader accepts little-endian float32, float64, int32, int64, bool and uint8 arrays in C
// order, and rejects anything else (wrong magic, truncated data, a huge or corrupt header,
// unsupported dtype, Fortran order) with an attn::Error naming the file and the problem.
// Writers produce format 1.0 float32 files; whole-file writes are atomic (temporary file, fsync,
// rename), and NpyStreamWriter writes an array in row chunks so that large outputs need not be
// held in memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "attn/core/atomic_file.h"

namespace attn {

enum class DType { kFloat32, kFloat64, kInt32, kInt64, kBool, kUInt8, kFloat16 };

// Name of a dtype as NumPy spells it ("float32", ...).
const char* dtype_name(DType dtype);

struct NpyArray {
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;  // raw little-endian elements, C order

  int64_t num_elements() const;
  // The elements converted to float32 (float32, float64 and float16 arrays only; else throws);
  // float16 widens exactly.
  std::vector<float> to_float32() const;
  // The elements converted to int64 (int32/int64 arrays only; else throws).
  std::vector<int64_t> to_int64() const;
  // The elements as booleans (bool/uint8 arrays only; else throws).
  std::vector<uint8_t> to_bool() const;
};

// Parses the bytes of a .npy file. `name` is used in error messages.
NpyArray parse_npy(const uint8_t* bytes, size_t size, const std::string& name);

// Reads a .npy file; throws attn::Error if it cannot be opened or parsed.
NpyArray read_npy(const std::string& path);

// Writes a float32 array atomically: a temporary file beside `path`, fsync, rename.
void write_npy(const std::string& path, const float* data, const std::vector<int64_t>& shape);

// Writes one float32 array of a known shape piece by piece, atomically on finish().
class NpyStreamWriter {
 public:
  NpyStreamWriter(const std::string& path, const std::vector<int64_t>& shape);
  // The destructor removes the temporary file if finish() was not reached.
  NpyStreamWriter(const NpyStreamWriter&) = delete;
  NpyStreamWriter& operator=(const NpyStreamWriter&) = delete;

  // Appends n elements in C order.
  void append(const float* data, size_t n);
  // Checks that exactly the whole array was written, then fsyncs and renames into place.
  void finish();

 private:
  AtomicFile file_;
  size_t expected_ = 0;
  size_t written_ = 0;
};

}  // namespace attn
