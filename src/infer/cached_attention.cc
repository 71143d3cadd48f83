// The generation path of the attention layers (attn/infer/cached_attention.h).
#include "attn/infer/cached_attention.h"

#include <algorithm>
#include <vector>

#include "attn/core/error.h"
#include "attn/kernels/decode.h"

namespace attn::infer {

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

void check_cache_heads(const nn::MultiHeadAttentionConfig& c, const KvCacheConfig& kc,
                       const char* who) {
  ATTN_CHECK(kc.kv_heads == c.n_kv_heads && kc.head_dim == c.head_dim &&
                 kc.v_head_dim == c.v_head_dim && !kc.rope,
             who, ": the cache does not match this layer's heads");
}

// o [B, n, Hq·dv] = softmax(scale·q·kᵀ over the cache)·v for q rows [B, n, Hq, dk].
Tensor decode_over_cache(const nn::MultiHeadAttentionConfig& c, const KvCache& cache,
                         const float* q_rows, int64_t batch, int64_t n) {
  Tensor o({batch, n, c.n_heads * c.v_head_dim});
  DecodeParams p = decode_params(cache.view(), q_rows, c.n_heads, n, o.data());
  p.scale = c.scale;
  decode_attention(p);
  return o;
}

}  // namespace

Tensor attend_cached(nn::MultiHeadAttention& layer, const Tensor& x, KvCache& cache) {
  const nn::MultiHeadAttentionConfig& c = layer.config();
  const KvCacheConfig& kc = cache.config();
  ATTN_CHECK(!c.cross_attention, "attend_cached: only self-attention has a KV cache");
  ATTN_CHECK(x.shape().size() == 3 && x.dim(2) == c.d_model && x.dim(0) == kc.batch,
             "attend_cached: x must be [B=", kc.batch, ", n, C=", c.d_model, "]");
  check_cache_heads(c, kc, "attend_cached");
  const int64_t batch = x.dim(0), n = x.dim(1);
  const nn::MultiHeadAttention::Projection p = layer.project_tokens(x);
  const nn::Rope* rope = layer.rope();
  Tensor q_rows({batch, n, c.n_heads, c.head_dim});
  std::vector<float> k_rows(n * c.n_kv_heads * c.head_dim), v_rows(n * c.n_kv_heads * c.v_head_dim);
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t start = cache.length(b);  // position of the first new token
    if (rope != nullptr) {
      const auto& qv = p.q_heads;
      const auto& kv = p.k_heads;
      rope->rotate(qv.data + b * qv.stride.batch, qv.stride, 1, c.n_heads, n, start);
      rope->rotate(kv.data + b * kv.stride.batch, kv.stride, 1, c.n_kv_heads, n, start);
    }
    gather_rows(p.q_heads.data, p.q_heads.stride, b, c.n_heads, n, c.head_dim,
                q_rows.data() + b * n * c.n_heads * c.head_dim);
    gather_rows(p.k_heads.data, p.k_heads.stride, b, c.n_kv_heads, n, c.head_dim, k_rows.data());
    gather_rows(p.v_heads.data, p.v_heads.stride, b, c.n_kv_heads, n, c.v_head_dim, v_rows.data());
    cache.append(b, n, k_rows.data(), v_rows.data());
  }
  return layer.project_output(decode_over_cache(c, cache, q_rows.data(), batch, n));
}

void append_memory(nn::MultiHeadAttention& layer, const Tensor& memory,
                   std::span<const int64_t> lengths, KvCache& cache) {
  const nn::MultiHeadAttentionConfig& c = layer.config();
  const KvCacheConfig& kc = cache.config();
  ATTN_CHECK(c.cross_attention, "append_memory: only cross-attention attends to a memory");
  ATTN_CHECK(memory.shape().size() == 3 && memory.dim(0) == kc.batch &&
                 memory.dim(2) == c.memory_dim && static_cast<int64_t>(lengths.size()) == kc.batch,
             "append_memory: memory must be [B=", kc.batch, ", S, Cm=", c.memory_dim,
             "] with B lengths");
  check_cache_heads(c, kc, "append_memory");
  const int64_t batch = memory.dim(0), len = memory.dim(1);
  const Tensor k = layer.project_memory_keys(memory),  // [B, S, Hkv·dk]
      v = layer.project_memory_values(memory);         // [B, S, Hkv·dv]
  for (int64_t b = 0; b < batch; ++b) {
    ATTN_CHECK(lengths[b] >= 1 && lengths[b] <= len, "append_memory: length ", lengths[b],
               " outside [1, ", len, "]");
    ATTN_CHECK(cache.length(b) == 0, "append_memory: the cache already holds a memory");
    cache.append(b, lengths[b], k.data() + b * len * k.dim(2), v.data() + b * len * v.dim(2));
  }
}

Tensor attend_memory_cached(nn::MultiHeadAttention& layer, const Tensor& x, const KvCache& cache) {
  const nn::MultiHeadAttentionConfig& c = layer.config();
  const KvCacheConfig& kc = cache.config();
  ATTN_CHECK(c.cross_attention, "attend_memory_cached: only cross-attention has a memory");
  ATTN_CHECK(
      x.shape().size() == 3 && x.dim(0) == kc.batch && x.dim(1) == 1 && x.dim(2) == c.d_model,
      "attend_memory_cached: x must be [B=", kc.batch, ", 1, C=", c.d_model, "]");
  // q [B, 1, Hq·dk] is already the decode layout [B, 1, Hq, dk]; one query per sequence sees
  // every cached memory row.
  const Tensor q = layer.project_queries(x);
  return layer.project_output(decode_over_cache(c, cache, q.data(), x.dim(0), 1));
}

Tensor block_forward_cached(nn::TransformerBlock& block, const Tensor& x, KvCache& cache) {
  return block.forward_with(x, [&cache](nn::MultiHeadAttention& layer, const Tensor& in) {
    return attend_cached(layer, in, cache);
  });
}

Tensor decoder_forward_cached(nn::DecoderBlock& block, const Tensor& x, KvCache& self_cache,
                              const KvCache& memory_cache) {
  return block.forward_with(
      x,
      [&self_cache](nn::MultiHeadAttention& layer, const Tensor& in) {
        return attend_cached(layer, in, self_cache);
      },
      [&memory_cache](nn::MultiHeadAttention& layer, const Tensor& in) {
        return attend_memory_cached(layer, in, memory_cache);
      });
}

}  // namespace attn::infer
