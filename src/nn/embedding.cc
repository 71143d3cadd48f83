#include "attn/nn/embedding.h"

#include <algorithm>
#include <cstring>

#include "attn/core/error.h"
#include "attn/nn/random.h"
#include "attn/nn/tensor_ops.h"

namespace attn::nn {

Embedding::Embedding(int64_t vocab, int64_t dim, uint64_t seed, float init_std)
    : vocab_(vocab), dim_(dim), table_({vocab, dim}), dtable_({vocab, dim}) {
  ATTN_CHECK(vocab > 0 && dim > 0, "Embedding: vocab and dim must be positive, got ", vocab,
             " and ", dim);
  fill_normal(table_, init_std, seed);
}

Tensor Embedding::forward(std::span<const int32_t> tokens, int64_t batch, int64_t len) {
  ATTN_CHECK(static_cast<int64_t>(tokens.size()) == batch * len, "Embedding: ", tokens.size(),
             " tokens for a [", batch, ", ", len, "] batch");
  for (int32_t t : tokens) {
    ATTN_CHECK(t >= 0 && t < vocab_, "Embedding: token id ", t, " outside [0, ", vocab_, ")");
  }
  tokens_.assign(tokens.begin(), tokens.end());
  Tensor y({batch, len, dim_});
  const int64_t n = batch * len;
  // y[n] = table[tokens[n]]
#pragma omp parallel for schedule(static) if (n * dim_ > (1 << 15))
  for (int64_t r = 0; r < n; ++r) {
    std::memcpy(y.data() + r * dim_, table_.data() + tokens_[r] * dim_, dim_ * sizeof(float));
  }
  return y;
}

void Embedding::backward(const Tensor& dy) {
  const int64_t n = rows_of(dy, dim_, "Embedding output gradient");
  ATTN_CHECK(n == static_cast<int64_t>(tokens_.size()),
             "Embedding backward: dy does not match the last forward's tokens");
  // forward: y[n] = table[tokens[n]]   →   dtable[tokens[n]] += dy[n]
  // Threads own blocks of channels and visit the rows in order.
  constexpr int64_t kBlock = 64;
  const int64_t blocks = (dim_ + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (n * dim_ > (1 << 15))
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t c0 = blk * kBlock, c1 = std::min(c0 + kBlock, dim_);
    for (int64_t r = 0; r < n; ++r) {
      float* dst = dtable_.data() + tokens_[r] * dim_;
      const float* src = dy.data() + r * dim_;
      for (int64_t c = c0; c < c1; ++c) dst[c] += src[c];
    }
  }
}

std::vector<Parameter> Embedding::parameters() {
  return {make_parameter("weight", table_, dtable_, true)};
}

}  // namespace attn::nn
