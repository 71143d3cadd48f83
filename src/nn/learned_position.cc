#include "attn/nn/learned_position.h"

#include "attn/core/error.h"
#include "attn/nn/tensor_ops.h"

namespace attn::nn {

LearnedPositionalEmbedding::LearnedPositionalEmbedding(int64_t max_len, int64_t dim, uint64_t seed,
                                                       float init_std)
    : table_(max_len, dim, seed, init_std) {}

Tensor LearnedPositionalEmbedding::forward(const Tensor& x, int64_t start) {
  ATTN_CHECK(x.shape().size() == 3 && x.dim(2) == table_.dim(),
             "LearnedPositionalEmbedding: expected x [B, T, ", table_.dim(), "]");
  const int64_t batch = x.dim(0), len = x.dim(1);
  ATTN_CHECK(start >= 0 && start + len <= max_len(), "LearnedPositionalEmbedding: positions [",
             start, ", ", start + len, ") exceed max_len ", max_len());
  std::vector<int32_t> positions(batch * len);
  for (int64_t i = 0; i < batch * len; ++i) positions[i] = static_cast<int32_t>(start + i % len);
  return forward(x, positions);
}

Tensor LearnedPositionalEmbedding::forward(const Tensor& x, std::span<const int32_t> positions) {
  ATTN_CHECK(x.shape().size() == 3 && x.dim(2) == table_.dim(),
             "LearnedPositionalEmbedding: expected x [B, T, ", table_.dim(), "]");
  const int64_t batch = x.dim(0), len = x.dim(1);
  ATTN_CHECK(static_cast<int64_t>(positions.size()) == batch * len,
             "LearnedPositionalEmbedding: ", positions.size(), " positions for ", batch * len,
             " tokens");
  // y = x + table[positions]
  Tensor y = table_.forward(positions, batch, len);
  add_into(y, x);
  return y;
}

Tensor LearnedPositionalEmbedding::backward(const Tensor& dy) {
  // forward: y = x + table[positions]   →   dx = dy,  dtable[positions] += dy
  table_.backward(dy);
  return clone(dy);
}

std::vector<Parameter> LearnedPositionalEmbedding::parameters() { return table_.parameters(); }

}  // namespace attn::nn
