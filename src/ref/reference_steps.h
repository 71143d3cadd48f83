// The steps of the textbook forward, shared by the reference forward and backward.
//
// Templated on the accumulation type Acc (double: the reference; float: the plain fp32 twin whose
// error sets the tests' tolerance) and on the element type In of q, k and v (float for the
// library; double for the finite-difference tests of the backward, which perturb the inputs by
// less than a float's resolution). Everything else (sizes, strides, options) comes from
// AttentionParams; the q, k and v pointers of the params are not read here.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <vector>

#include "attn/core/attention_params.h"
#include "attn/core/dropout_mask.h"

namespace attn::ref {

template <typename Acc>
constexpr Acc kMinusInf = -std::numeric_limits<Acc>::infinity();

// q, k and v with the strides of p.q_stride, p.k_stride and p.v_stride.
template <typename In>
struct QkvView {
  const In* q;
  const In* k;
  const In* v;
};

// The keys [key_begin, key_end) that query i of batch b belongs with (batch b's keys; with
// packed sequences, its own sequence's keys) and its position among them (counted from
// key_begin).
struct QueryPlace {
  int64_t pos;
  int64_t key_begin;
  int64_t key_end;
};
inline QueryPlace query_place(const AttentionParams& p, int64_t b, int64_t i) {
  if (!p.is_packed()) return {i + p.query_offset(b), 0, p.keys_of(b)};
  const int64_t s = sequence_of_row(p, i);
  const int64_t len_q = p.sequence_q_len(s), len_k = p.sequence_kv_len(s);
  const int64_t align = p.causal_align == CausalAlign::kBottomRight ? len_k - len_q : 0;
  const int64_t local = i - p.cu_seqlens_q[s];
  return {local + align + p.query_start - p.key_start, p.cu_seqlens_k[s], p.cu_seqlens_k[s + 1]};
}

// Is key j hidden from query i of (batch b, query head h)? Each masking option in turn.
inline bool is_masked(const AttentionParams& p, int64_t b, int64_t h, int64_t i, int64_t j) {
  const QueryPlace place = query_place(p, b, i);
  if (j < place.key_begin || j >= place.key_end) return true;            // padding, other sequence
  const int64_t pos = place.pos;                                         // query's position
  const int64_t key = j - place.key_begin;                               // key's position
  if (p.window_left >= 0 && key < pos - p.window_left) return true;      // too far left
  if (p.right_bound() >= 0 && key > pos + p.right_bound()) return true;  // future (causal)
  if (p.bool_mask && !p.bool_mask[p.bool_mask_stride.offset(b, h, i, j)]) return true;
  return false;
}

// The scores of one query row, [Lk] each.
template <typename Acc>
struct RowScores {
  std::vector<Acc> scaled;  // t_j = scale · (q_i · k_j), before the softcap (the backward's input)
  std::vector<Acc> scores;  // s_j: t_j through softcap, ALiBi, additive mask; −inf where masked
};

// Step 1: t_j = scale · (q_i · k_j); s_j = softcap(t_j) + ALiBi + additive mask, or −inf.
template <typename Acc, typename In>
RowScores<Acc> row_scores(const AttentionParams& p, const QkvView<In>& x, int64_t b, int64_t h,
                          int64_t i) {
  const int64_t kvh = p.kv_head_of(h);
  const Acc scale = p.effective_scale();
  RowScores<Acc> r{std::vector<Acc>(p.kv_len), std::vector<Acc>(p.kv_len)};
  for (int64_t j = 0; j < p.kv_len; ++j) {
    Acc dot = 0;
    for (int64_t d = 0; d < p.head_dim; ++d) {
      dot += Acc(x.q[p.q_stride.offset(b, h, i, d)]) * Acc(x.k[p.k_stride.offset(b, kvh, j, d)]);
    }
    r.scaled[j] = scale * dot;
    Acc score = r.scaled[j];
    if (p.softcap > 0) score = Acc(p.softcap) * std::tanh(score / Acc(p.softcap));
    if (p.alibi_slopes) {
      const QueryPlace place = query_place(p, b, i);
      score -= Acc(p.alibi_slopes[h]) * Acc(std::llabs(place.pos - (j - place.key_begin)));
    }
    if (p.additive_mask) score += Acc(p.additive_mask[p.additive_mask_stride.offset(b, h, i, j)]);
    r.scores[j] = is_masked(p, b, h, i, j) ? kMinusInf<Acc> : score;
  }
  return r;
}

// Step 2: softmax in place; returns the log-sum-exp. Every weight is 0 and the lse −inf when every
// score is −inf (masked). A NaN or +inf score makes the row NaN: the weights of its keys whose
// score is above −inf and the lse are NaN; a masked key's weight stays 0.
template <typename Acc>
Acc softmax_in_place(std::vector<Acc>& s) {
  Acc max = kMinusInf<Acc>;
  for (Acc x : s) {
    if (x > max || std::isnan(x)) max = x;  // std::max would drop a NaN
    if (std::isnan(max)) break;
  }
  if (max == kMinusInf<Acc>) {
    std::fill(s.begin(), s.end(), Acc(0));
    return kMinusInf<Acc>;
  }
  Acc sum = 0;
  for (Acc& x : s) {
    x = x == kMinusInf<Acc> ? Acc(0) : std::exp(x - max);  // exp(inf − inf) is NaN
    sum += x;
  }
  for (Acc& x : s) x = x == Acc(0) ? x : x / sum;  // 0 / NaN would be NaN
  return max + std::log(sum);
}

// Step 2b, attention dropout: the factor M_ij / (1 − p) of each key j of row i [Lk] (all 1 when
// dropout is off), M_ij the keep bit of attn/core/dropout_mask.h.
template <typename Acc>
std::vector<Acc> dropout_factors(const AttentionParams& p, int64_t b, int64_t h, int64_t i) {
  std::vector<Acc> f(p.kv_len, Acc(1));
  if (!p.has_dropout()) return f;
  DropoutKeys keys = dropout_keys(p.dropout_seed, p.dropout_offset, b, h);
  keys.row_start = p.query_start + p.packed_row_begin;
  keys.col_start = p.key_start + p.packed_key_begin;
  const uint32_t threshold = dropout_threshold(p.dropout_p);
  const uint32_t row = dropout_row_hash(keys, i);
  const Acc kept = Acc(1) / (Acc(1) - Acc(p.dropout_p));
  for (int64_t j = 0; j < p.kv_len; ++j) {
    f[j] = dropout_keeps(row, dropout_col_hash(keys, j), threshold) ? kept : Acc(0);
  }
  return f;
}

// x_j ← x_j · f_j.
template <typename Acc>
void scale_in_place(std::vector<Acc>& x, const std::vector<Acc>& f) {
  for (size_t j = 0; j < x.size(); ++j) x[j] *= f[j];
}

// Step 3: out_i = Σ_j w_j · v_j over the keys j that query i sees, into out_row [Dv]. A masked key
// is left out of the sum rather than weighted 0, so a non-finite v_j reaches only the rows that
// see key j (through 0 · NaN even where w_j rounds to 0).
template <typename Acc, typename In>
void weighted_values(const AttentionParams& p, const QkvView<In>& x, int64_t b, int64_t h,
                     int64_t i, const std::vector<Acc>& w, Acc* out_row) {
  const int64_t kvh = p.kv_head_of(h);
  std::vector<char> seen(p.kv_len);
  for (int64_t j = 0; j < p.kv_len; ++j) seen[j] = !is_masked(p, b, h, i, j);
  for (int64_t c = 0; c < p.v_head_dim; ++c) {
    Acc sum = 0;
    for (int64_t j = 0; j < p.kv_len; ++j) {
      if (seen[j]) sum += w[j] * Acc(x.v[p.v_stride.offset(b, kvh, j, c)]);
    }
    out_row[c] = sum;
  }
}

// Runs the three steps (and dropout) for every row; fills out [B, Hq, Lq, Dv] (contiguous) and,
// when given, lse [B, Hq, Lq] and weights [B, Hq, Lq, Lk] (the softmax, before dropout).
template <typename Acc, typename In>
void attention_rows(const AttentionParams& p, const QkvView<In>& x, std::vector<Acc>& out,
                    std::vector<Acc>* lse, std::vector<Acc>* weights) {
  validate(p);
  const int64_t rows = p.batch * p.q_heads * p.q_len;
  out.assign(rows * p.v_head_dim, 0);
  if (lse) lse->assign(rows, 0);
  if (weights) weights->assign(rows * p.kv_len, 0);
  for (int64_t b = 0; b < p.batch; ++b) {
    for (int64_t h = 0; h < p.q_heads; ++h) {
      for (int64_t i = 0; i < p.q_len; ++i) {
        const int64_t row = (b * p.q_heads + h) * p.q_len + i;
        std::vector<Acc> s = row_scores<Acc>(p, x, b, h, i).scores;
        const Acc row_lse = softmax_in_place(s);
        if (lse) (*lse)[row] = row_lse;
        if (weights) std::copy(s.begin(), s.end(), weights->begin() + row * p.kv_len);
        if (row_lse == kMinusInf<Acc>) continue;  // no visible key: output 0
        scale_in_place(s, dropout_factors<Acc>(p, b, h, i));
        weighted_values(p, x, b, h, i, s, out.data() + row * p.v_head_dim);
      }
    }
  }
}

}  // namespace attn::ref
