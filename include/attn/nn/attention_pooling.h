// AttentionPooling — additive attention pooling (Bahdanau-style scores against a learned query):
// a sequence of vectors becomes one vector, their average weighted by learned relevance.
//
//   x [B, T, C], lengths [B]  →  y [B, C]
//   a_t = tanh(W·x_t + b)        [B, T, A]        W [A, C], b [A]
//   s_t = uᵀ·a_t                 [B, T]           u [A]
//   w_t = softmax_t(s_t) over the real tokens t < lengths[b]; w_t = 0 on padding
//   y   = Σ_t w_t·x_t
//
// forward keeps x, a and w; backward(dy) returns dx (zero on padding) and accumulates dW, db, du.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "attn/core/tensor.h"
#include "attn/nn/linear.h"
#include "attn/nn/parameter.h"

namespace attn::nn {

class AttentionPooling {
 public:
  // W ~ N(0, 1/C) and u ~ N(0, query_std²) from `seed`, b = 0. A small query_std starts the
  // layer close to mean pooling (all scores ≈ 0).
  AttentionPooling(int64_t dim, int64_t attention_dim, uint64_t seed, float query_std = 0.02f);

  // x [B, T, C]; lengths [B], each in [1, T] (empty means every row has T real tokens).
  Tensor forward(const Tensor& x, std::span<const int64_t> lengths = {});
  Tensor backward(const Tensor& dy);  // dy [B, C] → dx [B, T, C]

  // The pooling weights w of the last forward, [B, T] (0 on padding; each row sums to 1).
  const Tensor& weights() const { return w_; }

  // "proj.weight" [A, C] (decayed), "proj.bias" [A], "query" [A] (not decayed).
  std::vector<Parameter> parameters();

 private:
  int64_t dim_, attention_dim_;
  Linear proj_;
  Tensor u_, du_;
  Tensor x_, a_, w_;  // of the last forward
};

// Checks lengths against x [B, T, ...] and returns them, or T for every row when empty.
std::vector<int64_t> pooling_lengths(std::span<const int64_t> lengths, int64_t batch, int64_t len,
                                     const char* what);

}  // namespace attn::nn
