// DecoderBlock — the block of an encoder–decoder transformer's decoder (pre-norm): causal
// self-attention, cross-attention to the encoder's output, and a feed-forward network, each in a
// residual branch.
//
//   h1 = x  + drop(self_attn(norm1(x)))              causal over the decoder tokens
//   h2 = h1 + drop(cross_attn(norm2(h1), memory))    keys ≥ memory_lengths[b] masked
//   y  = h2 + drop(ffn(norm3(h2)))
//
//   x [B, T, C], memory [B, S, Cm]  →  y [B, T, C]
//
// backward(dy) returns dx, writes dL/dmemory and accumulates the gradients of every parameter.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "attn/core/tensor.h"
#include "attn/nn/dropout.h"
#include "attn/nn/feed_forward.h"
#include "attn/nn/multi_head_attention.h"
#include "attn/nn/norm.h"
#include "attn/nn/parameter.h"

namespace attn::nn {

struct DecoderBlockConfig {
  int64_t d_model = 0;     // C
  int64_t n_heads = 0;     // Hq of both attentions
  int64_t memory_dim = 0;  // Cm, width of the encoder output (0 means C)
  int64_t d_ff = 0;        // hidden width of the feed-forward (0 means 4·C)
  NormKind norm = NormKind::kLayerNorm;
  float norm_eps = 1e-5f;
  Activation activation = Activation::kGelu;
  bool bias = true;      // biases of the projections and the feed-forward
  float dropout = 0.0f;  // on the three residual branches, when training
  uint64_t seed = 0;     // initialisation and dropout masks
};

// Per-call inputs beside x.
struct DecoderInputs {
  const Tensor* memory = nullptr;           // [B, S, Cm], the encoder output; required
  std::span<const int64_t> memory_lengths;  // [B]: memory rows ≥ memory_lengths[b] are padding
  bool training = false;                    // dropout on
  uint64_t step = 0;                        // selects the dropout masks
};

class DecoderBlock {
 public:
  explicit DecoderBlock(const DecoderBlockConfig& config);

  Tensor forward(const Tensor& x, const DecoderInputs& inputs);  // [B, T, C] → [B, T, C]
  // dy [B, T, C] → dx [B, T, C]; dL/dmemory [B, S, Cm] of this block is written to *dmemory.
  Tensor backward(const Tensor& dy, Tensor* dmemory);

  // The block's wiring with both attention sub-layers supplied by the caller:
  // `self_attend(self_attention(), in)` and `cross_attend(cross_attention(), in)` replace them.
  // No dropout, nothing kept for backward. Generation uses it with KV caches
  // (attn/infer/cached_attention.h).
  using Attend = std::function<Tensor(MultiHeadAttention&, const Tensor&)>;
  Tensor forward_with(const Tensor& x, const Attend& self_attend, const Attend& cross_attend);

  // "norm1.*", "self_attn.*", "norm2.*", "cross_attn.*", "norm3.*", "ffn.*".
  std::vector<Parameter> parameters();
  MultiHeadAttention& self_attention() { return self_attn_; }
  MultiHeadAttention& cross_attention() { return cross_attn_; }
  const DecoderBlockConfig& config() const { return config_; }

 private:
  DecoderBlockConfig config_;
  Norm norm1_, norm2_, norm3_;
  MultiHeadAttention self_attn_, cross_attn_;
  FeedForward ffn_;
  Dropout drop1_, drop2_, drop3_;
};

}  // namespace attn::nn
