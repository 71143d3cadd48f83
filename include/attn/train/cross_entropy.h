// CrossEntropyLoss — softmax cross-entropy of logits against target ids, with an ignore index.
//
//   logits [N, V] (any [..., V]), targets [N]
//   loss = (1/K) · Σ_{n : t_n ≠ ignore} (lse_n − logits[n, t_n]),   lse_n = log Σ_v exp(logits[n,
//   v]) K = number of rows whose target is not ignored (loss 0 when K = 0)
//
// The backward is fused with the softmax: dlogits[n, v] = dloss · (softmax_n[v] − [v = t_n]) / K,
// and 0 on ignored rows. forward keeps only each row's log-sum-exp; backward takes the same logits
// again (the caller holds them anyway), and can overwrite them to save a [N, V] buffer.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "attn/core/tensor.h"

namespace attn::train {

class CrossEntropyLoss {
 public:
  explicit CrossEntropyLoss(int32_t ignore_index = -100);

  // targets in [0, V) or equal to ignore_index.
  float forward(const Tensor& logits, std::span<const int32_t> targets);
  // dL/dlogits for the logits of the last forward, scaled by dloss.
  Tensor backward(const Tensor& logits, float dloss = 1.0f) const;
  // The same, written over the logits.
  void backward_in_place(Tensor& logits, float dloss = 1.0f) const;

  int64_t counted() const { return counted_; }  // K of the last forward

 private:
  void softmax_grad(const float* logits, float* dlogits, float dloss) const;

  int32_t ignore_index_;
  int64_t rows_ = 0, vocab_ = 0, counted_ = 0;
  std::vector<int32_t> targets_;
  std::vector<float> lse_;  // per row
};

}  // namespace attn::train
