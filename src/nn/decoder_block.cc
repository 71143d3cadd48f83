#include "attn/nn/decoder_block.h"

#include "attn/core/error.h"
#include "attn/nn/random.h"
#include "attn/nn/residual.h"
#include "attn/nn/tensor_ops.h"

namespace attn::nn {

namespace {

MultiHeadAttentionConfig attention_config(const DecoderBlockConfig& c, bool cross) {
  MultiHeadAttentionConfig a;
  a.d_model = c.d_model;
  a.n_heads = c.n_heads;
  a.bias = c.bias;
  a.cross_attention = cross;
  a.memory_dim = cross ? c.memory_dim : 0;
  a.causal = !cross;
  a.seed = derive_seed(c.seed, cross ? 2 : 1);
  return a;
}

FeedForwardConfig ffn_config(const DecoderBlockConfig& c) {
  FeedForwardConfig f;
  f.dim = c.d_model;
  f.hidden = c.d_ff > 0 ? c.d_ff : 4 * c.d_model;
  f.activation = c.activation;
  f.bias = c.bias;
  f.seed = derive_seed(c.seed, 3);
  return f;
}

}  // namespace

DecoderBlock::DecoderBlock(const DecoderBlockConfig& config)
    : config_(config),
      norm1_(config.norm, config.d_model, config.norm_eps),
      norm2_(config.norm, config.d_model, config.norm_eps),
      norm3_(config.norm, config.d_model, config.norm_eps),
      self_attn_(attention_config(config, /*cross=*/false)),
      cross_attn_(attention_config(config, /*cross=*/true)),
      ffn_(ffn_config(config)),
      drop1_(config.dropout, derive_seed(config.seed, 4)),
      drop2_(config.dropout, derive_seed(config.seed, 5)),
      drop3_(config.dropout, derive_seed(config.seed, 6)) {}

Tensor DecoderBlock::forward(const Tensor& x, const DecoderInputs& in) {
  ATTN_CHECK(in.memory != nullptr, "DecoderBlock: the memory is required");
  // h1 = x + drop(self_attn(norm1(x)))
  const Tensor h1 = residual_forward(
      x, drop1_.forward(self_attn_.forward(norm1_.forward(x)), in.step, in.training));
  // h2 = h1 + drop(cross_attn(norm2(h1), memory))
  AttentionInputs cross;
  cross.memory = in.memory;
  cross.key_lengths = in.memory_lengths;
  const Tensor h2 = residual_forward(
      h1, drop2_.forward(cross_attn_.forward(norm2_.forward(h1), cross), in.step, in.training));
  // y = h2 + drop(ffn(norm3(h2)))
  return residual_forward(h2,
                          drop3_.forward(ffn_.forward(norm3_.forward(h2)), in.step, in.training));
}

Tensor DecoderBlock::backward(const Tensor& dy, Tensor* dmemory) {
  ATTN_CHECK(dmemory != nullptr, "DecoderBlock: backward needs dmemory");
  // y = h2 + drop(ffn(norm3(h2)))   →   dh2 = dy + norm3ᵀ(ffnᵀ(dropᵀ(dy)))
  Tensor dh2 = clone(dy);
  add_into(dh2, norm3_.backward(ffn_.backward(drop3_.backward(dy))));
  // h2 = h1 + drop(cross(norm2(h1), m))   →   dh1 = dh2 + norm2ᵀ(crossᵀ(dropᵀ(dh2))), dm
  Tensor dh1 = clone(dh2);
  add_into(dh1, norm2_.backward(cross_attn_.backward(drop2_.backward(dh2), dmemory)));
  // h1 = x + drop(self_attn(norm1(x)))   →   dx = dh1 + norm1ᵀ(selfᵀ(dropᵀ(dh1)))
  Tensor dx = clone(dh1);
  add_into(dx, norm1_.backward(self_attn_.backward(drop1_.backward(dh1))));
  return dx;
}

Tensor DecoderBlock::forward_with(const Tensor& x, const Attend& self_attend,
                                  const Attend& cross_attend) {
  const Tensor h1 = residual_forward(x, self_attend(self_attn_, norm1_.forward(x)));
  const Tensor h2 = residual_forward(h1, cross_attend(cross_attn_, norm2_.forward(h1)));
  return residual_forward(h2, ffn_.forward(norm3_.forward(h2)));
}

std::vector<Parameter> DecoderBlock::parameters() {
  std::vector<Parameter> params;
  append_parameters(params, "norm1", norm1_.parameters());
  append_parameters(params, "self_attn", self_attn_.parameters());
  append_parameters(params, "norm2", norm2_.parameters());
  append_parameters(params, "cross_attn", cross_attn_.parameters());
  append_parameters(params, "norm3", norm3_.parameters());
  append_parameters(params, "ffn", ffn_.parameters());
  return params;
}

}  // namespace attn::nn
