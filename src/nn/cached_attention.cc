// The generation path of MultiHeadAttention and TransformerBlock: new tokens against a KV cache
// (self-attention), or against the cached keys and values of a memory (cross-attention).
#include <algorithm>

#include "attn/decode.h"
#include "attn/error.h"
#include "attn/kv_cache.h"
#include "attn/nn/multi_head_attention.h"
#include "attn/nn/residual.h"
#include "attn/nn/transformer_block.h"

namespace attn::nn {

namespace {

// Copies the rows of one sequence of a head view into a contiguous [n, heads, d] buffer.
void gather_rows(const float* data, const Strides4& s, int64_t b, int64_t heads, int64_t n,
                 int64_t d, float* out) {
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t h = 0; h < heads; ++h) {
      const float* row = data + s.offset(b, h, t, 0);
      std::copy(row, row + d, out + (t * heads + h) * d);
    }
  }
}

}  // namespace

Tensor MultiHeadAttention::forward_cached(const Tensor& x, KvCache& cache) {
  const MultiHeadAttentionConfig& c = config_;
  const KvCacheConfig& kc = cache.config();
  ATTN_CHECK(!c.cross_attention, "forward_cached: only self-attention has a KV cache");
  ATTN_CHECK(x.shape().size() == 3 && x.dim(2) == c.d_model && x.dim(0) == kc.batch,
             "forward_cached: x must be [B=", kc.batch, ", n, C=", c.d_model, "]");
  ATTN_CHECK(kc.kv_heads == c.n_kv_heads && kc.head_dim == c.head_dim &&
                 kc.v_head_dim == c.v_head_dim && !kc.rope,
             "forward_cached: the cache does not match this layer's heads");
  const int64_t batch = x.dim(0), n = x.dim(1);
  Tensor q, k, v;
  if (c.fused_qkv) {
    q = wqkv_->forward(x);
  } else {
    q = wq_->forward(x), k = wk_->forward(x), v = wv_->forward(x);
  }
  const HeadView qv = view(q, Part::kQ, n), kv = view(c.fused_qkv ? q : k, Part::kK, n),
                 vv = view(c.fused_qkv ? q : v, Part::kV, n);
  Tensor q_rows({batch, n, c.n_heads, c.head_dim});
  std::vector<float> k_rows(n * c.n_kv_heads * c.head_dim), v_rows(n * c.n_kv_heads * c.v_head_dim);
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t start = cache.length(b);  // position of the first new token
    if (rope_) {
      rope_->rotate(qv.data + b * qv.stride.batch, qv.stride, 1, c.n_heads, n, start);
      rope_->rotate(kv.data + b * kv.stride.batch, kv.stride, 1, c.n_kv_heads, n, start);
    }
    gather_rows(qv.data, qv.stride, b, c.n_heads, n, c.head_dim,
                q_rows.data() + b * n * c.n_heads * c.head_dim);
    gather_rows(kv.data, kv.stride, b, c.n_kv_heads, n, c.head_dim, k_rows.data());
    gather_rows(vv.data, vv.stride, b, c.n_kv_heads, n, c.v_head_dim, v_rows.data());
    cache.append(b, n, k_rows.data(), v_rows.data());
  }
  Tensor o({batch, n, c.n_heads * c.v_head_dim});
  DecodeParams p = decode_params(cache.view(), q_rows.data(), c.n_heads, n, o.data());
  p.scale = c.scale;
  decode_attention(p);  // o = softmax(scale·q·kᵀ over the cache)·v
  return wo_.forward(o);
}

void MultiHeadAttention::append_memory(const Tensor& memory, std::span<const int64_t> lengths,
                                       KvCache& cache) {
  const MultiHeadAttentionConfig& c = config_;
  const KvCacheConfig& kc = cache.config();
  ATTN_CHECK(c.cross_attention, "append_memory: only cross-attention attends to a memory");
  ATTN_CHECK(memory.shape().size() == 3 && memory.dim(0) == kc.batch &&
                 memory.dim(2) == c.memory_dim && static_cast<int64_t>(lengths.size()) == kc.batch,
             "append_memory: memory must be [B=", kc.batch, ", S, Cm=", c.memory_dim,
             "] with B lengths");
  ATTN_CHECK(kc.kv_heads == c.n_kv_heads && kc.head_dim == c.head_dim &&
                 kc.v_head_dim == c.v_head_dim && !kc.rope,
             "append_memory: the cache does not match this layer's heads");
  const int64_t batch = memory.dim(0), len = memory.dim(1);
  const Tensor k = wk_->forward(memory),
               v = wv_->forward(memory);  // [B, S, Hkv·dk], [B, S, Hkv·dv]
  for (int64_t b = 0; b < batch; ++b) {
    ATTN_CHECK(lengths[b] >= 1 && lengths[b] <= len, "append_memory: length ", lengths[b],
               " outside [1, ", len, "]");
    ATTN_CHECK(cache.length(b) == 0, "append_memory: the cache already holds a memory");
    cache.append(b, lengths[b], k.data() + b * len * k.dim(2), v.data() + b * len * v.dim(2));
  }
}

Tensor MultiHeadAttention::forward_memory_cached(const Tensor& x, const KvCache& cache) {
  const MultiHeadAttentionConfig& c = config_;
  const KvCacheConfig& kc = cache.config();
  ATTN_CHECK(c.cross_attention, "forward_memory_cached: only cross-attention has a memory");
  ATTN_CHECK(
      x.shape().size() == 3 && x.dim(0) == kc.batch && x.dim(1) == 1 && x.dim(2) == c.d_model,
      "forward_memory_cached: x must be [B=", kc.batch, ", 1, C=", c.d_model, "]");
  const Tensor q = wq_->forward(x);  // [B, 1, Hq·dk], already the decode layout [B, 1, Hq, dk]
  Tensor o({x.dim(0), 1, c.n_heads * c.v_head_dim});
  DecodeParams p = decode_params(cache.view(), q.data(), c.n_heads, 1, o.data());
  p.scale = c.scale;
  decode_attention(p);  // one query per sequence: it sees every cached memory row
  return wo_.forward(o);
}

Tensor TransformerBlock::forward_cached(const Tensor& x, KvCache& cache) {
  if (config_.pre_norm) {
    const Tensor h = residual_forward(x, attn_.forward_cached(norm1_.forward(x), cache));
    return residual_forward(h, ffn_.forward(norm2_.forward(h)));
  }
  const Tensor h = norm1_.forward(residual_forward(x, attn_.forward_cached(x, cache)));
  return norm2_.forward(residual_forward(h, ffn_.forward(h)));
}

}  // namespace attn::nn
