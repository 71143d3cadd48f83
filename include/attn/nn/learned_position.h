// LearnedPositionalEmbedding — adds a trained vector per position: an Embedding over positions.
//
//   x [B, T, C]  →  y[b, t] = x[b, t] + table[start + t]        table [max_len, C]
//
// backward(dy) returns dx = dy and adds dy[b, t] into dtable[start + t] (batches in order).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "attn/core/tensor.h"
#include "attn/nn/embedding.h"
#include "attn/nn/parameter.h"

namespace attn::nn {

class LearnedPositionalEmbedding {
 public:
  LearnedPositionalEmbedding(int64_t max_len, int64_t dim, uint64_t seed, float init_std = 0.02f);

  // x [B, T, C] with start + T ≤ max_len.
  Tensor forward(const Tensor& x, int64_t start = 0);
  // x [B, T, C] with its own position for each token: positions [B·T], each < max_len.
  Tensor forward(const Tensor& x, std::span<const int32_t> positions);
  Tensor backward(const Tensor& dy);  // → dx = dy; accumulates dtable

  std::vector<Parameter> parameters();  // "weight" [max_len, C] (decayed)
  int64_t max_len() const { return table_.vocab(); }

 private:
  Embedding table_;
};

}  // namespace attn::nn
