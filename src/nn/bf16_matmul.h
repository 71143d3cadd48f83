// Mixed-precision matrix products for nn::Linear: bfloat16 inputs, fp32 accumulation and output,
// on oneDNN's matmul (AMX or AVX512-BF16 where the CPU has them). Private to nn/.
#pragma once

#include <cstdint>
#include <memory>

#include "attn/core/tensor.h"

namespace attn::nn::detail {

// An owning, 64-byte aligned array of bfloat16 values (their 16-bit patterns).
class Bf16Buffer {
 public:
  // Holds bf16(x[i]) for i in [0, n), rounded to nearest even; reuses the storage when it is
  // large enough.
  void assign(const float* x, int64_t n);
  const uint16_t* data() const { return data_.get(); }
  int64_t size() const { return size_; }

 private:
  std::unique_ptr<uint16_t[], AlignedFree> data_;
  int64_t size_ = 0, capacity_ = 0;
};

// A bf16 matrix operand [rows, cols] with strides in elements (a transposed view swaps them).
struct Bf16Matrix {
  const uint16_t* data;
  int64_t rows, cols;
  int64_t row_stride, col_stride;
};

// c [m, n] = a [m, k] · b [k, n] (+ bias [n] broadcast over rows, when not null)
// (+ the old c, when accumulate). c is fp32, row-major, contiguous.
void bf16_matmul(const Bf16Matrix& a, const Bf16Matrix& b, const float* bias, float* c,
                 bool accumulate);

}  // namespace attn::nn::detail
