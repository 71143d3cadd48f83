// AttentionParams — the one parameter struct of the scaled dot-product attention family.
//
// The reference (ref/), the flash kernel (kernels/) and the attention-weights recomputation all
// take this struct. It holds every pointer, every size and every stride (in elements), and every
// option; nothing is passed beside it. Shapes:
//
//   q    [B, Hq,  Lq, D ]          out  [B, Hq, Lq, Dv]
//   k    [B, Hkv, Lk, D ]          lse  [B, Hq, Lq]       (optional; natural log)
//   v    [B, Hkv, Lk, Dv]
//
// Each tensor is a view (pointer + Strides4), so [B, H, L, D] and [B, L, H, D] layouts both work.
//
// The score of query i and key j, in the order the options are applied:
//   s  = scale · (q_i · k_j)
//   s  = softcap · tanh(s / softcap)                       if softcap > 0
//   s += −alibi_slopes[h] · |p_i − j|                      if alibi_slopes
//   s += additive_mask[b, h, i, j]                         if additive_mask
//   s  = −inf  unless bool_mask[b, h, i, j]                if bool_mask
//   s  = −inf  if j ≥ key_lengths[b]                       if key_lengths
//   s  = −inf  outside the causal / sliding window         if causal or a window is set
// where p_i is the position of query i among the keys (see query_offset; with query_start and
// key_start, p_i − j is the distance of the whole sequence's indices). Row i of the output
// is softmax(s) · V; a row with every key masked gives 0 and log-sum-exp −inf.
//
// Attention dropout (dropout_p > 0): after the softmax, weight P_ij is kept with probability
// 1 − p and scaled by 1/(1 − p), the others are zeroed:
//   O = (P ∘ M / (1 − p)) · V
// The log-sum-exp is that of the undropped scores. The keep bit M[b, h, i, j] (h the query head)
// is a pure function of (dropout_seed, dropout_offset, b, h, i, j) (attn/core/dropout_mask.h), so
// it does not depend on the tiling, the SIMD target or the thread count, and the backward pass
// regenerates exactly the mask of the forward.
//
// Packed sequences of different lengths (cu_seqlens_q / cu_seqlens_k, as FlashAttention's
// flash_attn_varlen_func): q, k, v and out hold one batch (B = 1) whose rows are n sequences
// end to end, Lq and Lk being the totals. Sequence s has the query rows
// [cu_seqlens_q[s], cu_seqlens_q[s + 1]) and the keys [cu_seqlens_k[s], cu_seqlens_k[s + 1]),
// and attends only within itself: every option applies to each sequence as to a batch of its
// own (causal and window alignment from its own lengths, ALiBi distances and positions counted
// from its first query and first key). Masks are indexed by the packed rows and keys
// ([.., Lq, Lk]), and so is the dropout mask (M[0, h, i, j], i and j packed indices), so the
// packed call is exactly the block-diagonal part of one attention over the packed tensors.
// key_lengths cannot be combined with packed sequences.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>

#include "attn/core/element_type.h"
#include "attn/core/tensor.h"

namespace attn {

// Where the causal diagonal sits when Lq != Lk.
enum class CausalAlign {
  kBottomRight,  // query i is at position i + (Lk − Lq): the last query sees every key (FA ≥ 2.1).
  kTopLeft,      // query i is at position i (PyTorch's is_causal).
};

struct AttentionParams {
  // ---- inputs (views; the innermost stride may be any value, 1 is fastest)
  const float* q = nullptr;  // [B, Hq, Lq, D]
  Strides4 q_stride;
  const float* k = nullptr;  // [B, Hkv, Lk, D]
  Strides4 k_stride;
  const float* v = nullptr;  // [B, Hkv, Lk, Dv]
  Strides4 v_stride;

  // ---- sizes
  int64_t batch = 0;       // B
  int64_t q_heads = 0;     // Hq: a multiple of kv_heads; query head h reads KV head h / (Hq/Hkv)
  int64_t kv_heads = 0;    // Hkv: Hkv == Hq is multi-head, 1 is multi-query, else grouped-query
  int64_t q_len = 0;       // Lq
  int64_t kv_len = 0;      // Lk (the padded length when key_lengths is set)
  int64_t head_dim = 0;    // D, shared by q and k
  int64_t v_head_dim = 0;  // Dv, of v and out; may differ from D

  // ---- outputs
  float* out = nullptr;  // [B, Hq, Lq, Dv]
  Strides4 out_stride;
  float* lse = nullptr;  // [B, Hq, Lq] log-sum-exp of each row's scores; optional (nullptr)
  Strides4 lse_stride;   // batch, head and row are used; col is ignored

  // ---- options
  std::optional<float> scale;  // multiplies q·k; unset means 1/sqrt(D); must be finite
  float softcap = 0.0f;        // > 0: s = softcap · tanh(s / softcap), after scaling; 0 = off

  bool causal = false;  // keys after the query's position are masked
  CausalAlign causal_align = CausalAlign::kBottomRight;
  int64_t window_left = -1;   // keys j < p_i − window_left are masked; negative = unbounded
  int64_t window_right = -1;  // keys j > p_i + window_right are masked; negative = unbounded
                              // (causal is window_right = 0)

  const float* alibi_slopes = nullptr;   // [Hq]: s += −slope_h · |p_i − j|, after softcap
  const int64_t* key_lengths = nullptr;  // [B]: keys j ≥ key_lengths[b] are masked, and that
                                         // length is batch b's Lk for the causal alignment

  // Masks broadcastable to [B, Hq, Lq, Lk]: a dimension of size 1 has stride 0.
  const uint8_t* bool_mask = nullptr;  // nonzero = attend
  Strides4 bool_mask_stride;
  const float* additive_mask = nullptr;  // added to the score; −inf masks
  Strides4 additive_mask_stride;

  float dropout_p = 0.0f;       // in [0, 1): probability of dropping a weight; 0 = off
  uint64_t dropout_seed = 0;    // selects the mask
  uint64_t dropout_offset = 0;  // a stream id mixed with the seed: e.g. the training step, so
                                // that one layer's seed gives a new mask at every step

  // A block of a longer sequence (ring attention): query row i is row query_start + i of the
  // whole and key j is key key_start + j. Query positions among the keys (causal, windows, ALiBi)
  // shift by query_start − key_start, and the dropout mask is drawn at the whole's indices, so a
  // block computes exactly its part of the whole problem. 0 and 0 for an ordinary call.
  int64_t query_start = 0;
  int64_t key_start = 0;

  // ---- packed variable-length sequences (see the file comment); all unset for a plain call
  const int32_t* cu_seqlens_q = nullptr;  // [sequences + 1]: 0, then cumulative query lengths
  const int32_t* cu_seqlens_k = nullptr;  // [sequences + 1]: 0, then cumulative key lengths
  int64_t sequences = 0;                  // n; q, k, v and out then have B = 1, Lq and Lk totals
  int64_t max_seqlen_q = 0;  // longest query sequence, checked when given; 0 = not given
  int64_t max_seqlen_k = 0;  // longest key sequence, likewise (the kernels need neither)

  // Set by sequence_params on the params of one packed sequence: the packed index of its first
  // query row and first key, where its dropout mask is drawn. 0 and 0 otherwise.
  int64_t packed_row_begin = 0;
  int64_t packed_key_begin = 0;

  // ---- 16-bit inputs and output (attn/core/element_type.h)
  // With input_type kBF16 or kF16, q, k and v are read from q16, k16 and v16 (bit patterns, with
  // q_stride, k_stride and v_stride) and q, k and v stay null. The output is written to out
  // (output_type kF32) or to out16 in the input type (output_type == input_type), with
  // out_stride; lse is always float. Scores, softmax and accumulation are fp32, as for fp32
  // inputs, so every option above works the same.
  ElementType input_type = ElementType::kF32;
  ElementType output_type = ElementType::kF32;
  const uint16_t* q16 = nullptr;  // [B, Hq, Lq, D]
  const uint16_t* k16 = nullptr;  // [B, Hkv, Lk, D]
  const uint16_t* v16 = nullptr;  // [B, Hkv, Lk, Dv]
  uint16_t* out16 = nullptr;      // [B, Hq, Lq, Dv]

  // ---- derived values (read-only helpers)
  float effective_scale() const {
    return scale.has_value() ? *scale : 1.0f / std::sqrt(static_cast<float>(head_dim));
  }
  int64_t group_size() const { return q_heads / kv_heads; }
  int64_t kv_head_of(int64_t q_head) const { return q_head / group_size(); }
  // Number of keys batch b really has.
  int64_t keys_of(int64_t b) const { return key_lengths ? key_lengths[b] : kv_len; }
  // Offset added to a query index to get its position among the keys of batch b.
  int64_t query_offset(int64_t b) const {
    const int64_t align = causal_align == CausalAlign::kBottomRight ? keys_of(b) - q_len : 0;
    return align + query_start - key_start;
  }
  // Effective right window: causal clamps it to 0; negative means unbounded.
  int64_t right_bound() const {
    if (!causal) return window_right;
    return window_right < 0 ? 0 : std::min<int64_t>(window_right, 0);
  }
  bool has_window() const { return window_left >= 0 || right_bound() >= 0; }
  bool has_dropout() const { return dropout_p > 0.0f; }
  bool is_packed() const { return cu_seqlens_q != nullptr; }
  // Query rows and keys of packed sequence s.
  int64_t sequence_q_len(int64_t s) const { return cu_seqlens_q[s + 1] - cu_seqlens_q[s]; }
  int64_t sequence_kv_len(int64_t s) const { return cu_seqlens_k[s + 1] - cu_seqlens_k[s]; }
  // Factor of the kept weights, 1/(1 − p).
  float dropout_scale() const { return 1.0f / (1.0f - dropout_p); }
};

// The params of attention over views q [B, Hq, Lq, D], k [B, Hkv, Lk, D], v [B, Hkv, Lk, Dv] and
// out [B, Hq, Lq, Dv]: pointers, sizes and strides from the views, lse [B, Hq, Lq] contiguous
// (optional), every option at its default. Throws attn::Error when the views' sizes disagree.
AttentionParams attention_params(const ConstTensorView4& q, const ConstTensorView4& k,
                                 const ConstTensorView4& v, const TensorView4& out,
                                 float* lse = nullptr);

// Throws attn::Error naming the first problem: missing pointers, non-positive sizes, Hq not a
// multiple of Hkv, a non-finite scale or softcap, key lengths outside [0, Lk], ...
void validate(const AttentionParams& p);

// Half-open range [begin, end) of keys that the causal window and key length allow query i of
// batch b to see (empty when begin == end); 0 ≤ begin ≤ end ≤ keys_of(b), and both ends are
// nondecreasing in i. Masks are not included.
struct KeyRange {
  int64_t begin;
  int64_t end;
};
KeyRange visible_keys(const AttentionParams& p, int64_t b, int64_t i);

// The ordinary (not packed) params of packed sequence s of p: B = 1, Lq and Lk the sequence's
// lengths, the pointers of q, k, v, out, lse and the masks moved to its first row and key,
// packed_row_begin and packed_key_begin set for its dropout mask. Running it alone computes
// exactly the sequence's part of p. p must be packed and valid; a length may be 0.
AttentionParams sequence_params(const AttentionParams& p, int64_t s);

// The sequence of packed p that query row i belongs to.
int64_t sequence_of_row(const AttentionParams& p, int64_t i);

}  // namespace attn
