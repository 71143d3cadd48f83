// Attention during generation: the layers of nn/ run against KV caches (attn/infer/kv_cache.h)
// with the decode kernel. Nothing is kept for backward; no dropout.
//
//   self-attention:  x [B, n, C], the next n tokens of each sequence → y [B, n, C]
//                    (their keys and values, RoPE'd at their positions, are appended first)
//   cross-attention: memory [B, S, Cm] projected once into a cache; then x [B, 1, C] → y [B, 1, C]
#pragma once

#include <cstdint>
#include <span>

#include "attn/core/tensor.h"
#include "attn/infer/kv_cache.h"
#include "attn/nn/decoder_block.h"
#include "attn/nn/multi_head_attention.h"
#include "attn/nn/transformer_block.h"

namespace attn::infer {

// x [B, n, C] are the next n tokens of each sequence of `cache` (self-attention). Their keys and
// values are appended to the cache, and each token attends to every cached token up to itself.
// The cache needs Hkv heads of dk and dv and no RoPE of its own.
Tensor attend_cached(nn::MultiHeadAttention& layer, const Tensor& x, KvCache& cache);

// Cross-attention, step 1: the keys and values of memory [B, S, Cm] (sequence b has
// lengths[b] ≤ S valid rows) are projected once and appended to `cache` (B sequences, empty).
void append_memory(nn::MultiHeadAttention& layer, const Tensor& memory,
                   std::span<const int64_t> lengths, KvCache& cache);

// Step 2, per generated token: x [B, 1, C] attends to every cached memory row of its sequence.
Tensor attend_memory_cached(nn::MultiHeadAttention& layer, const Tensor& x, const KvCache& cache);

// A block's forward for the next n tokens x [B, n, C] against the layer's KV cache.
Tensor block_forward_cached(nn::TransformerBlock& block, const Tensor& x, KvCache& cache);

// A decoder block's forward for the next token x [B, 1, C]: self_cache holds the keys and values
// of the earlier tokens (this token's are appended); memory_cache those of the memory, filled
// once by append_memory(block.cross_attention(), ...).
Tensor decoder_forward_cached(nn::DecoderBlock& block, const Tensor& x, KvCache& self_cache,
                              const KvCache& memory_cache);

}  // namespace attn::infer
