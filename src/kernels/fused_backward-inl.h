// The fused plan of the flash backward, per SIMD target: one work item per (batch, KV head) owns
// dK and dV of the head's keys and dq of its group's query rows, so S and dP are computed once per
// tile: 5 tile GEMMs where the split plan (flash_backward-inl.h) has 7.
//
// The item packs Kᵀ, Vᵀ and K of every key tile of its head once, then visits the group's query
// tiles in order. A visit keeps P and dP of its rows for all the keys they see (O(query_tile·Lk)
// floats per thread, never O(Lq·Lk)), in two phases over the key tiles the rows may see:
//   phase 1: S  [q][key] = (scale·Q) · Kᵀ             A = scale·Q rows, B = Kᵀ
//            dP [q][key] = dO · Vᵀ                    A = dO rows,      B = Vᵀ
//            P = exp(S − lse), and per row Σ_j P_j and Σ_j P_j (dP_j − Δ)
//   then per row norm = 1 / Σ_j P_j and Δ' = Δ + norm · Σ_j P_j (dP_j − Δ): the two corrections
//   of the split plan (file comment of flash_backward-inl.h), known here before any dS is used;
//   phase 2: P ← P · norm, dS = P ∘ (dP − Δ') [∘ softcap'],
//            dVᵀ[c][key] += Σ_q dO[q][c] · P[q][key]        A = dO columns, B = P
//            dKᵀ[d][key] += Σ_q scale·Q[q][d] · dS[q][key]  A = Q columns,  B = dS
//            dQ [q][d]   += Σ_key dS[q][key] · K[key][d]    A = dS rows,    B = K rows
// dq of the visited rows is complete after phase 2; dK and dV after the item's last visit. Every
// sum runs in a fixed order inside one item, so the result is the same for any thread count.
#if defined(ATTN_KERNELS_FUSED_BACKWARD_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ATTN_KERNELS_FUSED_BACKWARD_INL_H_
#undef ATTN_KERNELS_FUSED_BACKWARD_INL_H_
#else
#define ATTN_KERNELS_FUSED_BACKWARD_INL_H_
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "attn/kernels/attention.h"
#include "hwy/highway.h"
#include "kernels/backward_tile-inl.h"
#include "kernels/backward_tiling.h"
#include "kernels/dropout_mask-inl.h"
#include "kernels/flash_backward-inl.h"
#include "kernels/score_tile-inl.h"
#include "kernels/tile_gemm-inl.h"

HWY_BEFORE_NAMESPACE();
namespace attn::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Sizes of the per-key-tile slices and of the per-visit arrays, in floats.
struct FusedLayout {
  int64_t tiles, kt, dp, key_slice, visit_slice, rows, head_dim;

  FusedLayout(const AttentionParams& p, const BackwardTileSizes& sizes)
      : tiles((p.kv_len + sizes.key_tile - 1) / sizes.key_tile),
        kt(PaddedRows(sizes.key_tile)),
        dp(PaddedRows(p.head_dim)),
        key_slice(RoundUp16(kt * (2 * p.head_dim + 2 * p.v_head_dim) + kt * dp)),
        visit_slice(RoundUp16(3 * sizes.query_tile * kt)),
        rows(sizes.query_tile),
        head_dim(p.head_dim) {}

  // The whole scratch of one thread.
  int64_t floats() const {
    return tiles * (key_slice + visit_slice) + RoundUp16(rows * head_dim) + RoundUp16(rows * dp) +
           3 * RoundUp16(rows) + tile_list_floats();
  }

  // The list of key tiles, in floats: it lives in the scratch, so that an item allocates nothing.
  int64_t tile_list_floats() const {
    return RoundUp16(tiles * static_cast<int64_t>(sizeof(KeyWorkItem) / sizeof(float)));
  }
};

// Per-thread working memory of one fused item. "Per key tile" arrays hold one slice of the
// given shape per key tile of the head, kt = the key tile padded to whole vectors.
struct FusedScratch {
  FusedLayout layout;  // kt: floats per row of a key tile's slices; dp: D in whole vectors
  float* k_t;          // Kᵀ per key tile [D][kt]
  float* v_t;          // Vᵀ per key tile [Dv][kt]
  float* k_rows;       // K per key tile [kt][dp], zero in the padding
  float* dk_t;         // dKᵀ accumulators per key tile [D][kt]
  float* dv_t;         // dVᵀ accumulators per key tile [Dv][kt]
  float* probs;        // P of the visited rows per key tile [query_tile][kt]
  float* dprobs;       // dP, then dS, of the visited rows per key tile [query_tile][kt]
  float* cap_grad;     // softcap' per key tile [query_tile][kt]
  float* q_rows;       // scale · Q of the visited rows [query_tile][D]
  float* dq;           // dQ accumulator of the visited rows [query_tile][dp]
  float* row_sum;      // Σ_j P_j of each visited row [query_tile]
  float* defect;       // Σ_j P_j (dP_j − Δ) of each visited row [query_tile]
  float* delta;        // Δ, then Δ', of each visited row [query_tile]
  KeyWorkItem* tiles;  // the head's key tiles and the query rows that see each [tiles]

  // Key tile `tile`'s slice of a per-key-tile array (key_slice) or of a visit array.
  float* KeySlice(float* slice0, int64_t tile) const { return slice0 + tile * layout.key_slice; }
  float* VisitSlice(float* slice0, int64_t tile) const {
    return slice0 + tile * layout.visit_slice;
  }
};

HWY_INLINE int64_t FusedScratchFloats(const AttentionParams& p, const BackwardTileSizes& sizes) {
  return FusedLayout(p, sizes).floats();
}

// The arrays of FusedScratch, slice 0 of each; the slice of key tile τ is at τ · key_slice (key
// arrays) or τ · visit_slice (visit arrays) from it.
HWY_INLINE FusedScratch CarveFusedScratch(float* base, const AttentionParams& p,
                                          const BackwardTileSizes& sizes) {
  const FusedLayout l(p, sizes);
  const int64_t D = p.head_dim, Dv = p.v_head_dim, rows = sizes.query_tile;
  FusedScratch s{l};
  s.k_t = base;
  s.v_t = s.k_t + D * l.kt;
  s.dk_t = s.v_t + Dv * l.kt;
  s.dv_t = s.dk_t + D * l.kt;
  s.k_rows = s.dv_t + Dv * l.kt;
  s.probs = base + l.tiles * l.key_slice;
  s.dprobs = s.probs + rows * l.kt;
  s.cap_grad = s.dprobs + rows * l.kt;
  s.q_rows = s.probs + l.tiles * l.visit_slice;
  s.dq = s.q_rows + RoundUp16(rows * D);
  s.row_sum = s.dq + RoundUp16(rows * l.dp);
  s.defect = s.row_sum + RoundUp16(rows);
  s.delta = s.defect + RoundUp16(rows);
  s.tiles = reinterpret_cast<KeyWorkItem*>(s.delta + RoundUp16(rows));
  return s;
}

// The visited query rows of one fused item: [q0, q0 + rows) of query head h.
struct FusedVisit {
  int64_t head, q0, rows;
};

// dst[j][d] = K row (k_begin + j) column d, zero in the padding of both.
HWY_INLINE void PackKeyRows(const AttentionParams& p, const KeyWorkItem& w, int64_t kt, int64_t dp,
                            float* dst) {
  std::fill(dst, dst + kt * dp, 0.0f);
  for (int64_t j = 0; j < w.k_count; ++j) {
    const float* k = p.k + p.k_stride.offset(w.batch, w.kv_head, w.k_begin + j, 0);
    for (int64_t d = 0; d < p.head_dim; ++d) dst[j * dp + d] = k[d * p.k_stride.col];
  }
}

// Every key tile of (b, kvh): the query rows that see it, Kᵀ, Vᵀ and K packed, dKᵀ and dVᵀ zeroed.
HWY_INLINE void PackFusedKeys(const AttentionParams& p, const BackwardTileSizes& sizes, int64_t b,
                              int64_t kvh, FusedScratch& s) {
  for (int64_t tile = 0; tile < s.layout.tiles; ++tile) {
    const int64_t k0 = tile * sizes.key_tile, count = std::min(sizes.key_tile, p.kv_len - k0);
    const RowRange rows = queries_seeing(p, b, k0, k0 + count);
    s.tiles[tile] = {b, kvh, k0, count, rows.begin, rows.end};
    const KeyWorkItem& w = s.tiles[tile];
    const int64_t kp = PaddedRows(count);
    PackTransposed(p.k + p.k_stride.offset(b, kvh, k0, 0), p.k_stride.row, p.k_stride.col,
                   p.head_dim, count, kp, s.KeySlice(s.k_t, tile));
    PackTransposed(p.v + p.v_stride.offset(b, kvh, k0, 0), p.v_stride.row, p.v_stride.col,
                   p.v_head_dim, count, kp, s.KeySlice(s.v_t, tile));
    PackKeyRows(p, w, kp, s.layout.dp, s.KeySlice(s.k_rows, tile));
    std::fill_n(s.KeySlice(s.dk_t, tile), p.head_dim * kp, 0.0f);
    std::fill_n(s.KeySlice(s.dv_t, tile), p.v_head_dim * kp, 0.0f);
  }
}

// Whether the visited rows may see a key of the tile.
HWY_INLINE bool VisitSeesTile(const FusedVisit& v, const KeyWorkItem& w) {
  return v.q0 < w.q_end && v.q0 + v.rows > w.q_begin;
}

// The visit's scale·Q rows and each row's Δ = Σ_c dO_c · O_c (fused multiply-adds over c in
// order, like the dP GEMM); the row sums start at 0.
HWY_INLINE void StartVisit(const BackwardArgs& a, int64_t b, const FusedVisit& v, FusedScratch& s) {
  const AttentionParams& p = *a.p;
  const AttentionGrads& g = *a.g;
  const float scale = p.effective_scale();
  for (int64_t r = 0; r < v.rows; ++r) {
    const float* q = p.q + p.q_stride.offset(b, v.head, v.q0 + r, 0);
    for (int64_t d = 0; d < p.head_dim; ++d)
      s.q_rows[r * p.head_dim + d] = q[d * p.q_stride.col] * scale;
    const float* o = p.out + p.out_stride.offset(b, v.head, v.q0 + r, 0);
    const float* dout = g.dout + g.dout_stride.offset(b, v.head, v.q0 + r, 0);
    float delta = 0.0f;
    for (int64_t c = 0; c < p.v_head_dim; ++c) {
      delta = std::fma(o[c * p.out_stride.col], dout[c * g.dout_stride.col], delta);
    }
    s.delta[r] = delta;
    s.row_sum[r] = 0.0f;
    s.defect[r] = 0.0f;
  }
  std::fill_n(s.dq, v.rows * s.layout.dp, 0.0f);
}

// A visit's slices on key tile `tile` (w), and the tile's dropout lane hashes.
struct VisitTile {
  int64_t kp;       // the tile's keys padded to whole vectors: the slices' row length
  float* probs;     // S, then P [rows][kp]
  float* dprobs;    // dP, then dS [rows][kp]
  float* cap_grad;  // softcap' [rows][kp]
  DropoutTile drop;
  alignas(64) uint32_t key_hash[kMaxDropoutLanes];

  VisitTile(const AttentionParams& p, int64_t tile, const KeyWorkItem& w, int64_t head,
            FusedScratch& s)
      : kp(PaddedRows(w.k_count)),
        probs(s.VisitSlice(s.probs, tile)),
        dprobs(s.VisitSlice(s.dprobs, tile)),
        cap_grad(s.VisitSlice(s.cap_grad, tile)),
        drop(MakeDropoutTile(p, w.batch, head)) {
    if (p.has_dropout()) DropoutLaneHashes(drop.keys, false, w.k_begin, kp, key_hash);
  }

  // Row `row` (kp floats) of query q: dropped entries zeroed, kept ones times `factor`.
  void Dropout(int64_t q, float factor, float* row) const {
    DropoutRow(key_hash, dropout_row_hash(drop.keys, q), drop.threshold, factor, kp, row);
  }
};

// Phase 1 on key tile `tile` (w): S and dP (masked and scaled with dropout), P = exp(S − lse)
// stored over S, and the rows' sums of P and of P ∘ (dP − Δ) grow.
HWY_INLINE void FusedPhase1(const BackwardArgs& a, int64_t tile, const KeyWorkItem& w,
                            const FusedVisit& v, FusedScratch& s) {
  const AttentionParams& p = *a.p;
  const AttentionGrads& g = *a.g;
  const VisitTile vt(p, tile, w, v.head, s);
  const int64_t kp = vt.kp;
  float* probs = vt.probs;
  float* dprobs = vt.dprobs;
  const KeysInLanesTile t{&p,
                          w.batch,
                          v.head,
                          w.kv_head,
                          v.q0,
                          v.rows,
                          w.k_begin,
                          w.k_count,
                          kp,
                          s.q_rows,
                          s.KeySlice(s.k_t, tile)};
  ScoresKeysInLanes(t, probs, vt.cap_grad);
  const Strides4& ds = g.dout_stride;
  TileGemm({g.dout + ds.offset(w.batch, v.head, v.q0, 0), ds.row, ds.col, s.KeySlice(s.v_t, tile),
            kp, p.v_head_dim, dprobs, kp, false},
           v.rows, kp / static_cast<int64_t>(hn::Lanes(DF())));
  const DF df;
  const size_t N = hn::Lanes(df);
  for (int64_t r = 0; r < v.rows; ++r) {
    if (p.has_dropout()) vt.Dropout(v.q0 + r, vt.drop.factor, dprobs + r * kp);
    const VF lse = hn::Set(df, LseOf(p, w.batch, v.head, v.q0 + r));
    const VF delta = hn::Set(df, s.delta[r]);
    VF sum = hn::Zero(df), defect = hn::Zero(df);
    for (int64_t j = 0; j < kp; j += N) {
      const int64_t at = r * kp + j;
      const VF prob = SoftmaxExp(df, hn::Sub(hn::Load(df, probs + at), lse));
      hn::Store(prob, df, probs + at);
      sum = hn::Add(sum, prob);
      defect = hn::Add(defect, hn::Mul(prob, hn::Sub(hn::Load(df, dprobs + at), delta)));
    }
    s.row_sum[r] += hn::GetLane(hn::SumOfLanes(df, sum));
    s.defect[r] += hn::GetLane(hn::SumOfLanes(df, defect));
  }
}

// Between the phases: row_sum becomes the norm 1 / Σ_j P_j (0 for a row that sees no key) and
// delta becomes Δ' = Δ + norm · Σ_j P_j (dP_j − Δ); with partial keys, norm 1 and Δ as it is.
HWY_INLINE void FinishRowTerms(const AttentionGrads& g, const FusedVisit& v, FusedScratch& s) {
  for (int64_t r = 0; r < v.rows; ++r) {
    if (g.partial_keys) {
      s.row_sum[r] = 1.0f;
      continue;
    }
    const float norm = s.row_sum[r] > 0.0f ? 1.0f / s.row_sum[r] : 0.0f;
    s.row_sum[r] = norm;
    s.delta[r] += s.defect[r] * norm;
  }
}

// The element-wise step of phase 2 on a visit's tile: P · norm and dS = P ∘ (dP − Δ')
// [∘ softcap']; with dropout the dropped entries of P are zeroed after dS (dV sees the dropped
// P; 1/(1 − p) is applied when dv is written).
HWY_INLINE void NormalisedProbsAndScoreGrads(const AttentionParams& p, const FusedVisit& v,
                                             const FusedScratch& s, const VisitTile& vt) {
  const DF df;
  const size_t N = hn::Lanes(df);
  for (int64_t r = 0; r < v.rows; ++r) {
    const VF norm = hn::Set(df, s.row_sum[r]), delta = hn::Set(df, s.delta[r]);
    for (int64_t j = 0; j < vt.kp; j += N) {
      const int64_t at = r * vt.kp + j;
      const VF prob = hn::Mul(hn::Load(df, vt.probs + at), norm);
      VF grad = hn::Mul(prob, hn::Sub(hn::Load(df, vt.dprobs + at), delta));
      if (p.softcap > 0) grad = hn::Mul(grad, hn::Load(df, vt.cap_grad + at));
      hn::Store(grad, df, vt.dprobs + at);
      hn::Store(prob, df, vt.probs + at);
    }
    if (p.has_dropout()) vt.Dropout(v.q0 + r, 1.0f, vt.probs + r * vt.kp);
  }
}

// Phase 2 on key tile `tile` (w): P · norm and dS, then dVᵀ, dKᵀ and dQ grow.
HWY_INLINE void FusedPhase2(const BackwardArgs& a, int64_t tile, const KeyWorkItem& w,
                            const FusedVisit& v, FusedScratch& s) {
  const AttentionParams& p = *a.p;
  const VisitTile vt(p, tile, w, v.head, s);
  NormalisedProbsAndScoreGrads(p, v, s, vt);
  const int64_t kp = vt.kp, N = static_cast<int64_t>(hn::Lanes(DF()));
  const float* probs = vt.probs;
  const float* dprobs = vt.dprobs;
  const Strides4& ds = a.g->dout_stride;
  const int64_t vecs = kp / N;
  TileGemm({a.g->dout + ds.offset(w.batch, v.head, v.q0, 0), ds.col, ds.row, probs, kp, v.rows,
            s.KeySlice(s.dv_t, tile), kp, true},
           p.v_head_dim, vecs);
  TileGemm({s.q_rows, 1, p.head_dim, dprobs, kp, v.rows, s.KeySlice(s.dk_t, tile), kp, true},
           p.head_dim, vecs);
  TileGemm(
      {dprobs, kp, 1, s.KeySlice(s.k_rows, tile), s.layout.dp, w.k_count, s.dq, s.layout.dp, true},
      v.rows, s.layout.dp / N);
}

// One visit: both phases over the key tiles the rows may see, then dq of the rows written.
HWY_INLINE void FusedVisitGradients(const BackwardArgs& a, int64_t b, const FusedVisit& v,
                                    FusedScratch& s) {
  const AttentionParams& p = *a.p;
  const AttentionGrads& g = *a.g;
  StartVisit(a, b, v, s);
  for (int64_t tile = 0; tile < s.layout.tiles; ++tile) {
    if (VisitSeesTile(v, s.tiles[tile])) FusedPhase1(a, tile, s.tiles[tile], v, s);
  }
  FinishRowTerms(g, v, s);
  for (int64_t tile = 0; tile < s.layout.tiles; ++tile) {
    if (VisitSeesTile(v, s.tiles[tile])) FusedPhase2(a, tile, s.tiles[tile], v, s);
  }
  const float scale = p.effective_scale();
  for (int64_t r = 0; r < v.rows; ++r) {
    float* dq = g.dq + g.dq_stride.offset(b, v.head, v.q0 + r, 0);
    for (int64_t d = 0; d < p.head_dim; ++d)
      dq[d * g.dq_stride.col] = s.dq[r * s.layout.dp + d] * scale;
  }
}

// The whole backward of (b, kvh): every query tile of every query head of the group, in order;
// then dk and dv of every key tile.
HWY_INLINE void FusedWorkItemGradients(const BackwardArgs& a, int64_t b, int64_t kvh,
                                       const BackwardTileSizes& sizes, FusedScratch& s) {
  const AttentionParams& p = *a.p;
  PackFusedKeys(p, sizes, b, kvh, s);
  const int64_t group = p.group_size();
  for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h) {
    for (int64_t q0 = 0; q0 < p.q_len; q0 += sizes.query_tile) {
      FusedVisitGradients(a, b, {h, q0, std::min(sizes.query_tile, p.q_len - q0)}, s);
    }
  }
  for (int64_t tile = 0; tile < s.layout.tiles; ++tile) {
    KeyScratch tile_sums;
    tile_sums.dk_t = s.KeySlice(s.dk_t, tile);
    tile_sums.dv_t = s.KeySlice(s.dv_t, tile);
    WriteKeyGradients(p, *a.g, s.tiles[tile], tile_sums);
  }
}

}  // namespace attn::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // ATTN_KERNELS_FUSED_BACKWARD_INL_H_
