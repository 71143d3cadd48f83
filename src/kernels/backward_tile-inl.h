// Tile steps of the flash backward, per SIMD target: the scores with every option and the
// softcap's derivative, in both orientations, and the step P = exp(S − lse),
// dS = P ∘ (dP − Δ') ∘ softcap'.
//
// The scores are the forward's (score_tile-inl.h): the same products (scale·q_d)·k_d, the same
// softcap and ALiBi operations, but summed more exactly: chains of 16 terms over d
// (BackwardScoreChunk), added in order, where the forward runs one chain. Both orientations sum
// alike, so the two passes of the split plan see bitwise the same scores. P = exp(S − lse) is
// renormalised by its row sum (the saved lse is rounded anyway), so P is the softmax of the
// backward's own scores. Their error sets that of the gradients on rows that see a few keys at
// large D (docs/KERNELS.md): δs ≈ ε · scale · Σ_d |q_d k_d| for one chain, about half that in
// chains of 16 at D ≈ 240.
#if defined(ATTN_KERNELS_BACKWARD_TILE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ATTN_KERNELS_BACKWARD_TILE_INL_H_
#undef ATTN_KERNELS_BACKWARD_TILE_INL_H_
#else
#define ATTN_KERNELS_BACKWARD_TILE_INL_H_
#endif

#include <algorithm>
#include <cstdint>
#include <limits>

#include "attn/core/attention_params.h"
#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "kernels/exp-inl.h"
#include "kernels/score_tile-inl.h"
#include "kernels/tile_gemm-inl.h"
#include "kernels/tiling.h"

HWY_BEFORE_NAMESPACE();
namespace attn::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

constexpr float kPosInf = std::numeric_limits<float>::infinity();

// Terms per chain of the backward's score sums (GemmArgs::depth_chunk): about √D for the head
// dims of models. The forward keeps one chain: there the extra store and add per chain cost ~9%.
// With partial keys (a step of ring attention) a row's P cannot be renormalised, since its keys
// are spread over several calls, and P = exp(S − lse) needs the very scores lse came from: one
// chain, as in the forward.
HWY_INLINE int64_t BackwardScoreChunk(bool partial_keys) { return partial_keys ? 0 : 16; }

// The saved lse of a row, with −inf (no visible key) turned into +inf so that exp(s − lse) = 0
// for every s of that row instead of NaN.
HWY_INLINE float LseForProbs(float lse) { return lse == kNegInf ? kPosInf : lse; }

// Softcap on a row of n floats (n a multiple of the lanes): s = c · tanh(s / c), and
// grad = 1 − tanh²(s / c), its derivative. The forward's CapAndBiasRow operations, in order.
HWY_INLINE void SoftcapRow(float cap, int64_t n, float* row, float* grad) {
  const DF df;
  const size_t N = hn::Lanes(df);
  const VF c = hn::Set(df, cap), inv_c = hn::Set(df, 1.0f / cap), one = hn::Set(df, 1.0f);
  for (int64_t i = 0; i < n; i += N) {
    const VF th = hn::Tanh(df, hn::Mul(hn::Load(df, row + i), inv_c));
    hn::Store(hn::Mul(c, th), df, row + i);
    hn::Store(hn::NegMulAdd(th, th, one), df, grad + i);
  }
}

// ---------------------------------------------------------------- queries in lanes (dQ pass)

// Sᵀ[0 .. keys)[padded] of keys [k0, k0 + keys) (rows k) for the packed query tile t, every
// option applied: ComputeScoreTile, plus cap_grad = softcap'(t) [keys][padded] when the softcap
// is on.
HWY_INLINE void ScoresQueriesInLanes(const QueryTile& t, const FloatRows& k, int64_t k0,
                                     int64_t keys, int64_t depth_chunk, float* scores,
                                     float* cap_grad) {
  const AttentionParams& p = *t.p;
  ScoreGemm(t, k, keys, scores, depth_chunk);
  const DF df;
  const size_t N = hn::Lanes(df);
  for (int64_t j = 0; j < keys && (p.softcap > 0 || p.alibi_slopes); ++j) {
    float* row = scores + j * t.padded;
    if (p.softcap > 0) SoftcapRow(p.softcap, t.padded, row, cap_grad + j * t.padded);
    if (!p.alibi_slopes) continue;
    const VF slope = hn::Set(df, p.alibi_slopes[t.item.head]);
    const VF key = hn::Set(df, static_cast<float>(k0 + j));
    for (int64_t i = 0; i < t.padded; i += N) {
      const VF distance = hn::Abs(hn::Sub(hn::Load(df, t.position + i), key));
      hn::Store(hn::NegMulAdd(slope, distance, hn::Load(df, row + i)), df, row + i);
    }
  }
  if (p.additive_mask || p.bool_mask) ApplyElementMasks(t, k0, keys, scores);
  if (!key_block_fully_visible(p, t.item, k0, keys)) {
    for (int64_t j = 0; j < keys; ++j) MaskRangeRow(t, k0 + j, scores + j * t.padded);
  }
}

// ---------------------------------------------------------------- keys in lanes (dK/dV pass)

// A query tile seen from a key tile: rows are queries, the tile's keys are in the SIMD lanes.
struct KeysInLanesTile {
  const AttentionParams* p;
  int64_t batch;
  int64_t head;              // query head of the rows
  int64_t kv_head;           // the KV head it reads
  int64_t q_begin, q_count;  // query rows of the tile
  int64_t k_begin, k_count;  // keys of the key tile
  int64_t kp;                // k_count rounded up to whole vectors: the row length of the tiles
  const float* q_rows;       // scale · Q [q_count][D]
  const float* k_t;          // Kᵀ [D][kp], zero in the padding
};

// ALiBi on row r: s_j −= slope · |p_i − j| for the keys j of the lanes.
HWY_INLINE void AlibiRowKeysInLanes(const KeysInLanesTile& t, int64_t r, float* row) {
  const AttentionParams& p = *t.p;
  const DF df;
  const size_t N = hn::Lanes(df);
  const VF slope = hn::Set(df, p.alibi_slopes[t.head]);
  const VF position = hn::Set(df, static_cast<float>(t.q_begin + r + p.query_offset(t.batch)));
  VF key = hn::Iota(df, static_cast<float>(t.k_begin));
  for (int64_t j = 0; j < t.kp; j += N) {
    const VF distance = hn::Abs(hn::Sub(position, key));
    hn::Store(hn::NegMulAdd(slope, distance, hn::Load(df, row + j)), df, row + j);
    key = hn::Add(key, hn::Set(df, static_cast<float>(N)));
  }
}

// Row r: −inf outside the row's visible key range and in the padding lanes.
HWY_INLINE void MaskRangeRowKeysInLanes(const KeysInLanesTile& t, int64_t r, float* row) {
  const DF df;
  const hn::RebindToSigned<DF> di;
  const size_t N = hn::Lanes(df);
  const KeyRange range = visible_keys(*t.p, t.batch, t.q_begin + r);
  const auto begin = hn::Set(di, static_cast<int32_t>(range.begin));
  const auto end = hn::Set(di, static_cast<int32_t>(std::min(range.end, t.k_begin + t.k_count)));
  auto key = hn::Iota(di, static_cast<int32_t>(t.k_begin));
  for (int64_t j = 0; j < t.kp; j += N) {
    const auto visible = hn::AndNot(hn::Lt(key, begin), hn::Lt(key, end));
    const VF s = hn::Load(df, row + j);
    hn::Store(hn::IfThenElse(hn::RebindMask(df, visible), s, hn::Set(df, kNegInf)), df, row + j);
    key = hn::Add(key, hn::Set(di, static_cast<int32_t>(N)));
  }
}

// The bool and additive masks of the tile, element by element.
HWY_INLINE void ElementMasksKeysInLanes(const KeysInLanesTile& t, float* scores) {
  const AttentionParams& p = *t.p;
  for (int64_t r = 0; r < t.q_count; ++r) {
    float* row = scores + r * t.kp;
    const int64_t i = t.q_begin + r;
    for (int64_t j = 0; j < t.k_count; ++j) {
      if (p.additive_mask) {
        row[j] += p.additive_mask[p.additive_mask_stride.offset(t.batch, t.head, i, t.k_begin + j)];
      }
      if (p.bool_mask &&
          !p.bool_mask[p.bool_mask_stride.offset(t.batch, t.head, i, t.k_begin + j)]) {
        row[j] = kNegInf;
      }
    }
  }
}

// S[0 .. q_count)[kp] = (scale·Q) · Kᵀ with every option applied, and cap_grad = softcap'(t)
// [q_count][kp] when the softcap is on; depth_chunk as in GemmArgs. The padding lanes are masked.
HWY_INLINE void ScoresKeysInLanes(const KeysInLanesTile& t, int64_t depth_chunk, float* scores,
                                  float* cap_grad) {
  const AttentionParams& p = *t.p;
  const GemmArgs gemm{.a = t.q_rows,
                      .a_row = p.head_dim,
                      .a_k = 1,
                      .b = t.k_t,
                      .b_row = t.kp,
                      .depth = p.head_dim,
                      .c = scores,
                      .c_row = t.kp,
                      .accumulate = false,
                      .depth_chunk = depth_chunk};
  TileGemm(gemm, t.q_count, t.kp / static_cast<int64_t>(hn::Lanes(DF())));
  for (int64_t r = 0; r < t.q_count && (p.softcap > 0 || p.alibi_slopes); ++r) {
    if (p.softcap > 0) SoftcapRow(p.softcap, t.kp, scores + r * t.kp, cap_grad + r * t.kp);
    if (p.alibi_slopes) AlibiRowKeysInLanes(t, r, scores + r * t.kp);
  }
  if (p.additive_mask || p.bool_mask) ElementMasksKeysInLanes(t, scores);
  const WorkItem rows{t.batch, t.head, t.q_begin, t.q_count, 0, 0};
  if (t.k_count < t.kp || !key_block_fully_visible(p, rows, t.k_begin, t.k_count)) {
    for (int64_t r = 0; r < t.q_count; ++r) MaskRangeRowKeysInLanes(t, r, scores + r * t.kp);
  }
}

// ---------------------------------------------------------------- both orientations

// dP − Δ' of one vector with Δ' = Δ + c kept as the pair (Δ, c): (dP − Δ) − c. Δ' rounded to a
// float would carry an error of ε·|Δ'|, which reaches dS wherever dP ≈ Δ' (a key that holds
// most of a row's probability, where dS is a small difference of two large numbers); dP − Δ is
// exact there (the two are within a factor of 2 of each other) and the small c is then
// subtracted with an error of ε·|dP − Δ'| only.
HWY_INLINE VF ScoreGradFactor(DF df, const float* dprobs, VF delta, VF fix) {
  return hn::Sub(hn::Sub(hn::Load(df, dprobs), delta), fix);
}

// P and P ∘ (dP − Δ') of one vector of a tile (the latter before the softcap factor).
struct ProbAndGrad {
  VF prob;
  VF grad;
};

// One vector of a tile: P = exp(S − lse) · norm into scores, and dS = P ∘ ((dP − Δ) − c)
// [∘ cap_grad] into dprobs (which holds dP); cap_grad is null without softcap. Δ' = Δ + c is kept
// as the unevaluated pair (ScoreGradFactor). A masked score (−inf) gives P = 0 and dS = 0, also
// in a NaN row (whose lse and Δ are NaN): a key the row cannot see gets nothing from it, as in
// the reference.
HWY_INLINE ProbAndGrad ProbAndScoreGrad(VF lse, VF norm, VF delta, VF fix, const float* cap_grad,
                                        float* scores, float* dprobs) {
  const DF df;
  const VF score = hn::Load(df, scores);
  const auto masked = hn::Eq(score, hn::Set(df, kNegInf));
  const VF prob = hn::IfThenZeroElse(masked, hn::Mul(SoftmaxExp(df, hn::Sub(score, lse)), norm));
  const VF grad =
      hn::IfThenZeroElse(masked, hn::Mul(prob, ScoreGradFactor(df, dprobs, delta, fix)));
  hn::Store(prob, df, scores);
  hn::Store(cap_grad ? hn::IfThenZeroElse(masked, hn::Mul(grad, hn::Load(df, cap_grad))) : grad, df,
            dprobs);
  return {prob, grad};
}

// Phase 1 of the fused backward keeps a masked entry's probability as −0.0, which no
// exponential gives (they are +0 or more, or NaN), so that phase 2 still knows it is masked.
HWY_INLINE auto MaskedProbs(DF df, VF probs) {
  const hn::RebindToSigned<DF> di;
  const auto sign_only = hn::Set(di, static_cast<int32_t>(0x80000000u));
  return hn::RebindMask(df, hn::Eq(hn::BitCast(di, probs), sign_only));
}

}  // namespace attn::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // ATTN_KERNELS_BACKWARD_TILE_INL_H_
