#include "attn/nn/transformer_block.h"

#include "attn/core/error.h"
#include "attn/nn/random.h"
#include "attn/nn/residual.h"
#include "attn/nn/tensor_ops.h"

namespace attn::nn {

namespace {

MultiHeadAttentionConfig attention_config(const TransformerBlockConfig& c) {
  MultiHeadAttentionConfig a;
  a.d_model = c.d_model;
  a.n_heads = c.n_heads;
  a.n_kv_heads = c.n_kv_heads;
  a.head_dim = c.head_dim;
  a.fused_qkv = c.fused_qkv;
  a.bias = c.bias;
  a.causal = c.causal;
  a.rope = c.rope;
  a.rope_base = c.rope_base;
  a.attention_dropout = c.attention_dropout;
  a.seed = derive_seed(c.seed, 1);
  return a;
}

FeedForwardConfig ffn_config(const TransformerBlockConfig& c) {
  FeedForwardConfig f;
  f.dim = c.d_model;
  f.hidden = c.d_ff > 0 ? c.d_ff : 4 * c.d_model;
  f.activation = c.activation;
  f.bias = c.bias;
  f.seed = derive_seed(c.seed, 2);
  return f;
}

}  // namespace

TransformerBlock::TransformerBlock(const TransformerBlockConfig& config)
    : config_(config),
      norm1_(config.norm, config.d_model, config.norm_eps),
      norm2_(config.norm, config.d_model, config.norm_eps),
      attn_(attention_config(config)),
      ffn_(ffn_config(config)),
      drop1_(config.dropout, derive_seed(config.seed, 3)),
      drop2_(config.dropout, derive_seed(config.seed, 4)) {}

// Dropout with p = 0 is the identity: it is skipped rather than run as a copy.
Tensor TransformerBlock::attention_branch(const Tensor& in, const BlockInputs& inputs) {
  AttentionInputs a;
  a.key_lengths = inputs.key_lengths;
  a.cu_seqlens = inputs.cu_seqlens;
  a.training = inputs.training;
  a.step = inputs.step;
  a.runner = inputs.attention;
  Tensor y = attn_.forward(in, a);
  if (drop1_.p() == 0.0f) return y;
  return drop1_.forward(y, inputs.step, inputs.training);
}

Tensor TransformerBlock::attention_branch_backward(const Tensor& d) {
  if (drop1_.p() == 0.0f) return attn_.backward(d);
  return attn_.backward(drop1_.backward(d));
}

Tensor TransformerBlock::ffn_branch(const Tensor& in, const BlockInputs& inputs) {
  Tensor y = ffn_.forward(in);
  if (drop2_.p() == 0.0f) return y;
  return drop2_.forward(y, inputs.step, inputs.training);
}

Tensor TransformerBlock::ffn_branch_backward(const Tensor& d) {
  if (drop2_.p() == 0.0f) return ffn_.backward(d);
  return ffn_.backward(drop2_.backward(d));
}

Tensor TransformerBlock::forward(const Tensor& x, const BlockInputs& inputs) {
  if (config_.pre_norm) {
    const Tensor h = residual_forward(x, attention_branch(norm1_.forward(x), inputs));
    return residual_forward(h, ffn_branch(norm2_.forward(h), inputs));
  }
  const Tensor h = norm1_.forward(residual_forward(x, attention_branch(x, inputs)));
  return norm2_.forward(residual_forward(h, ffn_branch(h, inputs)));
}

Tensor TransformerBlock::forward_with(const Tensor& x, const Attend& attend) {
  if (config_.pre_norm) {
    const Tensor h = residual_forward(x, attend(attn_, norm1_.forward(x)));
    return residual_forward(h, ffn_.forward(norm2_.forward(h)));
  }
  const Tensor h = norm1_.forward(residual_forward(x, attend(attn_, x)));
  return norm2_.forward(residual_forward(h, ffn_.forward(h)));
}

Tensor TransformerBlock::backward(const Tensor& dy) {
  if (config_.pre_norm) {
    // y = h + drop(ffn(norm2(h)))   →   dh = norm2ᵀ(ffnᵀ(dropᵀ(dy))) + dy
    Tensor dh = norm2_.backward(ffn_branch_backward(dy));
    add_into(dh, dy);
    // h = x + drop(attn(norm1(x)))   →   dx = norm1ᵀ(attnᵀ(dropᵀ(dh))) + dh
    Tensor dx = norm1_.backward(attention_branch_backward(dh));
    add_into(dx, dh);
    return dx;
  }
  // y = norm2(s2), s2 = h + drop(ffn(h))   →   ds2 = norm2ᵀ(dy),  dh = ds2 + ffnᵀ(dropᵀ(ds2))
  Tensor dh = norm2_.backward(dy);
  add_into(dh, ffn_branch_backward(dh));
  // h = norm1(s1), s1 = x + drop(attn(x))   →   ds1 = norm1ᵀ(dh),  dx = ds1 + attnᵀ(dropᵀ(ds1))
  Tensor dx = norm1_.backward(dh);
  add_into(dx, attention_branch_backward(dx));
  return dx;
}

std::vector<Parameter> TransformerBlock::parameters() {
  std::vector<Parameter> params;
  append_parameters(params, "norm1", norm1_.parameters());
  append_parameters(params, "attn", attn_.parameters());
  append_parameters(params, "norm2", norm2_.parameters());
  append_parameters(params, "ffn", ffn_.parameters());
  return params;
}

}  // namespace attn::nn
