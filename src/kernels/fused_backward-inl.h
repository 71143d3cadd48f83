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
//   then per row norm = 1 / Σ_j P_j and c = norm · Σ_j P_j (dP_j − Δ), Δ' = Δ + c: the two
//   corrections of the split plan (file comment of flash_backward-inl.h), known here before any
//   dS is used;
//   phase 2: P ← P · norm, dS = P ∘ ((dP − Δ) − c) [∘ softcap'],
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
#include "kernels/scratch_arena.h"
#include "kernels/tile_gemm-inl.h"

HWY_BEFORE_NAMESPACE();
namespace attn::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// One key tile's slice of the per-key-tile arrays, kt = the key tile padded to whole vectors.
struct FusedKeySlice {
  float* k_t;     // Kᵀ [D][kt]
  float* v_t;     // Vᵀ [Dv][kt]
  float* dk_t;    // dKᵀ accumulator [D][kt]
  float* dv_t;    // dVᵀ accumulator [Dv][kt]
  float* k_rows;  // K [kt][dp], zero in the padding (dp = D in whole vectors)
};

// One key tile's slice of the visited rows' arrays.
struct FusedVisitSlice {
  float* probs;     // S, then P [query_tile][kt]
  float* dprobs;    // dP, then dS [query_tile][kt]
  float* cap_grad;  // softcap' [query_tile][kt]
};

HWY_INLINE FusedKeySlice CarveFusedKeySlice(ScratchArena& a, int64_t d, int64_t dv, int64_t kt,
                                            int64_t dp) {
  return {.k_t = a.take<float>(d * kt),
          .v_t = a.take<float>(dv * kt),
          .dk_t = a.take<float>(d * kt),
          .dv_t = a.take<float>(dv * kt),
          .k_rows = a.take<float>(kt * dp)};
}

HWY_INLINE FusedVisitSlice CarveFusedVisitSlice(ScratchArena& a, int64_t rows, int64_t kt) {
  return {.probs = a.take<float>(rows * kt),
          .dprobs = a.take<float>(rows * kt),
          .cap_grad = a.take<float>(rows * kt)};
}

// Per-thread working memory of one fused item: the slices of every key tile of the head (those
// of tile τ are τ · key_slice or τ · visit_slice floats after those of tile 0), and the arrays
// of the visited rows.
struct FusedScratch {
  int64_t tiles;           // key tiles of the head
  int64_t dp;              // D padded to whole vectors: the row length of k_rows and dq
  int64_t key_slice;       // floats from one key tile's FusedKeySlice to the next
  int64_t visit_slice;     // floats from one key tile's FusedVisitSlice to the next
  FusedKeySlice keys;      // key tile 0's
  FusedVisitSlice visit;   // key tile 0's
  float* q_rows;           // scale · Q of the visited rows [query_tile][D]
  float* dq;               // dQ accumulator of the visited rows [query_tile][dp]
  float* row_sum;          // Σ_j P_j of each visited row [query_tile]
  float* defect;           // Σ_j P_j (dP_j − Δ), then c = norm · that, of each visited row
  float* delta;            // Δ of each visited row [query_tile]; Δ' = Δ + c
  KeyWorkItem* key_tiles;  // the head's key tiles and the query rows that see each [tiles]
  // bf16/f16 inputs only (else null): K or V rows of a key tile [key_tile][max(D, Dv)] as floats
  // while they are packed, and dO of the visited rows [query_tile][Dv].
  float* widened_keys;
  float* dout_rows;
  FloatRows dout;  // dO of the visited rows: at dout_rows, or a view of g.dout

  FusedKeySlice KeySlice(int64_t tile) const {
    const int64_t at = tile * key_slice;
    return {keys.k_t + at, keys.v_t + at, keys.dk_t + at, keys.dv_t + at, keys.k_rows + at};
  }
  FusedVisitSlice VisitSlice(int64_t tile) const {
    const int64_t at = tile * visit_slice;
    return {visit.probs + at, visit.dprobs + at, visit.cap_grad + at};
  }
};

// One thread's FusedScratch for p's shapes: every key tile's FusedKeySlice, then every key
// tile's FusedVisitSlice, then the visit's rows and the list of key tiles (in the scratch, so
// that an item allocates nothing).
HWY_INLINE FusedScratch CarveFusedScratch(ScratchArena& a, const AttentionParams& p,
                                          const BackwardTileSizes& sizes) {
  const int64_t D = p.head_dim, Dv = p.v_head_dim, rows = sizes.query_tile;
  const int64_t tiles = (p.kv_len + sizes.key_tile - 1) / sizes.key_tile;
  const int64_t kt = PaddedRows(sizes.key_tile), dp = PaddedRows(D);
  const auto key_slice = [&](ScratchArena& s) { return CarveFusedKeySlice(s, D, Dv, kt, dp); };
  const auto visit_slice = [&](ScratchArena& s) { return CarveFusedVisitSlice(s, rows, kt); };
  const int64_t key_bytes = ScratchBytes(key_slice), visit_bytes = ScratchBytes(visit_slice);
  ScratchArena key_slices(a.take<std::byte>(tiles * key_bytes), tiles * key_bytes);
  ScratchArena visit_slices(a.take<std::byte>(tiles * visit_bytes), tiles * visit_bytes);
  constexpr int64_t kFloat = sizeof(float);
  return {.tiles = tiles,
          .dp = dp,
          .key_slice = key_bytes / kFloat,
          .visit_slice = visit_bytes / kFloat,
          .keys = key_slice(key_slices),
          .visit = visit_slice(visit_slices),
          .q_rows = a.take<float>(rows * D),
          .dq = a.take<float>(rows * dp),
          .row_sum = a.take<float>(rows),
          .defect = a.take<float>(rows),
          .delta = a.take<float>(rows),
          .key_tiles = a.take<KeyWorkItem>(tiles),
          .widened_keys = CarveKeyOrValueRows(a, p, sizes.key_tile),
          .dout_rows = CarveRowsBuffer(a, p.input_type, rows, Dv),
          .dout = {}};
}

// The visited query rows of one fused item: [q0, q0 + rows) of query head h.
struct FusedVisit {
  int64_t head, q0, rows;
};

// dst[j][d] = k[j][d] for the tile's `count` keys and D columns, zero in the padding of both.
HWY_INLINE void PackKeyRows(const FloatRows& k, int64_t count, int64_t d_count, int64_t kt,
                            int64_t dp, float* dst) {
  std::fill(dst, dst + kt * dp, 0.0f);
  for (int64_t j = 0; j < count; ++j) {
    for (int64_t d = 0; d < d_count; ++d) dst[j * dp + d] = k.data[j * k.row + d * k.col];
  }
}

// Every key tile of (b, kvh): the query rows that see it, Kᵀ, Vᵀ and K packed, dKᵀ and dVᵀ zeroed.
HWY_INLINE void PackFusedKeys(const AttentionParams& p, const BackwardTileSizes& sizes, int64_t b,
                              int64_t kvh, FusedScratch& s) {
  for (int64_t tile = 0; tile < s.tiles; ++tile) {
    const int64_t k0 = tile * sizes.key_tile, count = std::min(sizes.key_tile, p.kv_len - k0);
    const RowRange rows = queries_seeing(p, b, k0, k0 + count);
    s.key_tiles[tile] = {.batch = b,
                         .kv_head = kvh,
                         .k_begin = k0,
                         .k_count = count,
                         .q_begin = rows.begin,
                         .q_end = rows.end};
    const int64_t kp = PaddedRows(count);
    const FusedKeySlice slice = s.KeySlice(tile);
    const FloatRows k = RowsOf(KeyInput(p), b, kvh, k0, count, p.head_dim, s.widened_keys);
    PackTransposed(k, p.head_dim, count, kp, slice.k_t);
    PackKeyRows(k, count, p.head_dim, kp, s.dp, slice.k_rows);
    const FloatRows v = RowsOf(ValueInput(p), b, kvh, k0, count, p.v_head_dim, s.widened_keys);
    PackTransposed(v, p.v_head_dim, count, kp, slice.v_t);
    std::fill_n(slice.dk_t, p.head_dim * kp, 0.0f);
    std::fill_n(slice.dv_t, p.v_head_dim * kp, 0.0f);
  }
}

// Whether the visited rows may see a key of the tile.
HWY_INLINE bool VisitSeesTile(const FusedVisit& v, const KeyWorkItem& w) {
  return v.q0 < w.q_end && v.q0 + v.rows > w.q_begin;
}

// The visit's scale·Q rows, its dO rows, and each row's Δ = Σ_c dO_c · O_c (fused
// multiply-adds over c in order, like the dP GEMM); the row sums start at 0.
HWY_INLINE void StartVisit(const BackwardArgs& a, int64_t b, const FusedVisit& v, FusedScratch& s) {
  const AttentionParams& p = *a.p;
  PackScaledQueryRows(p, b, v.head, v.q0, v.rows, s.q_rows);
  s.dout = RowsOf(DoutInput(p, *a.g), b, v.head, v.q0, v.rows, p.v_head_dim, s.dout_rows);
  const InputTensor out = OutputInput(p);
  for (int64_t r = 0; r < v.rows; ++r) {
    const float* dout = s.dout.data + r * s.dout.row;
    float delta = 0.0f;
    for (int64_t c = 0; c < p.v_head_dim; ++c) {
      delta = std::fma(out.at(b, v.head, v.q0 + r, c), dout[c * s.dout.col], delta);
    }
    s.delta[r] = delta;
    s.row_sum[r] = 0.0f;
    s.defect[r] = 0.0f;
  }
  std::fill_n(s.dq, v.rows * s.dp, 0.0f);
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
        probs(s.VisitSlice(tile).probs),
        dprobs(s.VisitSlice(tile).dprobs),
        cap_grad(s.VisitSlice(tile).cap_grad),
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
  const VisitTile vt(p, tile, w, v.head, s);
  const int64_t kp = vt.kp;
  float* probs = vt.probs;
  float* dprobs = vt.dprobs;
  const FusedKeySlice keys = s.KeySlice(tile);
  const KeysInLanesTile t{.p = &p,
                          .batch = w.batch,
                          .head = v.head,
                          .kv_head = w.kv_head,
                          .q_begin = v.q0,
                          .q_count = v.rows,
                          .k_begin = w.k_begin,
                          .k_count = w.k_count,
                          .kp = kp,
                          .q_rows = s.q_rows,
                          .k_t = keys.k_t};
  ScoresKeysInLanes(t, BackwardScoreChunk(a.g->partial_keys), probs, vt.cap_grad);
  TileGemm({.a = s.dout.data,
            .a_row = s.dout.row,
            .a_k = s.dout.col,
            .b = keys.v_t,
            .b_row = kp,
            .depth = p.v_head_dim,
            .c = dprobs,
            .c_row = kp,
            .accumulate = false},
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
      const VF score = hn::Load(df, probs + at);
      const auto masked = hn::Eq(score, hn::Set(df, kNegInf));  // stored as −0.0 (MaskedProbs)
      const VF prob =
          hn::IfThenElse(masked, hn::Set(df, -0.0f), SoftmaxExp(df, hn::Sub(score, lse)));
      hn::Store(prob, df, probs + at);
      sum = hn::Add(sum, prob);
      defect = hn::Add(
          defect,
          hn::IfThenZeroElse(masked, hn::Mul(prob, hn::Sub(hn::Load(df, dprobs + at), delta))));
    }
    s.row_sum[r] += hn::GetLane(hn::SumOfLanes(df, sum));
    s.defect[r] += hn::GetLane(hn::SumOfLanes(df, defect));
  }
}

// Between the phases: row_sum becomes the norm 1 / Σ_j P_j (0 for a row that sees no key) and
// defect becomes c = norm · Σ_j P_j (dP_j − Δ), Δ' = Δ + c kept as the pair (ScoreGradFactor);
// with partial keys, norm 1 and c = 0.
HWY_INLINE void FinishRowTerms(const AttentionGrads& g, const FusedVisit& v, FusedScratch& s) {
  for (int64_t r = 0; r < v.rows; ++r) {
    if (g.partial_keys) {
      s.row_sum[r] = 1.0f;
      s.defect[r] = 0.0f;
      continue;
    }
    const float norm = s.row_sum[r] == 0.0f ? 0.0f : 1.0f / s.row_sum[r];
    s.row_sum[r] = norm;
    s.defect[r] *= norm;
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
    const VF fix = hn::Set(df, s.defect[r]);
    for (int64_t j = 0; j < vt.kp; j += N) {
      const int64_t at = r * vt.kp + j;
      const VF stored = hn::Load(df, vt.probs + at);
      const auto masked = MaskedProbs(df, stored);  // P = 0 and dS = 0 even in a NaN row
      const VF prob = hn::IfThenZeroElse(masked, hn::Mul(stored, norm));
      VF grad = hn::Mul(prob, ScoreGradFactor(df, vt.dprobs + at, delta, fix));
      if (p.softcap > 0) grad = hn::Mul(grad, hn::Load(df, vt.cap_grad + at));
      grad = hn::IfThenZeroElse(masked, grad);
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
  const int64_t vecs = kp / N;
  const FusedKeySlice keys = s.KeySlice(tile);
  TileGemm({.a = s.dout.data,
            .a_row = s.dout.col,
            .a_k = s.dout.row,
            .b = probs,
            .b_row = kp,
            .depth = v.rows,
            .c = keys.dv_t,
            .c_row = kp,
            .accumulate = true},
           p.v_head_dim, vecs);
  TileGemm({.a = s.q_rows,
            .a_row = 1,
            .a_k = p.head_dim,
            .b = dprobs,
            .b_row = kp,
            .depth = v.rows,
            .c = keys.dk_t,
            .c_row = kp,
            .accumulate = true},
           p.head_dim, vecs);
  TileGemm({.a = dprobs,
            .a_row = kp,
            .a_k = 1,
            .b = keys.k_rows,
            .b_row = s.dp,
            .depth = w.k_count,
            .c = s.dq,
            .c_row = s.dp,
            .accumulate = true},
           v.rows, s.dp / N);
}

// One visit: both phases over the key tiles the rows may see, then dq of the rows written.
HWY_INLINE void FusedVisitGradients(const BackwardArgs& a, int64_t b, const FusedVisit& v,
                                    FusedScratch& s) {
  const AttentionParams& p = *a.p;
  const AttentionGrads& g = *a.g;
  StartVisit(a, b, v, s);
  for (int64_t tile = 0; tile < s.tiles; ++tile) {
    if (VisitSeesTile(v, s.key_tiles[tile])) FusedPhase1(a, tile, s.key_tiles[tile], v, s);
  }
  FinishRowTerms(g, v, s);
  for (int64_t tile = 0; tile < s.tiles; ++tile) {
    if (VisitSeesTile(v, s.key_tiles[tile])) FusedPhase2(a, tile, s.key_tiles[tile], v, s);
  }
  const float scale = p.effective_scale();
  for (int64_t r = 0; r < v.rows; ++r) {
    float* dq = g.dq + g.dq_stride.offset(b, v.head, v.q0 + r, 0);
    for (int64_t d = 0; d < p.head_dim; ++d) dq[d * g.dq_stride.col] = s.dq[r * s.dp + d] * scale;
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
      const FusedVisit visit{.head = h, .q0 = q0, .rows = std::min(sizes.query_tile, p.q_len - q0)};
      FusedVisitGradients(a, b, visit, s);
    }
  }
  for (int64_t tile = 0; tile < s.tiles; ++tile) {
    const FusedKeySlice keys = s.KeySlice(tile);
    WriteKeyGradients(p, *a.g, s.key_tiles[tile], keys.dk_t, keys.dv_t);
  }
}

}  // namespace attn::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // ATTN_KERNELS_FUSED_BACKWARD_INL_H_
