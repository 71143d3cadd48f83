// TransformerBlock — self-attention and a feed-forward network, each in a residual branch.
//
//   pre-norm  (GPT-2, Llama):   h = x + drop(attn(norm1(x)))      y = h + drop(ffn(norm2(h)))
//   post-norm (the original):   h = norm1(x + drop(attn(x)))      y = norm2(h + drop(ffn(h)))
//
//   x [B, T, C]  →  y [B, T, C]
//
// The norms are LayerNorm or RMSNorm, the feed-forward GELU or SwiGLU, the attention any
// MultiHeadAttention self-attention (GQA, fused QKV, RoPE, causal, key padding). backward(dy)
// returns dx and accumulates the gradients of every parameter.
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

struct TransformerBlockConfig {
  int64_t d_model = 0;     // C
  int64_t n_heads = 0;     // Hq
  int64_t n_kv_heads = 0;  // Hkv (0 means Hq)
  int64_t head_dim = 0;    // 0 means C / Hq
  int64_t d_ff = 0;        // hidden width of the feed-forward (0 means 4·C)
  NormKind norm = NormKind::kLayerNorm;
  float norm_eps = 1e-5f;
  Activation activation = Activation::kGelu;
  bool pre_norm = true;
  bool causal = true;
  bool rope = false;
  double rope_base = 10000.0;
  bool fused_qkv = false;
  bool bias = true;                // biases of the projections and the feed-forward
  float dropout = 0.0f;            // on both residual branches, when training
  float attention_dropout = 0.0f;  // on the attention weights, when training
  uint64_t seed = 0;               // initialisation and dropout masks
};

// Per-call inputs beside x.
struct BlockInputs {
  std::span<const int64_t> key_lengths;  // [B]: keys t ≥ key_lengths[b] are masked; empty = none
  std::span<const int32_t> cu_seqlens;   // packed sequences in x [1, T, C] (AttentionInputs)
  bool training = false;                 // dropout on
  uint64_t step = 0;                     // selects the dropout masks
  AttentionRunner* attention = nullptr;  // computes the attention (AttentionInputs::runner)
};

class TransformerBlock {
 public:
  explicit TransformerBlock(const TransformerBlockConfig& config);

  Tensor forward(const Tensor& x, const BlockInputs& inputs = {});  // [B, T, C] → [B, T, C]
  Tensor backward(const Tensor& dy);                                // → dx [B, T, C]
  // The block's wiring with the attention sub-layer supplied by the caller: `attend(attention(),
  // in)` replaces attn(in). No dropout, nothing kept for backward. Generation uses it with a KV
  // cache (attn/infer/cached_attention.h).
  using Attend = std::function<Tensor(MultiHeadAttention&, const Tensor&)>;
  Tensor forward_with(const Tensor& x, const Attend& attend);

  // "norm1.*", "attn.*", "norm2.*", "ffn.*".
  std::vector<Parameter> parameters();
  MultiHeadAttention& attention() { return attn_; }
  const TransformerBlockConfig& config() const { return config_; }

 private:
  // drop(attn(in)) and drop(ffn(in)), the two residual branches, and their backward.
  Tensor attention_branch(const Tensor& in, const BlockInputs& inputs);
  Tensor attention_branch_backward(const Tensor& d);
  Tensor ffn_branch(const Tensor& in, const BlockInputs& inputs);
  Tensor ffn_branch_backward(const Tensor& d);

  TransformerBlockConfig config_;
  Norm norm1_, norm2_;
  MultiHeadAttention attn_;
  FeedForward ffn_;
  Dropout drop1_, drop2_;
};

}  // namespace attn::nn
