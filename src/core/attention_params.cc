#include "attn/core/attention_params.h"

#include <algorithm>
#include <cmath>

#include "attn/core/error.h"

namespace attn {

namespace {

void check_size(int64_t value, const char* name) {
  ATTN_CHECK(value > 0, "attention: ", name, " must be positive, got ", value);
}

// Offsets cu[0..n] start at 0, never decrease and end at `total`; max_len, when given, is at
// least the longest sequence.
void check_offsets(const int32_t* cu, int64_t n, int64_t total, int64_t max_len, const char* name,
                   const char* total_name) {
  ATTN_CHECK(cu[0] == 0, "attention: ", name, "[0] must be 0, got ", cu[0]);
  int64_t longest = 0;
  for (int64_t s = 0; s < n; ++s) {
    ATTN_CHECK(cu[s + 1] >= cu[s], "attention: ", name, " decreases at ", s + 1, " (", cu[s],
               " then ", cu[s + 1], ")");
    longest = std::max<int64_t>(longest, cu[s + 1] - cu[s]);
  }
  ATTN_CHECK(cu[n] == total, "attention: ", name, "[", n, "] = ", cu[n], " must equal ", total_name,
             "=", total);
  ATTN_CHECK(max_len == 0 || max_len >= longest, "attention: the maximum length given with ", name,
             " is ", max_len, " but a sequence has ", longest);
}

void validate_packed(const AttentionParams& p) {
  ATTN_CHECK(p.cu_seqlens_q && p.cu_seqlens_k,
             "attention: cu_seqlens_q and cu_seqlens_k must be given together");
  ATTN_CHECK(p.sequences > 0, "attention: packed sequences need sequences > 0, got ", p.sequences);
  ATTN_CHECK(p.batch == 1,
             "attention: packed sequences (cu_seqlens) need a batch of one, got B=", p.batch);
  ATTN_CHECK(!p.key_lengths, "attention: key_lengths cannot be combined with cu_seqlens");
  check_offsets(p.cu_seqlens_q, p.sequences, p.q_len, p.max_seqlen_q, "cu_seqlens_q",
                "total queries Lq");
  check_offsets(p.cu_seqlens_k, p.sequences, p.kv_len, p.max_seqlen_k, "cu_seqlens_k",
                "total keys Lk");
}

// x moved to (row, key) of its [.., .., rows, keys] strides; null stays null.
template <typename T>
T* moved(T* x, const Strides4& s, int64_t row, int64_t key) {
  return x ? x + s.offset(0, 0, row, key) : nullptr;
}

// q, k, v and out given in exactly one of the float and 16-bit sets, as the types say.
void check_input_pointers(const AttentionParams& p) {
  if (p.input_type == ElementType::kF32) {
    ATTN_CHECK(p.q && p.k && p.v, "attention: q, k and v must all be given");
    ATTN_CHECK(p.output_type == ElementType::kF32, "attention: the output of f32 inputs is f32");
    ATTN_CHECK(!p.q16 && !p.k16 && !p.v16 && !p.out16,
               "attention: 16-bit pointers are set but input_type is f32");
    return;
  }
  const std::string_view type = element_type_name(p.input_type);
  ATTN_CHECK(p.q16 && p.k16 && p.v16, "attention: q16, k16 and v16 must all be given for ", type,
             " inputs");
  ATTN_CHECK(!p.q && !p.k && !p.v, "attention: float q, k or v is set but input_type is ", type);
  ATTN_CHECK(p.output_type == ElementType::kF32 || p.output_type == p.input_type,
             "attention: the output type must be f32 or the input type ", type);
  if (p.output_type == ElementType::kF32) {
    ATTN_CHECK(!p.out16, "attention: out16 is set but output_type is f32");
  } else {
    ATTN_CHECK(!p.out, "attention: float out is set but output_type is ", type);
  }
}

}  // namespace

AttentionParams attention_params(const ConstTensorView4& q, const ConstTensorView4& k,
                                 const ConstTensorView4& v, const TensorView4& out, float* lse) {
  ATTN_CHECK(k.batch == q.batch && v.batch == q.batch && out.batch == q.batch,
             "attention_params: batch sizes differ (q ", q.batch, ", k ", k.batch, ", v ", v.batch,
             ", out ", out.batch, ")");
  ATTN_CHECK(v.heads == k.heads && v.len == k.len, "attention_params: k has [Hkv, Lk] = [", k.heads,
             ", ", k.len, "] but v has [", v.heads, ", ", v.len, "]");
  ATTN_CHECK(k.dim == q.dim, "attention_params: q has D = ", q.dim, " but k has D = ", k.dim);
  ATTN_CHECK(out.heads == q.heads && out.len == q.len && out.dim == v.dim,
             "attention_params: out has [Hq, Lq, Dv] = [", out.heads, ", ", out.len, ", ", out.dim,
             "], expected [", q.heads, ", ", q.len, ", ", v.dim, "]");
  AttentionParams p;
  p.q = q.data, p.q_stride = q.stride;
  p.k = k.data, p.k_stride = k.stride;
  p.v = v.data, p.v_stride = v.stride;
  p.batch = q.batch, p.q_heads = q.heads, p.kv_heads = k.heads;
  p.q_len = q.len, p.kv_len = k.len, p.head_dim = q.dim, p.v_head_dim = v.dim;
  p.out = out.data, p.out_stride = out.stride;
  p.lse = lse, p.lse_stride = {q.heads * q.len, q.len, 1, 0};
  return p;
}

void validate(const AttentionParams& p) {
  check_input_pointers(p);
  check_size(p.batch, "batch size B");
  check_size(p.q_heads, "query heads Hq");
  check_size(p.kv_heads, "key/value heads Hkv");
  check_size(p.q_len, "query length Lq");
  check_size(p.kv_len, "key length Lk");
  check_size(p.head_dim, "head dim D");
  check_size(p.v_head_dim, "value head dim Dv");
  ATTN_CHECK(p.q_heads % p.kv_heads == 0, "attention: query heads Hq=", p.q_heads,
             " must be a multiple of key/value heads Hkv=", p.kv_heads);
  ATTN_CHECK(!p.scale || std::isfinite(*p.scale), "attention: scale must be finite, got ",
             *p.scale);
  ATTN_CHECK(std::isfinite(p.softcap) && p.softcap >= 0.0f,
             "attention: softcap must be finite and >= 0, got ", p.softcap);
  ATTN_CHECK(p.dropout_p >= 0.0f && p.dropout_p < 1.0f,
             "attention: dropout_p must be in [0, 1), got ", p.dropout_p);
  if (p.key_lengths) {
    for (int64_t b = 0; b < p.batch; ++b) {
      const int64_t len = p.key_lengths[b];
      ATTN_CHECK(len >= 0 && len <= p.kv_len, "attention: key_lengths[", b, "] = ", len,
                 " is outside [0, Lk=", p.kv_len, "]");
    }
  }
  if (p.cu_seqlens_q || p.cu_seqlens_k) validate_packed(p);
  if (p.alibi_slopes) {
    for (int64_t h = 0; h < p.q_heads; ++h) {
      ATTN_CHECK(std::isfinite(p.alibi_slopes[h]), "attention: alibi slope of head ", h,
                 " is not finite");
    }
  }
}

KeyRange visible_keys(const AttentionParams& p, int64_t b, int64_t i) {
  const int64_t keys = p.keys_of(b);
  const int64_t pos = i + p.query_offset(b);
  int64_t begin = 0;
  int64_t end = keys;
  // Clamped to the keys: a row whose window starts past the last key sees none, and its empty
  // range must not point past Lk (work items take their key range from it).
  if (p.window_left >= 0) begin = std::clamp<int64_t>(pos - p.window_left, 0, keys);
  const int64_t right = p.right_bound();
  if (right >= 0) end = std::min<int64_t>(end, pos + right + 1);
  return {begin, std::max(begin, end)};
}

AttentionParams sequence_params(const AttentionParams& p, int64_t s) {
  const int64_t row = p.cu_seqlens_q[s], key = p.cu_seqlens_k[s];
  AttentionParams seq = p;
  seq.q = moved(p.q, p.q_stride, row, 0);
  seq.k = moved(p.k, p.k_stride, key, 0);
  seq.v = moved(p.v, p.v_stride, key, 0);
  seq.out = moved(p.out, p.out_stride, row, 0);
  seq.q16 = moved(p.q16, p.q_stride, row, 0);
  seq.k16 = moved(p.k16, p.k_stride, key, 0);
  seq.v16 = moved(p.v16, p.v_stride, key, 0);
  seq.out16 = moved(p.out16, p.out_stride, row, 0);
  seq.lse = moved(p.lse, p.lse_stride, row, 0);
  seq.bool_mask = moved(p.bool_mask, p.bool_mask_stride, row, key);
  seq.additive_mask = moved(p.additive_mask, p.additive_mask_stride, row, key);
  seq.q_len = p.sequence_q_len(s);
  seq.kv_len = p.sequence_kv_len(s);
  seq.cu_seqlens_q = seq.cu_seqlens_k = nullptr;
  seq.sequences = seq.max_seqlen_q = seq.max_seqlen_k = 0;
  seq.packed_row_begin = p.packed_row_begin + row;
  seq.packed_key_begin = p.packed_key_begin + key;
  return seq;
}

int64_t sequence_of_row(const AttentionParams& p, int64_t i) {
  // The last sequence starting at or before i: empty sequences before it start there too.
  const int32_t* end = p.cu_seqlens_q + p.sequences + 1;
  return std::upper_bound(p.cu_seqlens_q, end, static_cast<int32_t>(i)) - p.cu_seqlens_q - 1;
}

}  // namespace attn
