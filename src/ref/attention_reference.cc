// The textbook reference: scores → softcap → ALiBi → masks → softmax → weights·V, one row at a
// time, one readable step after another. Templated on the accumulation type: double is the
// reference, float is the "plain fp32 three-step implementation" whose error sets the tests'
// tolerance. It materialises each row of scores (O(Lk) per row) on purpose.
#include "attn/reference.h"

#include <cmath>
#include <limits>

#include "attn/error.h"

namespace attn {

namespace {

template <typename Acc>
constexpr Acc kMinusInf = -std::numeric_limits<Acc>::infinity();

// Is key j hidden from query i of (batch b, query head h)? Each masking option in turn.
bool is_masked(const AttentionParams& p, int64_t b, int64_t h, int64_t i, int64_t j) {
  if (j >= p.keys_of(b)) return true;                              // padding
  const int64_t pos = i + p.query_offset(b);                       // query's position
  if (p.window_left >= 0 && j < pos - p.window_left) return true;  // too far left
  if (p.right_bound() >= 0 && j > pos + p.right_bound()) return true;  // future (causal)
  if (p.bool_mask && !p.bool_mask[p.bool_mask_stride.offset(b, h, i, j)]) return true;
  return false;
}

// Step 1: s_j = scale · (q_i · k_j), then softcap, ALiBi and the additive mask.
template <typename Acc>
std::vector<Acc> row_scores(const AttentionParams& p, int64_t b, int64_t h, int64_t i) {
  const int64_t kvh = p.kv_head_of(h);
  const Acc scale = p.effective_scale();
  std::vector<Acc> s(p.kv_len);
  for (int64_t j = 0; j < p.kv_len; ++j) {
    Acc dot = 0;
    for (int64_t d = 0; d < p.head_dim; ++d) {
      dot += Acc(p.q[p.q_stride.offset(b, h, i, d)]) * Acc(p.k[p.k_stride.offset(b, kvh, j, d)]);
    }
    Acc score = scale * dot;
    if (p.softcap > 0) score = Acc(p.softcap) * std::tanh(score / Acc(p.softcap));
    if (p.alibi_slopes) {
      const int64_t pos = i + p.query_offset(b);
      score -= Acc(p.alibi_slopes[h]) * Acc(std::llabs(pos - j));
    }
    if (p.additive_mask) score += Acc(p.additive_mask[p.additive_mask_stride.offset(b, h, i, j)]);
    s[j] = is_masked(p, b, h, i, j) ? kMinusInf<Acc> : score;
  }
  return s;
}

// Step 2: softmax in place; returns the log-sum-exp (−inf when every key is masked).
template <typename Acc>
Acc softmax_in_place(std::vector<Acc>& s) {
  Acc max = kMinusInf<Acc>;
  for (Acc x : s) max = std::max(max, x);
  if (max == kMinusInf<Acc>) {
    std::fill(s.begin(), s.end(), Acc(0));
    return kMinusInf<Acc>;
  }
  Acc sum = 0;
  for (Acc& x : s) {
    x = std::exp(x - max);
    sum += x;
  }
  for (Acc& x : s) x /= sum;
  return max + std::log(sum);
}

// Step 3: out_i = Σ_j w_j · v_j.
template <typename Acc>
void weighted_values(const AttentionParams& p, int64_t b, int64_t h, const std::vector<Acc>& w,
                     Acc* out_row) {
  const int64_t kvh = p.kv_head_of(h);
  for (int64_t c = 0; c < p.v_head_dim; ++c) {
    Acc sum = 0;
    for (int64_t j = 0; j < p.kv_len; ++j) sum += w[j] * Acc(p.v[p.v_stride.offset(b, kvh, j, c)]);
    out_row[c] = sum;
  }
}

// Runs the three steps for every row; fills out [B, Hq, Lq, Dv], lse and (optionally) weights.
template <typename Acc>
void attention_rows(const AttentionParams& p, std::vector<Acc>& out, std::vector<Acc>* lse,
                    std::vector<Acc>* weights) {
  validate(p);
  const int64_t rows = p.batch * p.q_heads * p.q_len;
  out.assign(rows * p.v_head_dim, 0);
  if (lse) lse->assign(rows, 0);
  if (weights) weights->assign(rows * p.kv_len, 0);
  for (int64_t b = 0; b < p.batch; ++b) {
    for (int64_t h = 0; h < p.q_heads; ++h) {
      for (int64_t i = 0; i < p.q_len; ++i) {
        const int64_t row = (b * p.q_heads + h) * p.q_len + i;
        std::vector<Acc> s = row_scores<Acc>(p, b, h, i);
        const Acc row_lse = softmax_in_place(s);
        weighted_values(p, b, h, s, out.data() + row * p.v_head_dim);
        if (lse) (*lse)[row] = row_lse;
        if (weights) std::copy(s.begin(), s.end(), weights->begin() + row * p.kv_len);
      }
    }
  }
}

}  // namespace

ReferenceResult attention_reference(const AttentionParams& p, bool with_weights) {
  ReferenceResult r;
  attention_rows<double>(p, r.out, &r.lse, with_weights ? &r.weights : nullptr);
  return r;
}

std::vector<float> attention_naive_fp32(const AttentionParams& p) {
  std::vector<float> out;
  attention_rows<float>(p, out, nullptr, nullptr);
  return out;
}

}  // namespace attn
