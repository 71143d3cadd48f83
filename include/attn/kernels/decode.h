// Decode attention: a few new query tokens per sequence against a KV cache.
//
//   q    [B, n_q, Hq, D]    the new queries (RoPE already applied if the model uses it)
//   out  [B, n_q, Hq, Dv]
//   lse  [B, n_q, Hq]       log-sum-exp of each row's scores (optional)
//
// Each tensor is a view indexed [batch, head, i, col] by its Strides4, like AttentionParams; the
// layout above is blhd_strides(Hq, n_q, D) etc. The cache is read through a KvCacheView
// (attn/infer/kv_cache.h: KvCache::view()). Query i of sequence b is the token at index
// kept_b − n_q + i among its kept tokens (causal, aligned bottom-right: the n_q new tokens are the
// last n_q kept tokens) and sees the kept tokens 0 … kept_b − n_q + i. A query that sees no key
// gets 0 and log-sum-exp −inf. The score of a query and a key is
//   s = scale · (q · k),  then s = softcap · tanh(s / softcap) if softcap > 0.
//
// Query head h reads KV head h / (Hq / Hkv). The query heads that share a KV head are processed
// together, so every byte of K and V is read once per call. The keys of each (sequence, KV head)
// are split into chunks of kDecodeChunkKeys keys, processed in parallel on the OpenMP threads;
// each chunk's partial result (max, sum, output) is merged by log-sum-exp in chunk order, so the
// result is bitwise the same for any number of threads, and for a contiguous or a paged cache.
// Dequantisation (f16, bf16, q8) happens in registers; accumulation is always fp32.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>

#include "attn/core/tensor.h"
#include "attn/kernels/kv_cache_view.h"

namespace attn {

// Keys per split-KV chunk: fixed, so that the split never depends on the thread count.
constexpr int64_t kDecodeChunkKeys = 512;

struct DecodeParams {
  const float* q = nullptr;  // [B, n_q, Hq, D]
  Strides4 q_stride;         // indexed [b, head, i, d]
  int64_t q_heads = 0;       // Hq: a multiple of cache.kv_heads
  int64_t q_len = 1;         // n_q new tokens per sequence
  KvCacheView cache;         // B, Hkv, D and Dv come from here

  float* out = nullptr;  // [B, n_q, Hq, Dv]
  Strides4 out_stride;   // indexed [b, head, i, c]
  float* lse = nullptr;  // [B, n_q, Hq]; optional (nullptr)
  Strides4 lse_stride;   // batch, head and row (i) are used; col is ignored

  std::optional<float> scale;  // multiplies q·k; unset means 1/sqrt(D); must be finite
  float softcap = 0.0f;        // > 0: s = softcap · tanh(s / softcap), after scaling; 0 = off

  float effective_scale() const {
    return scale.has_value() ? *scale : 1.0f / std::sqrt(static_cast<float>(cache.head_dim));
  }
};

// Params for q, out and lse (may be null) in the contiguous layouts above.
DecodeParams decode_params(const KvCacheView& cache, const float* q, int64_t q_heads, int64_t q_len,
                           float* out, float* lse = nullptr);

// Throws attn::Error naming the first problem: missing pointers, sizes, Hq not a multiple of Hkv,
// a non-finite scale or softcap.
void validate(const DecodeParams& p);

// Writes p.out and, when set, p.lse.
void decode_attention(const DecodeParams& p);

}  // namespace attn
