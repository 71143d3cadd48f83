// The flash forward of one query tile, per SIMD target: for each key block, scores (GEMM 1),
// the online softmax update, and Oᵀ += Vᵀ·Pᵀ (GEMM 2); then Oᵀ / l is written out once.
// Everything runs on the transposed tiles, queries in the SIMD lanes, so the softmax's max, exp
// and sums are vertical vector operations. With attention dropout, the dropped entries of Pᵀ are
// zeroed after the row sums l have grown (l and the lse are those of the undropped softmax) and
// 1/(1 − p) is folded into the final 1 / l.
#if defined(ATTN_KERNELS_FLASH_FORWARD_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ATTN_KERNELS_FLASH_FORWARD_INL_H_
#undef ATTN_KERNELS_FLASH_FORWARD_INL_H_
#else
#define ATTN_KERNELS_FLASH_FORWARD_INL_H_
#endif

#include <algorithm>
#include <cmath>

#include "hwy/highway.h"
#include "kernels/dropout_mask-inl.h"
#include "kernels/exp-inl.h"
#include "kernels/score_tile-inl.h"
#include "kernels/scratch_arena.h"
#include "kernels/tile_gemm-inl.h"
#include "kernels/tiling.h"

HWY_BEFORE_NAMESPACE();
namespace attn::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Per-thread working memory of one query tile, carved by CarveForwardScratch.
struct ForwardScratch {
  float* scores;   // Sᵀ then Pᵀ: [key_tile][padded]
  float* out_t;    // Oᵀ: [Dv][padded]
  float* row_max;  // m: [padded]
  float* row_sum;  // l: [padded]
  float* rescale;  // exp(m_old − m_new) of the last block: [padded]
  float* k_rows;   // bf16/f16 inputs: the block's keys as floats [key_tile][d]; else null
  float* v_rows;   // and its values [key_tile][dv]
  QueryTile tile;  // with q_packed, key_begin, key_end, position
};

// One thread's scratch for query tiles of `sizes.query_tile` rows of problem p.
HWY_INLINE ForwardScratch CarveForwardScratch(ScratchArena& a, const AttentionParams& p,
                                              const TileSizes& sizes) {
  const int64_t padded = PaddedRows(sizes.query_tile);
  ForwardScratch s;
  s.scores = a.take<float>(sizes.key_tile * padded);
  s.out_t = a.take<float>(p.v_head_dim * padded);
  s.row_max = a.take<float>(padded);
  s.row_sum = a.take<float>(padded);
  s.rescale = a.take<float>(padded);
  s.k_rows = CarveRowsBuffer(a, p.input_type, sizes.key_tile, p.head_dim);
  s.v_rows = CarveRowsBuffer(a, p.input_type, sizes.key_tile, p.v_head_dim);
  CarveQueryTile(a, padded, p.head_dim, s.tile);
  return s;
}

// Max over `rows` rows of a column of vectors; four independent chains hide the latency.
HWY_INLINE VF ColumnMax(const float* column, int64_t stride, int64_t rows) {
  const DF df;
  VF m0 = hn::Set(df, kNegInf), m1 = m0, m2 = m0, m3 = m0;
  int64_t j = 0;
  for (; j + 4 <= rows; j += 4) {
    m0 = hn::Max(m0, hn::Load(df, column + j * stride));
    m1 = hn::Max(m1, hn::Load(df, column + (j + 1) * stride));
    m2 = hn::Max(m2, hn::Load(df, column + (j + 2) * stride));
    m3 = hn::Max(m3, hn::Load(df, column + (j + 3) * stride));
  }
  for (; j < rows; ++j) m0 = hn::Max(m0, hn::Load(df, column + j * stride));
  return hn::Max(hn::Max(m0, m1), hn::Max(m2, m3));
}

// Online softmax over one block of `keys` score rows: turns Sᵀ into Pᵀ = exp(Sᵀ − m_new), and
// updates m and l; rescale receives exp(m_old − m_new) for the output accumulator.
HWY_INLINE void OnlineSoftmaxBlock(ForwardScratch& s, int64_t padded, int64_t keys) {
  const DF df;
  const size_t N = hn::Lanes(df);
  const VF neg_inf = hn::Set(df, kNegInf);
  for (int64_t i = 0; i < padded; i += N) {
    const VF block_max = ColumnMax(s.scores + i, padded, keys);
    const VF m_old = hn::Load(df, s.row_max + i);
    const VF m_new = hn::Max(m_old, block_max);
    // A row with no visible key yet keeps m = −inf; subtracting 0 instead avoids −inf − −inf.
    const VF m_use = hn::IfThenZeroElse(hn::Eq(m_new, neg_inf), m_new);
    const VF alpha = SoftmaxExp(df, hn::Sub(m_old, m_use));
    VF sum = hn::Zero(df);
    for (int64_t j = 0; j < keys; ++j) {
      float* row = s.scores + j * padded + i;
      const VF prob = SoftmaxExp(df, hn::Sub(hn::Load(df, row), m_use));
      hn::Store(prob, df, row);
      sum = hn::Add(sum, prob);
    }
    hn::Store(hn::MulAdd(hn::Load(df, s.row_sum + i), alpha, sum), df, s.row_sum + i);
    hn::Store(m_new, df, s.row_max + i);
    hn::Store(alpha, df, s.rescale + i);
  }
}

// Oᵀ[c][·] *= rescale[·] for every value dim c.
HWY_INLINE void RescaleOutput(ForwardScratch& s, int64_t padded, int64_t dv) {
  const DF df;
  const size_t N = hn::Lanes(df);
  for (int64_t c = 0; c < dv; ++c) {
    float* row = s.out_t + c * padded;
    for (int64_t i = 0; i < padded; i += N) {
      hn::Store(hn::Mul(hn::Load(df, row + i), hn::Load(df, s.rescale + i)), df, row + i);
    }
  }
}

// out[i][c] = Oᵀ[c][i] / l[i] (times 1/(1 − p) with dropout) and lse[i] = m[i] + log l[i]. l is
// 0 (no visible key: the row gets 0 and −inf, whatever Oᵀ holds), ≥ 1, or NaN (a NaN or +inf
// score: NaN and NaN). A 16-bit output is rounded from the fp32 value.
HWY_INLINE void WriteOutputRows(const ForwardScratch& s, int64_t padded) {
  const AttentionParams& p = *s.tile.p;
  const WorkItem& w = s.tile.item;
  const float factor = p.has_dropout() ? p.dropout_scale() : 1.0f;
  for (int64_t i = 0; i < w.q_count; ++i) {
    const float l = s.row_sum[i];
    const int64_t first = p.out_stride.offset(w.batch, w.head, w.q_begin + i, 0);
    for (int64_t c = 0; c < p.v_head_dim; ++c) {
      const float o = l == 0.0f ? 0.0f : s.out_t[c * padded + i] * (factor / l);
      if (p.output_type == ElementType::kF32) {
        p.out[first + c * p.out_stride.col] = o;
      } else {
        p.out16[first + c * p.out_stride.col] = from_float(o, p.output_type);
      }
    }
    if (p.lse) {
      p.lse[p.lse_stride.offset(w.batch, w.head, w.q_begin + i, 0)] =
          l == 0.0f ? kNegInf : s.row_max[i] + std::log(l);
    }
  }
}

// Whether the `keys` value rows at v (row stride `row`, column stride `col`, dv columns) are all
// finite: x · 0 is ±0 for a finite x and NaN otherwise, and OR keeps any NaN's exponent bits.
HWY_INLINE bool ValuesFinite(const float* v, int64_t row, int64_t col, int64_t keys, int64_t dv) {
  const DF df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const VF zero = hn::Zero(df);
  VF bits = zero;
  float tail = 0.0f;
  for (int64_t j = 0; j < keys; ++j) {
    const float* x = v + j * row;
    int64_t c = 0;
    if (col == 1) {
      for (; c + N <= dv; c += N) bits = hn::Or(bits, hn::Mul(hn::LoadU(df, x + c), zero));
    }
    for (; c < dv; ++c) tail += x[c * col] * 0.0f;
  }
  return tail == 0.0f && hn::AllTrue(df, hn::Eq(hn::Abs(bits), zero));
}

// Oᵀ += Vᵀ·Pᵀ over the keys [k0, k0 + keys) (value rows `values`) that each row sees (its key
// range and the bool mask) only. For a block holding a non-finite value: a masked key's weight is
// 0, and 0 · NaN in the GEMM would reach rows that cannot see the key.
HWY_INLINE void AddVisibleValues(ForwardScratch& s, const FloatRows& values, int64_t k0,
                                 int64_t keys) {
  const QueryTile& t = s.tile;
  const AttentionParams& p = *t.p;
  const WorkItem& w = t.item;
  for (int64_t j = 0; j < keys; ++j) {
    const int64_t key = k0 + j;
    const float* v = values.data + j * values.row;
    for (int64_t i = 0; i < w.q_count; ++i) {
      if (key < t.key_begin[i] || key >= t.key_end[i]) continue;
      if (p.bool_mask &&
          !p.bool_mask[p.bool_mask_stride.offset(w.batch, w.head, w.q_begin + i, key)]) {
        continue;
      }
      const float weight = s.scores[j * t.padded + i];
      for (int64_t c = 0; c < p.v_head_dim; ++c) {
        s.out_t[c * t.padded + i] += weight * v[c * values.col];
      }
    }
  }
}

// Oᵀ = Oᵀ ∘ rescale + Vᵀ·Pᵀ for the key block [k0, k0 + keys) (rescale null: Oᵀ += Vᵀ·Pᵀ): one
// GEMM that rescales Oᵀ as it loads it, unless a row may not see every key of the block and the
// block holds a non-finite value (RescaleOutput, then AddVisibleValues).
HWY_INLINE void AddBlockValues(ForwardScratch& s, int64_t k0, int64_t keys, const float* rescale) {
  const AttentionParams& p = *s.tile.p;
  const WorkItem& w = s.tile.item;
  const FloatRows v = ValueRowsOf(s.tile, k0, keys, s.v_rows);
  const bool partial = p.bool_mask || !key_block_fully_visible(p, w, k0, keys);
  if (partial && !ValuesFinite(v.data, v.row, v.col, keys, p.v_head_dim)) {
    if (rescale) RescaleOutput(s, s.tile.padded, p.v_head_dim);
    AddVisibleValues(s, v, k0, keys);
    return;
  }
  const int64_t padded = s.tile.padded;
  const GemmArgs gemm{.a = v.data,
                      .a_row = v.col,
                      .a_k = v.row,
                      .b = s.scores,
                      .b_row = padded,
                      .depth = keys,
                      .c = s.out_t,
                      .c_row = padded,
                      .accumulate = true,
                      .c_scale = rescale};
  TileGemm(gemm, p.v_head_dim, padded / static_cast<int64_t>(hn::Lanes(DF())));
}

// The whole flash forward of one work item.
HWY_INLINE void FlashForwardItem(const AttentionParams& p, const WorkItem& w, int64_t key_tile,
                                 ForwardScratch& s) {
  StartQueryTile(s.tile, p, w);
  const int64_t padded = s.tile.padded;
  std::fill(s.row_max, s.row_max + padded, kNegInf);
  std::fill(s.row_sum, s.row_sum + padded, 0.0f);
  std::fill(s.out_t, s.out_t + p.v_head_dim * padded, 0.0f);
  const DropoutTile dropout = MakeDropoutTile(p, w.batch, w.head);
  for (int64_t k0 = w.key_begin; k0 < w.key_end; k0 += key_tile) {
    const int64_t keys = std::min(key_tile, w.key_end - k0);
    ComputeScoreTile(s.tile, KeyRowsOf(s.tile, k0, keys, s.k_rows), k0, keys, s.scores);
    OnlineSoftmaxBlock(s, padded, keys);
    if (p.has_dropout()) {
      DropoutQueriesInLanes(dropout, w.q_begin, padded, k0, keys, 1.0f, s.scores);
    }
    AddBlockValues(s, k0, keys, k0 != w.key_begin ? s.rescale : nullptr);
  }
  WriteOutputRows(s, padded);
}

}  // namespace attn::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // ATTN_KERNELS_FLASH_FORWARD_INL_H_
