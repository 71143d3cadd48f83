// The scores of one (query tile, key block), per SIMD target: Sᵀ[key][query] with the queries in
// the SIMD lanes, every option of AttentionParams applied. Shared by the flash forward and the
// attention-weights recomputation, so both see exactly the same scores.
#if defined(ATTN_KERNELS_SCORE_TILE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ATTN_KERNELS_SCORE_TILE_INL_H_
#undef ATTN_KERNELS_SCORE_TILE_INL_H_
#else
#define ATTN_KERNELS_SCORE_TILE_INL_H_
#endif

#include <cmath>
#include <limits>

#include "attn/core/attention_params.h"
#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "kernels/input_rows-inl.h"
#include "kernels/scratch_arena.h"
#include "kernels/tile_gemm-inl.h"
#include "kernels/tiling.h"

HWY_BEFORE_NAMESPACE();
namespace attn::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// One query tile of one (batch, head): its geometry and its packed queries.
struct QueryTile {
  const AttentionParams* p;
  WorkItem item;       // the tile's batch, query head, rows and the keys they may see
  int64_t kv_head;     // the KV head the query head reads
  int64_t padded;      // q_count rounded up to whole vectors: the row length of packed tiles
  float* q_packed;     // Qᵀ[d][padded] · scale, zero in the padding
  int32_t* key_begin;  // [padded] first visible key of each row (causal window, key length)
  int32_t* key_end;    // [padded] one past the last visible key
  float* position;     // [padded] p_i, the row's position among the keys (for ALiBi)
};

// Number of floats a packed row of `rows` queries takes.
HWY_INLINE int64_t PaddedRows(int64_t rows) {
  const int64_t n = static_cast<int64_t>(hn::Lanes(DF()));
  return (rows + n - 1) / n * n;
}

// The tile's arrays for query tiles of up to `padded` rows (PaddedRows) and head dim d.
HWY_INLINE void CarveQueryTile(ScratchArena& a, int64_t padded, int64_t d, QueryTile& t) {
  t.q_packed = a.take<float>(d * padded);
  t.key_begin = a.take<int32_t>(padded);
  t.key_end = a.take<int32_t>(padded);
  t.position = a.take<float>(padded);
}

// Fills the tile's packed queries, visible ranges and positions. Padding lanes see no key.
HWY_INLINE void PackQueryTile(QueryTile& t) {
  const AttentionParams& p = *t.p;
  const WorkItem& w = t.item;
  const float scale = p.effective_scale();
  const InputTensor q = QueryInput(p);
  for (int64_t d = 0; d < p.head_dim; ++d) {
    float* row = t.q_packed + d * t.padded;
    for (int64_t i = 0; i < w.q_count; ++i)
      row[i] = q.at(w.batch, w.head, w.q_begin + i, d) * scale;
    for (int64_t i = w.q_count; i < t.padded; ++i) row[i] = 0.0f;
  }
  const int64_t offset = p.query_offset(w.batch);
  for (int64_t i = 0; i < t.padded; ++i) {
    const bool real = i < w.q_count;
    const KeyRange range = real ? visible_keys(p, w.batch, w.q_begin + i) : KeyRange{0, 0};
    t.key_begin[i] = static_cast<int32_t>(range.begin);
    t.key_end[i] = static_cast<int32_t>(range.end);
    t.position[i] = static_cast<float>(w.q_begin + i + offset);
  }
}

// Points t at work item w of p and packs its queries; t's buffers must be set already.
HWY_INLINE void StartQueryTile(QueryTile& t, const AttentionParams& p, const WorkItem& w) {
  t.p = &p;
  t.item = w;
  t.kv_head = p.kv_head_of(w.head);
  t.padded = PaddedRows(w.q_count);
  PackQueryTile(t);
}

// The rows of keys [k0, k0 + keys) of the tile's KV head; buffer: see RowsOf.
HWY_INLINE FloatRows KeyRowsOf(const QueryTile& t, int64_t k0, int64_t keys, float* buffer) {
  return RowsOf(KeyInput(*t.p), t.item.batch, t.kv_head, k0, keys, t.p->head_dim, buffer);
}

// The rows of values [k0, k0 + keys) of the tile's KV head; buffer: see RowsOf.
HWY_INLINE FloatRows ValueRowsOf(const QueryTile& t, int64_t k0, int64_t keys, float* buffer) {
  return RowsOf(ValueInput(*t.p), t.item.batch, t.kv_head, k0, keys, t.p->v_head_dim, buffer);
}

// Softcap and ALiBi on one row (key j) of the score tile, vectorised over the queries.
HWY_INLINE void CapAndBiasRow(const QueryTile& t, int64_t j, float* row) {
  const AttentionParams& p = *t.p;
  const DF df;
  const size_t N = hn::Lanes(df);
  const float cap = p.softcap;
  const bool alibi = p.alibi_slopes != nullptr;
  const auto slope = hn::Set(df, alibi ? p.alibi_slopes[t.item.head] : 0.0f);
  const auto key = hn::Set(df, static_cast<float>(j));
  for (int64_t i = 0; i < t.padded; i += N) {
    auto s = hn::Load(df, row + i);
    if (cap > 0) s = hn::Mul(hn::Set(df, cap), hn::Tanh(df, hn::Mul(s, hn::Set(df, 1.0f / cap))));
    if (alibi) s = hn::NegMulAdd(slope, hn::Abs(hn::Sub(hn::Load(df, t.position + i), key)), s);
    hn::Store(s, df, row + i);
  }
}

// Masks scores outside each row's visible key range (causal window, key length).
HWY_INLINE void MaskRangeRow(const QueryTile& t, int64_t j, float* row) {
  const DF df;
  const hn::RebindToSigned<DF> di;
  const size_t N = hn::Lanes(df);
  const auto key = hn::Set(di, static_cast<int32_t>(j));
  for (int64_t i = 0; i < t.padded; i += N) {
    const auto visible = hn::AndNot(hn::Lt(key, hn::Load(di, t.key_begin + i)),
                                    hn::Lt(key, hn::Load(di, t.key_end + i)));
    const auto s = hn::Load(df, row + i);
    hn::Store(hn::IfThenElse(hn::RebindMask(df, visible), s, hn::Set(df, kNegInf)), df, row + i);
  }
}

// The bool and additive masks, element by element (they may have any broadcast strides).
HWY_INLINE void ApplyElementMasks(const QueryTile& t, int64_t k0, int64_t keys, float* scores) {
  const AttentionParams& p = *t.p;
  const WorkItem& w = t.item;
  for (int64_t j = 0; j < keys; ++j) {
    float* row = scores + j * t.padded;
    for (int64_t i = 0; i < w.q_count; ++i) {
      if (p.additive_mask) {
        row[i] +=
            p.additive_mask[p.additive_mask_stride.offset(w.batch, w.head, w.q_begin + i, k0 + j)];
      }
      if (p.bool_mask &&
          !p.bool_mask[p.bool_mask_stride.offset(w.batch, w.head, w.q_begin + i, k0 + j)]) {
        row[i] = kNegInf;
      }
    }
  }
}

// scores = Sᵀ[0 .. keys)[padded] = K · (scale·Q)ᵀ for the `keys` key rows k, no option applied;
// depth_chunk as in GemmArgs.
HWY_INLINE void ScoreGemm(const QueryTile& t, const FloatRows& k, int64_t keys, float* scores,
                          int64_t depth_chunk = 0) {
  const GemmArgs gemm{.a = k.data,
                      .a_row = k.row,
                      .a_k = k.col,
                      .b = t.q_packed,
                      .b_row = t.padded,
                      .depth = t.p->head_dim,
                      .c = scores,
                      .c_row = t.padded,
                      .accumulate = false,
                      .depth_chunk = depth_chunk};
  TileGemm(gemm, keys, t.padded / static_cast<int64_t>(hn::Lanes(DF())));
}

// scores = Sᵀ[0 .. keys)[padded] for keys [k0, k0 + keys), whose rows are k (KeyRowsOf), with
// every option applied.
HWY_INLINE void ComputeScoreTile(const QueryTile& t, const FloatRows& k, int64_t k0, int64_t keys,
                                 float* scores) {
  const AttentionParams& p = *t.p;
  ScoreGemm(t, k, keys, scores);
  if (p.softcap > 0 || p.alibi_slopes) {
    for (int64_t j = 0; j < keys; ++j) CapAndBiasRow(t, k0 + j, scores + j * t.padded);
  }
  if (p.additive_mask || p.bool_mask) ApplyElementMasks(t, k0, keys, scores);
  if (!key_block_fully_visible(p, t.item, k0, keys)) {
    for (int64_t j = 0; j < keys; ++j) MaskRangeRow(t, k0 + j, scores + j * t.padded);
  }
}

}  // namespace attn::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // ATTN_KERNELS_SCORE_TILE_INL_H_
