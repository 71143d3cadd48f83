#include "attn/core/attention_params.h"

#include <algorithm>
#include <cmath>

#include "attn/core/error.h"

namespace attn {

namespace {

void check_size(int64_t value, const char* name) {
  ATTN_CHECK(value > 0, "attention: ", name, " must be positive, got ", value);
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

}  // namespace attn
