// Embedding — a lookup table: row tokens[n] of the table becomes output row n.
//
//   tokens [B, T] (ids in [0, vocab))  →  y [B, T, dim]        table [vocab, dim]
//
// backward(dy) scatter-adds dy into the table gradient: dtable[tokens[n]] += dy[n], with the rows
// n added in order for every channel, so repeated tokens sum the same way on any thread count.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "attn/core/tensor.h"
#include "attn/nn/parameter.h"

namespace attn::nn {

class Embedding {
 public:
  // table ~ N(0, init_std²) from `seed`.
  Embedding(int64_t vocab, int64_t dim, uint64_t seed, float init_std = 0.02f);

  // tokens: batch·len ids, row-major [batch, len] → [batch, len, dim].
  Tensor forward(std::span<const int32_t> tokens, int64_t batch, int64_t len);
  // dy [batch, len, dim]: accumulates the table gradient; tokens have no gradient.
  void backward(const Tensor& dy);

  std::vector<Parameter> parameters();  // "weight" [vocab, dim] (decayed)
  int64_t vocab() const { return vocab_; }
  int64_t dim() const { return dim_; }
  Tensor& weight() { return table_; }
  Tensor& weight_grad() { return dtable_; }

 private:
  int64_t vocab_, dim_;
  Tensor table_, dtable_;
  std::vector<int32_t> tokens_;  // the ids of the last forward
};

}  // namespace attn::nn
