#include "attn/nn/multi_head_attention.h"

#include "attn/core/element_type.h"
#include "attn/core/error.h"
#include "attn/kernels/attention.h"
#include "attn/kernels/bf16_convert.h"
#include "attn/nn/attention_precision.h"
#include "attn/nn/random.h"
#include "attn/nn/tensor_ops.h"

namespace attn::nn {

namespace {

// The config with its defaults filled in, after checking it.
MultiHeadAttentionConfig resolved(MultiHeadAttentionConfig c) {
  ATTN_CHECK(c.d_model > 0 && c.n_heads > 0, "MultiHeadAttention: d_model and n_heads must be ",
             "positive, got ", c.d_model, " and ", c.n_heads);
  if (c.n_kv_heads == 0) c.n_kv_heads = c.n_heads;
  if (c.head_dim == 0) {
    ATTN_CHECK(c.d_model % c.n_heads == 0, "MultiHeadAttention: d_model ", c.d_model,
               " is not a multiple of n_heads ", c.n_heads, "; set head_dim");
    c.head_dim = c.d_model / c.n_heads;
  }
  if (c.v_head_dim == 0) c.v_head_dim = c.head_dim;
  if (c.memory_dim == 0) c.memory_dim = c.d_model;
  ATTN_CHECK(c.n_kv_heads > 0 && c.n_heads % c.n_kv_heads == 0, "MultiHeadAttention: n_heads ",
             c.n_heads, " is not a multiple of n_kv_heads ", c.n_kv_heads);
  ATTN_CHECK(!(c.fused_qkv && c.cross_attention),
             "MultiHeadAttention: fused_qkv needs self-attention");
  ATTN_CHECK(c.attention_dropout >= 0.0f && c.attention_dropout < 1.0f,
             "MultiHeadAttention: attention_dropout must be in [0, 1), got ", c.attention_dropout);
  ATTN_CHECK(!c.rope || c.head_dim % 2 == 0, "MultiHeadAttention: RoPE needs an even head_dim, ",
             "got ", c.head_dim);
  return c;
}

// Width of the fused projection: [q (Hq·dk) | k (Hkv·dk) | v (Hkv·dv)].
int64_t fused_width(const MultiHeadAttentionConfig& c) {
  return c.n_heads * c.head_dim + c.n_kv_heads * (c.head_dim + c.v_head_dim);
}

// Strides of heads of width d packed in rows of width `row` of a [B, L, row] buffer.
Strides4 packed_strides(int64_t row, int64_t len, int64_t d) { return {len * row, d, row, 1}; }

void check_inputs(const MultiHeadAttentionConfig& c, const Tensor& x, const Tensor* memory,
                  std::span<const int64_t> key_lengths) {
  ATTN_CHECK(x.shape().size() == 3 && x.dim(2) == c.d_model,
             "MultiHeadAttention: expected x [B, T, ", c.d_model, "]");
  ATTN_CHECK(
      c.cross_attention == (memory != nullptr), "MultiHeadAttention: ",
      c.cross_attention ? "cross-attention needs a memory" : "memory given to self-attention");
  const Tensor& src = memory ? *memory : x;
  ATTN_CHECK(src.shape().size() == 3 && src.dim(0) == x.dim(0) && src.dim(2) == c.memory_dim,
             "MultiHeadAttention: expected memory [", x.dim(0), ", S, ", c.memory_dim, "]");
  ATTN_CHECK(key_lengths.empty() || static_cast<int64_t>(key_lengths.size()) == x.dim(0),
             "MultiHeadAttention: ", key_lengths.size(), " key lengths for batch ", x.dim(0));
  for (int64_t len : key_lengths) {
    ATTN_CHECK(len >= 0 && len <= src.dim(1), "MultiHeadAttention: key length ", len,
               " outside [0, ", src.dim(1), "]");
  }
}

// Packed sequences: self-attention without RoPE or key lengths, a batch of one, offsets from 0
// to T (their order is checked by the kernel's validation).
void check_packed(const MultiHeadAttentionConfig& c, const Tensor& x, const AttentionInputs& in) {
  if (in.cu_seqlens.empty()) return;
  ATTN_CHECK(!c.cross_attention && !c.rope && in.key_lengths.empty(),
             "MultiHeadAttention: packed sequences need self-attention without RoPE or key "
             "lengths");
  ATTN_CHECK(x.dim(0) == 1,
             "MultiHeadAttention: packed sequences need x [1, T, C], got B = ", x.dim(0));
  ATTN_CHECK(in.cu_seqlens.size() >= 2 && in.cu_seqlens.back() == x.dim(1),
             "MultiHeadAttention: the packed sequences' offsets must end at T = ", x.dim(1));
}

// t's values rounded to bf16, as bit patterns.
void round_into(const Tensor& t, std::vector<uint16_t>& out) {
  out.resize(t.size());
  to_bf16(t.data(), out.data(), static_cast<int64_t>(t.size()));
}

// t's values rounded to bf16 and widened back, in place (exactly what the kernels read).
void round_in_place(Tensor& t) {
  std::vector<uint16_t> bits;
  round_into(t, bits);
  float* x = t.data();
  for (size_t i = 0; i < bits.size(); ++i) x[i] = to_float(bits[i], ElementType::kBF16);
}

}  // namespace

MultiHeadAttention::MultiHeadAttention(const MultiHeadAttentionConfig& config)
    : config_(resolved(config)),
      wo_(config_.n_heads * config_.v_head_dim, config_.d_model, config_.bias,
          derive_seed(config_.seed, 4)) {
  const MultiHeadAttentionConfig& c = config_;
  if (c.fused_qkv) {
    wqkv_.emplace(c.d_model, fused_width(c), c.bias, derive_seed(c.seed, 0));
  } else {
    wq_.emplace(c.d_model, c.n_heads * c.head_dim, c.bias, derive_seed(c.seed, 1));
    wk_.emplace(c.memory_dim, c.n_kv_heads * c.head_dim, c.bias, derive_seed(c.seed, 2));
    wv_.emplace(c.memory_dim, c.n_kv_heads * c.v_head_dim, c.bias, derive_seed(c.seed, 3));
  }
  if (c.rope) rope_.emplace(c.head_dim, c.rope_base);
}

MultiHeadAttention::HeadView MultiHeadAttention::view(Tensor& buffer, Part part,
                                                      int64_t len) const {
  const MultiHeadAttentionConfig& c = config_;
  const int64_t dk = c.head_dim, dv = c.v_head_dim;
  if (c.fused_qkv) {  // one buffer [B, T, W], heads packed as [q | k | v] in each row
    const int64_t w = fused_width(c);
    if (part == Part::kQ) return {buffer.data(), packed_strides(w, len, dk)};
    if (part == Part::kK) return {buffer.data() + c.n_heads * dk, packed_strides(w, len, dk)};
    return {buffer.data() + (c.n_heads + c.n_kv_heads) * dk, packed_strides(w, len, dv)};
  }
  if (part == Part::kQ) return {buffer.data(), blhd_strides(c.n_heads, len, dk)};
  if (part == Part::kK) return {buffer.data(), blhd_strides(c.n_kv_heads, len, dk)};
  return {buffer.data(), blhd_strides(c.n_kv_heads, len, dv)};
}

void MultiHeadAttention::project(const Tensor& x, const Tensor& src) {
  if (config_.fused_qkv) {
    q_ = wqkv_->forward(x);  // [q | k | v] = x·Wqkvᵀ + b
    return;
  }
  q_ = wq_->forward(x);    // q = x·Wqᵀ + bq
  k_ = wk_->forward(src);  // k = src·Wkᵀ + bk
  v_ = wv_->forward(src);  // v = src·Wvᵀ + bv
}

MultiHeadAttention::Projection MultiHeadAttention::project_tokens(const Tensor& x) {
  ATTN_CHECK(!config_.cross_attention, "project_tokens: only self-attention projects its input");
  Projection p;
  if (config_.fused_qkv) {
    p.q = wqkv_->forward(x);
  } else {
    p.q = wq_->forward(x), p.k = wk_->forward(x), p.v = wv_->forward(x);
  }
  const int64_t n = x.dim(1);
  p.q_heads = view(p.q, Part::kQ, n);
  p.k_heads = view(config_.fused_qkv ? p.q : p.k, Part::kK, n);
  p.v_heads = view(config_.fused_qkv ? p.q : p.v, Part::kV, n);
  return p;
}

Tensor MultiHeadAttention::project_queries(const Tensor& x) {
  ATTN_CHECK(wq_.has_value(), "project_queries: this layer projects q, k and v together");
  return wq_->forward(x);
}

Tensor MultiHeadAttention::project_memory_keys(const Tensor& memory) {
  ATTN_CHECK(config_.cross_attention, "project_memory_keys: only cross-attention has a memory");
  return wk_->forward(memory);
}

Tensor MultiHeadAttention::project_memory_values(const Tensor& memory) {
  ATTN_CHECK(config_.cross_attention, "project_memory_values: only cross-attention has a memory");
  return wv_->forward(memory);
}

Tensor MultiHeadAttention::project_output(const Tensor& o) { return wo_.forward(o); }

void MultiHeadAttention::apply_rope(Tensor& q, Tensor& k, bool backward) const {
  if (!rope_) return;
  const HeadView qv = view(q, Part::kQ, q_len_);
  const HeadView kv = view(config_.fused_qkv ? q : k, Part::kK, kv_len_);
  if (backward) {
    rope_->rotate_back(qv.data, qv.stride, batch_, config_.n_heads, q_len_);
    rope_->rotate_back(kv.data, kv.stride, batch_, config_.n_kv_heads, kv_len_);
  } else {
    rope_->rotate(qv.data, qv.stride, batch_, config_.n_heads, q_len_);
    rope_->rotate(kv.data, kv.stride, batch_, config_.n_kv_heads, kv_len_);
  }
}

AttentionParams MultiHeadAttention::attention_params() {
  const MultiHeadAttentionConfig& c = config_;
  Tensor& kbuf = c.fused_qkv ? q_ : k_;
  Tensor& vbuf = c.fused_qkv ? q_ : v_;
  const HeadView q = view(q_, Part::kQ, q_len_), k = view(kbuf, Part::kK, kv_len_),
                 v = view(vbuf, Part::kV, kv_len_);
  const auto sized = [&](const HeadView& h, int64_t heads, int64_t len, int64_t dim) {
    return ConstTensorView4{h.data, batch_, heads, len, dim, h.stride};
  };
  AttentionParams p = attn::attention_params(
      sized(q, c.n_heads, q_len_, c.head_dim), sized(k, c.n_kv_heads, kv_len_, c.head_dim),
      sized(v, c.n_kv_heads, kv_len_, c.v_head_dim),
      TensorView4::blhd(o_.data(), batch_, c.n_heads, q_len_, c.v_head_dim), lse_.data());
  p.scale = c.scale;
  p.causal = c.causal;
  p.causal_align = CausalAlign::kTopLeft;
  p.key_lengths = key_lengths_.empty() ? nullptr : key_lengths_.data();
  if (!cu_seqlens_.empty()) {
    p.cu_seqlens_q = p.cu_seqlens_k = cu_seqlens_.data();
    p.sequences = static_cast<int64_t>(cu_seqlens_.size()) - 1;
  }
  p.dropout_p = dropout_p_;
  p.dropout_seed = derive_seed(c.seed, 5);
  p.dropout_offset = step_;
  if (bf16_ && runner_ == nullptr) {  // the same views, into the bf16 copies
    const auto at = [](const std::vector<uint16_t>& bits, const Tensor& t, const float* x) {
      return bits.data() + (x - t.data());
    };
    p.input_type = ElementType::kBF16;
    p.q16 = at(q16_, q_, p.q);
    p.k16 = at(c.fused_qkv ? q16_ : k16_, kbuf, p.k);
    p.v16 = at(c.fused_qkv ? q16_ : v16_, vbuf, p.v);
    p.q = p.k = p.v = nullptr;
  }
  return p;
}

void MultiHeadAttention::round_inputs_to_bf16() {
  const bool fused = config_.fused_qkv;
  if (runner_ != nullptr) {
    round_in_place(q_);
    if (!fused) round_in_place(k_), round_in_place(v_);
    return;
  }
  round_into(q_, q16_);  // with fused_qkv, [q | k | v]
  if (!fused) round_into(k_, k16_), round_into(v_, v16_);
}

Tensor MultiHeadAttention::forward(const Tensor& x, const AttentionInputs& inputs) {
  check_inputs(config_, x, inputs.memory, inputs.key_lengths);
  check_packed(config_, x, inputs);
  const Tensor& src = config_.cross_attention ? *inputs.memory : x;
  batch_ = x.dim(0), q_len_ = x.dim(1), kv_len_ = src.dim(1);
  key_lengths_.assign(inputs.key_lengths.begin(), inputs.key_lengths.end());
  cu_seqlens_.assign(inputs.cu_seqlens.begin(), inputs.cu_seqlens.end());
  dropout_p_ = inputs.training ? config_.attention_dropout : 0.0f;
  step_ = inputs.step;
  runner_ = inputs.runner;
  ATTN_CHECK(runner_ == nullptr || !config_.rope,
             "MultiHeadAttention: an attention runner cannot be combined with RoPE");
  ATTN_CHECK(runner_ == nullptr || cu_seqlens_.empty(),
             "MultiHeadAttention: an attention runner cannot be combined with packed sequences");
  project(x, src);
  apply_rope(q_, k_, /*backward=*/false);  // q, k ← RoPE(q), RoPE(k)
  bf16_ = attention_precision() == AttentionPrecision::kBf16;
  q16_.clear(), k16_.clear(), v16_.clear();
  if (bf16_) round_inputs_to_bf16();  // q, k, v ← bf16(q), bf16(k), bf16(v)
  // Both written whole by the kernel.
  o_ = Tensor({batch_, q_len_, config_.n_heads * config_.v_head_dim}, Tensor::Uninitialized{});
  lse_ = Tensor({batch_, config_.n_heads, q_len_}, Tensor::Uninitialized{});
  // o = dropout(softmax(scale·q·kᵀ + mask))·v
  if (runner_ != nullptr) {
    runner_->forward(attention_params());
  } else {
    flash_attention_forward(attention_params());
  }
  return wo_.forward(o_);  // y = o·Woᵀ + bo
}

Tensor MultiHeadAttention::backward(const Tensor& dy, Tensor* dmemory) {
  ATTN_CHECK(batch_ > 0, "MultiHeadAttention: backward before forward");
  Tensor dout = wo_.backward(dy);  // y = o·Woᵀ + bo
  // o = dropout(softmax(scale·q·kᵀ + mask))·v, the same mask regenerated: the gradients land in
  // buffers laid out like q_, k_, v_.
  const bool fused = config_.fused_qkv;
  Tensor dq(q_.shape());
  Tensor dk = fused ? Tensor() : Tensor(k_.shape());
  Tensor dv = fused ? Tensor() : Tensor(v_.shape());
  const HeadView gq = view(dq, Part::kQ, q_len_), gk = view(fused ? dq : dk, Part::kK, kv_len_),
                 gv = view(fused ? dq : dv, Part::kV, kv_len_);
  AttentionGrads g;
  g.dout = dout.data(), g.dout_stride = blhd_strides(config_.n_heads, q_len_, config_.v_head_dim);
  std::vector<uint16_t> dout16;
  if (bf16_ && runner_ != nullptr) {
    round_in_place(dout);  // dO ← bf16(dO), read as fp32 by the runner
  } else if (bf16_) {
    round_into(dout, dout16);  // dO ← bf16(dO)
    g.dout16 = dout16.data(), g.dout = nullptr;
  }
  g.dq = gq.data, g.dq_stride = gq.stride;
  g.dk = gk.data, g.dk_stride = gk.stride;
  g.dv = gv.data, g.dv_stride = gv.stride;
  if (runner_ != nullptr) {
    runner_->backward(attention_params(), g);
  } else {
    flash_attention_backward(attention_params(), g);
  }
  apply_rope(dq, dk, /*backward=*/true);  // q, k ← RoPE(q), RoPE(k)
  return project_back(dq, dk, dv, dmemory);
}

Tensor MultiHeadAttention::project_back(Tensor& dq, Tensor& dk, Tensor& dv, Tensor* dmemory) {
  if (config_.fused_qkv) return wqkv_->backward(dq);  // [q | k | v] = x·Wqkvᵀ + b
  Tensor dx = wq_->backward(dq);                      // q = x·Wqᵀ + bq
  Tensor dsrc = wk_->backward(dk);                    // k = src·Wkᵀ + bk
  add_into(dsrc, wv_->backward(dv));                  // v = src·Wvᵀ + bv
  if (!config_.cross_attention) {
    add_into(dx, dsrc);  // src = x
    return dx;
  }
  ATTN_CHECK(dmemory != nullptr, "MultiHeadAttention: cross-attention backward needs dmemory");
  *dmemory = std::move(dsrc);
  return dx;
}

Tensor MultiHeadAttention::attention_weights(bool average_heads) {
  ATTN_CHECK(batch_ > 0, "MultiHeadAttention: attention_weights before forward");
  const int64_t heads = average_heads ? 1 : config_.n_heads;
  Tensor weights({batch_, heads, q_len_, kv_len_});
  WeightsRequest request;
  request.average_heads = average_heads;
  request.out = weights.data();
  request.out_stride = bhld_strides(heads, q_len_, kv_len_);
  attn::attention_weights(attention_params(), request);  // the softmax, before dropout
  return weights;
}

std::vector<Parameter> MultiHeadAttention::parameters() {
  std::vector<Parameter> params;
  if (config_.fused_qkv) {
    append_parameters(params, "wqkv", wqkv_->parameters());
  } else {
    append_parameters(params, "wq", wq_->parameters());
    append_parameters(params, "wk", wk_->parameters());
    append_parameters(params, "wv", wv_->parameters());
  }
  append_parameters(params, "wo", wo_.parameters());
  return params;
}

}  // namespace attn::nn
