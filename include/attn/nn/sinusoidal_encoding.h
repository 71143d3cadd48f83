// SinusoidalEncoding — the fixed positional encoding of "Attention Is All You Need".
//
//   x [B, T, C]  →  y[b, t] = x[b, t] + PE[start + t]
//   PE[p, 2i] = sin(p · base^(−2i/C)),   PE[p, 2i+1] = cos(p · base^(−2i/C))
//
// No parameters; backward(dy) returns dx = dy.
#pragma once

#include <cstdint>

#include "attn/core/tensor.h"

namespace attn::nn {

class SinusoidalEncoding {
 public:
  explicit SinusoidalEncoding(int64_t dim, double base = 10000.0);

  // PE for positions [start, start + len): [len, dim].
  Tensor table(int64_t start, int64_t len) const;

  Tensor forward(const Tensor& x, int64_t start = 0) const;  // x [B, T, dim]
  Tensor backward(const Tensor& dy) const;                   // → dx = dy

 private:
  int64_t dim_;
  double base_;
};

}  // namespace attn::nn
