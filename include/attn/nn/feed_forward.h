// FeedForward — the position-wise MLP of a transformer block, with GELU or SwiGLU.
//
//   GELU:    y = W2·gelu(W1·x + b1) + b2               W1 [hidden, C], W2 [C, hidden]
//   SwiGLU:  y = W2·(silu(W1·x) ∘ (W3·x))              W3 [hidden, C]; no biases by default
//
//   x [..., C]  →  y [..., C]
//
// forward keeps the hidden pre-activations; backward(dy) returns dx and accumulates the
// gradients of every weight.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "attn/core/tensor.h"
#include "attn/nn/linear.h"
#include "attn/nn/parameter.h"

namespace attn::nn {

enum class Activation { kGelu, kSwiGLU };

struct FeedForwardConfig {
  int64_t dim = 0;     // C
  int64_t hidden = 0;  // width of the hidden layer (4·C for GELU, ~8/3·C for SwiGLU usually)
  Activation activation = Activation::kGelu;
  bool bias = true;   // biases on W1, W2 (and W3)
  uint64_t seed = 0;  // initialisation
};

class FeedForward {
 public:
  explicit FeedForward(const FeedForwardConfig& config);

  Tensor forward(const Tensor& x);    // x [..., C] → [..., C]
  Tensor backward(const Tensor& dy);  // dy [..., C] → dx [..., C]

  // "w1.weight", "w1.bias", "w2.*", and "w3.*" for SwiGLU.
  std::vector<Parameter> parameters();
  const FeedForwardConfig& config() const { return config_; }

 private:
  FeedForwardConfig config_;
  Linear w1_, w2_;
  std::optional<Linear> w3_;  // SwiGLU only
  Tensor h1_, h3_;            // pre-activations W1·x (+ b1) and W3·x of the last forward
};

}  // namespace attn::nn
