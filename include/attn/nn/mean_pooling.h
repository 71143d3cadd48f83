// MeanPooling — the average of a sequence's real tokens.
//
//   x [B, T, C], lengths [B]  →  y[b] = (1/n_b)·Σ_{t < n_b} x[b, t]        n_b = lengths[b]
//
// No parameters; backward(dy) spreads dy[b]/n_b over the real tokens (zero on padding).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "attn/core/tensor.h"

namespace attn::nn {

class MeanPooling {
 public:
  // x [B, T, C]; lengths [B], each in [1, T] (empty means every row has T real tokens).
  Tensor forward(const Tensor& x, std::span<const int64_t> lengths = {});
  Tensor backward(const Tensor& dy) const;  // dy [B, C] → dx [B, T, C]

  // The weights of the last forward, [B, T]: 1/n_b on the real tokens, 0 on padding.
  const Tensor& weights() const { return w_; }

 private:
  Tensor w_;
  int64_t dim_ = 0;
};

}  // namespace attn::nn
