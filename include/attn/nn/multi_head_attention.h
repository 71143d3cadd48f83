// MultiHeadAttention — projections, heads, optional RoPE, and the flash attention kernel.
//
//   x [B, T, C]  (and memory [B, S, Cm] for cross-attention)  →  y [B, T, C]
//
//   q = x·Wqᵀ [B, T, Hq·dk]        k = src·Wkᵀ [B, S, Hkv·dk]      v = src·Wvᵀ [B, S, Hkv·dv]
//   (src = x for self-attention, memory for cross-attention; one fused Wqkv for self-attention)
//   q, k ← RoPE(q), RoPE(k) at positions 0..T−1 and 0..S−1            (optional)
//   o = attention(q, k, v) [B, T, Hq·dv]    y = o·Woᵀ (+ biases throughout when enabled)
//
// The heads are read in place as [B, L, H, D] views (blhd strides, or the fused row), so no
// transposes are needed; query head h uses KV head h / (Hq/Hkv) (grouped-query attention).
// forward keeps q, k, v, o and the log-sum-exp; backward(dy) runs flash_attention_backward and
// the projections' backward, returns dx and accumulates every weight gradient.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "attn/attention_params.h"
#include "attn/nn/linear.h"
#include "attn/nn/parameter.h"
#include "attn/nn/rope.h"
#include "attn/tensor.h"

namespace attn {
class KvCache;
}  // namespace attn

namespace attn::nn {

struct MultiHeadAttentionConfig {
  int64_t d_model = 0;           // C: width of x and y
  int64_t n_heads = 0;           // Hq
  int64_t n_kv_heads = 0;        // Hkv, dividing Hq (0 means Hq; 1 is multi-query)
  int64_t head_dim = 0;          // dk of queries and keys (0 means C / Hq)
  int64_t v_head_dim = 0;        // dv of values (0 means head_dim)
  bool cross_attention = false;  // keys and values from a memory tensor
  int64_t memory_dim = 0;        // Cm, width of the memory (0 means C)
  bool fused_qkv = false;        // one projection for q, k and v (self-attention only)
  bool bias = true;              // biases on every projection
  bool causal = false;           // query i sees keys j ≤ i (top-left aligned)
  bool rope = false;             // rotary embedding on q and k
  double rope_base = 10000.0;
  std::optional<float> scale;  // unset means 1/√dk
  uint64_t seed = 0;           // initialisation
};

// Per-call inputs beside x.
struct AttentionInputs {
  const Tensor* memory = nullptr;        // [B, S, Cm]; required for cross-attention
  std::span<const int64_t> key_lengths;  // [B]: keys j ≥ key_lengths[b] are masked; empty = none
};

class MultiHeadAttention {
 public:
  explicit MultiHeadAttention(const MultiHeadAttentionConfig& config);

  Tensor forward(const Tensor& x, const AttentionInputs& inputs = {});  // → [B, T, C]
  // dy [B, T, C] → dx [B, T, C]. Cross-attention writes dL/dmemory [B, S, Cm] to *dmemory.
  Tensor backward(const Tensor& dy, Tensor* dmemory = nullptr);

  // Generation: x [B, n, C] are the next n tokens of each sequence of `cache` (self-attention).
  // Their keys and values (RoPE'd at their positions) are appended to the cache, and each token
  // attends to every cached token up to itself (decode_attention). Nothing is kept for backward.
  // The cache needs Hkv heads of dk and dv and no RoPE of its own.
  Tensor forward_cached(const Tensor& x, KvCache& cache);
  // Cross-attention generation, step 1: the keys and values of memory [B, S, Cm] (sequence b has
  // lengths[b] ≤ S valid rows) are projected once and appended to `cache` (B sequences, empty).
  void append_memory(const Tensor& memory, std::span<const int64_t> lengths, KvCache& cache);
  // Step 2, per generated token: x [B, 1, C] attends to every cached memory row of its sequence.
  Tensor forward_memory_cached(const Tensor& x, const KvCache& cache);

  // Softmax weights of the last forward, [B, Hq, T, S] ([B, 1, T, S] averaged over the heads).
  Tensor attention_weights(bool average_heads = false);

  // "wq.*", "wk.*", "wv.*" (or "wqkv.*" when fused), "wo.*".
  std::vector<Parameter> parameters();
  const MultiHeadAttentionConfig& config() const { return config_; }

 private:
  // A head-major view of one of q, k, v (or their gradients) inside its row-major buffer.
  struct HeadView {
    float* data;
    Strides4 stride;  // indexed [b, head, position, d]
  };
  enum class Part { kQ, kK, kV };

  HeadView view(Tensor& buffer, Part part, int64_t len) const;
  void project(const Tensor& x, const Tensor& src);
  Tensor project_back(Tensor& dq, Tensor& dk, Tensor& dv, Tensor* dmemory);
  AttentionParams attention_params();
  void apply_rope(Tensor& q, Tensor& k, bool backward) const;

  MultiHeadAttentionConfig config_;
  std::optional<Linear> wq_, wk_, wv_, wqkv_;
  Linear wo_;
  std::optional<Rope> rope_;

  // Cache of the last forward.
  int64_t batch_ = 0, q_len_ = 0, kv_len_ = 0;
  Tensor q_, k_, v_;  // post-RoPE; with fused_qkv all three live in q_ ([B, T, W])
  Tensor o_;          // [B, T, Hq·dv]
  Tensor lse_;        // [B, Hq, T]
  std::vector<int64_t> key_lengths_;
};

}  // namespace attn::nn
