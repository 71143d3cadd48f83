// The split plan of the flash backward (BackwardPlan::kSplit): its two passes over one work item,
// per SIMD target (fused_backward-inl.h has the fused plan, which reuses its helpers). Both passes
// recompute the scores of a tile, P = exp(S − lse) from the saved log-sum-exp, dP = dO·Vᵀ and
// dS = P ∘ (dP − Δ) ∘ softcap', with Δ_i = Σ_c dO_ic · O_ic.
//
// Orientation: in each pass the work item's own rows are in the SIMD lanes, packed once per
// item, and the other side's rows are broadcast straight from memory (any strides), as in the
// forward; nothing is packed per visit except the visited query tile's scaled rows.
//
//   dQ pass, item (b, query head, query tile), queries in lanes (the forward's orientation):
//     Sᵀ  [key][q] = K · (scale·Q)ᵀ                   A = K rows,       B = Qᵀ (packed once)
//     dPᵀ [key][q] = V · dOᵀ                          A = V rows,       B = dOᵀ (packed once)
//     dQᵀ [d][q]  += Σ_key K[key][d] · dSᵀ[key][q]    A = K columns,    B = dSᵀ
//   dK/dV pass, item (b, KV head, key tile), keys in lanes; for each query head of the group and
//   each query tile that may see the keys, rows = queries:
//     S   [q][key] = (scale·Q) · Kᵀ                   A = scale·Q rows, B = Kᵀ (packed once)
//     dP  [q][key] = dO · Vᵀ                          A = dO rows,      B = Vᵀ (packed once)
//     dVᵀ [c][key] += Σ_q dO[q][c] · P[q][key]        A = dO columns,   B = P
//     dKᵀ [d][key] += Σ_q scale·Q[q][d] · dS[q][key]  A = Q columns,    B = dS
// Every GEMM is the forward's micro-kernel (tile_gemm-inl.h). dQ needs the sum over all key
// tiles, dK and dV over all query tiles; splitting them into two passes gives every gradient
// element one owner (no atomics, bitwise the same for any thread count) at the price of
// recomputing S and dP in both: 7 tile GEMMs where the textbook backward has 5 (8 with dq's
// correction below).
//
// The dQ pass runs first and leaves two numbers per row for the dK/dV pass:
// - 1 / Σ_j exp(s_j − lse). The saved lse is rounded to a float, and it came from the forward's
//   scores, which are summed less exactly than the backward's (backward_tile-inl.h): a row of P
//   is off by a factor 1 + O(ε·|s|); dividing by the row's sum removes it (dq is divided at the
//   end).
// - c = Σ_j P_j (dP_j − Δ), the correction to Δ' = Δ + c (the two kept apart: ScoreGradFactor).
//   Δ comes from the forward's O, whose rounding differs from that of the recomputed P, so
//   Σ_j P_j (dP_j − Δ), exactly 0 in the textbook, is ε-sized but not 0, and it reaches dk
//   through every row. With Δ' the rows of dS sum to 0 with the recomputed P
//   (the dK error measured on the tests' sweep drops up to tenfold). Δ is summed like the dP
//   GEMM (fused multiply-adds over c in order), so a row that sees a single key gets dP − Δ = 0
//   exactly. dq, summed before Δ' is known, is corrected at the end: with c = Δ' − Δ,
//   dq = scale · (Σ_j dS_j k_j − c · Σ_j P_j softcap'_j k_j), the second sum one more tile GEMM
//   (8 where the textbook has 5). Without it dq was up to 7x the error of an autograd-style fp32
//   backward (whose Δ = Σ_j P_j dP_j is consistent with its own P), and unbounded where dq is
//   exactly 0 (a row that sees one kept key under dropout).
#if defined(ATTN_KERNELS_FLASH_BACKWARD_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ATTN_KERNELS_FLASH_BACKWARD_INL_H_
#undef ATTN_KERNELS_FLASH_BACKWARD_INL_H_
#else
#define ATTN_KERNELS_FLASH_BACKWARD_INL_H_
#endif

#include <algorithm>
#include <cstdint>

#include "attn/kernels/attention.h"
#include "hwy/highway.h"
#include "kernels/backward_tile-inl.h"
#include "kernels/backward_tiling.h"
#include "kernels/dropout_mask-inl.h"
#include "kernels/score_tile-inl.h"
#include "kernels/scratch_arena.h"
#include "kernels/tile_gemm-inl.h"
#include "kernels/tiling.h"

HWY_BEFORE_NAMESPACE();
namespace attn::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// What both passes read besides the params. The dQ pass writes delta and row_norm, the dK/dV
// pass reads them.
struct BackwardArgs {
  const AttentionParams* p;
  const AttentionGrads* g;
  float* delta;      // [B, Hq, Lq] contiguous: Δ_i (see the file comment)
  float* delta_fix;  // [B, Hq, Lq]: c_i, Δ'_i = Δ_i + c_i
  float* row_norm;   // [B, Hq, Lq]: 1 / Σ_j exp(s_ij − lse_i); 0 for a row with no visible key
};

HWY_INLINE int64_t RowIndex(const AttentionParams& p, int64_t b, int64_t h, int64_t i) {
  return (b * p.q_heads + h) * p.q_len + i;
}

HWY_INLINE float LseOf(const AttentionParams& p, int64_t b, int64_t h, int64_t i) {
  return LseForProbs(p.lse[p.lse_stride.offset(b, h, i, 0)]);
}

// q_rows [rows][D] = scale · Q rows [q0, q0 + rows) of (b, h).
HWY_INLINE void PackScaledQueryRows(const AttentionParams& p, int64_t b, int64_t h, int64_t q0,
                                    int64_t rows, float* q_rows) {
  const InputTensor q = QueryInput(p);
  const float scale = p.effective_scale();
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t d = 0; d < p.head_dim; ++d) {
      q_rows[r * p.head_dim + d] = q.at(b, h, q0 + r, d) * scale;
    }
  }
}

// ================================================================ dK/dV pass (keys in lanes)

// Per-thread working memory of one key work item.
struct KeyScratch {
  float* k_t;       // Kᵀ [D][kp]
  float* v_t;       // Vᵀ [Dv][kp]
  float* dk_t;      // dKᵀ accumulator [D][kp]
  float* dv_t;      // dVᵀ accumulator [Dv][kp]
  float* q_rows;    // scale · Q of the visited query tile [query_tile][D]
  float* scores;    // S then P [query_tile][kp]
  float* dprobs;    // dP then dS [query_tile][kp]
  float* cap_grad;  // softcap' [query_tile][kp]
  // bf16/f16 inputs only (else null): K or V rows of the item [key_tile][max(D, Dv)] as floats
  // while they are packed, and dO of the visited rows [query_tile][Dv].
  float* widened_keys;
  float* dout_rows;
};

// A thread's buffer for up to `rows` widened rows of K or of V: none for fp32 inputs.
HWY_INLINE float* CarveKeyOrValueRows(ScratchArena& a, const AttentionParams& p, int64_t rows) {
  return CarveRowsBuffer(a, p.input_type, rows, std::max(p.head_dim, p.v_head_dim));
}

// One thread's KeyScratch for p's shapes and the tile sizes.
HWY_INLINE KeyScratch CarveKeyScratch(ScratchArena& a, const AttentionParams& p,
                                      const BackwardTileSizes& sizes) {
  const int64_t kp = PaddedRows(sizes.key_tile), d = p.head_dim, dv = p.v_head_dim;
  KeyScratch s;
  s.k_t = a.take<float>(d * kp);
  s.v_t = a.take<float>(dv * kp);
  s.dk_t = a.take<float>(d * kp);
  s.dv_t = a.take<float>(dv * kp);
  s.q_rows = a.take<float>(sizes.query_tile * d);
  s.scores = a.take<float>(sizes.query_tile * kp);
  s.dprobs = a.take<float>(sizes.query_tile * kp);
  s.cap_grad = a.take<float>(sizes.query_tile * kp);
  s.widened_keys = CarveKeyOrValueRows(a, p, sizes.key_tile);
  s.dout_rows = CarveRowsBuffer(a, p.input_type, sizes.query_tile, dv);
  return s;
}

// dst[c][j] = src[j][c] for j < count, zero for count ≤ j < kp.
HWY_INLINE void PackTransposed(const FloatRows& src, int64_t cols, int64_t count, int64_t kp,
                               float* dst) {
  for (int64_t c = 0; c < cols; ++c) {
    float* out = dst + c * kp;
    for (int64_t j = 0; j < count; ++j) out[j] = src.data[j * src.row + c * src.col];
    std::fill(out + count, out + kp, 0.0f);
  }
}

static_assert(BackwardTileSizes{}.key_tile <= kMaxDropoutLanes,
              "a key tile's dropout hashes must fit kMaxDropoutLanes");

// The rows of a visited tile, keys in lanes: P = exp(S − lse) · norm into s.scores and
// dS = P ∘ (dP − Δ) [∘ softcap'] into s.dprobs (which holds dO·Vᵀ). With dropout, dP is first
// masked and scaled by 1/(1 − p), and the dropped entries of P are zeroed afterwards (for dV).
HWY_INLINE void ProbsAndGradsKeysInLanes(const BackwardArgs& a, const KeyWorkItem& w, int64_t h,
                                         int64_t q0, int64_t rows, KeyScratch& s) {
  const AttentionParams& p = *a.p;
  const int64_t kp = PaddedRows(w.k_count);
  const DF df;
  const size_t N = hn::Lanes(df);
  const bool dropout = p.has_dropout();
  const DropoutTile drop = MakeDropoutTile(p, w.batch, h);
  HWY_ALIGN uint32_t key_hash[kMaxDropoutLanes];
  if (dropout) DropoutLaneHashes(drop.keys, false, w.k_begin, kp, key_hash);
  const VF factor = hn::Set(df, drop.factor);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t row = RowIndex(p, w.batch, h, q0 + r);
    const VF lse = hn::Set(df, LseOf(p, w.batch, h, q0 + r));
    const VF norm = hn::Set(df, a.row_norm[row]);
    const VF delta = hn::Set(df, a.delta[row]), fix = hn::Set(df, a.delta_fix[row]);
    const uint32_t row_hash = dropout ? dropout_row_hash(drop.keys, q0 + r) : 0;
    for (int64_t j = 0; j < kp; j += N) {
      const int64_t at = r * kp + j;
      const float* cap_grad = p.softcap > 0 ? s.cap_grad + at : nullptr;
      if (!dropout) {
        ProbAndScoreGrad(lse, norm, delta, fix, cap_grad, s.scores + at, s.dprobs + at);
        continue;
      }
      const auto keep = KeepMask(key_hash + j, row_hash, drop.threshold);
      hn::Store(hn::IfThenElseZero(keep, hn::Mul(hn::Load(df, s.dprobs + at), factor)), df,
                s.dprobs + at);
      const ProbAndGrad pg =
          ProbAndScoreGrad(lse, norm, delta, fix, cap_grad, s.scores + at, s.dprobs + at);
      hn::Store(hn::IfThenElseZero(keep, pg.prob), df, s.scores + at);
    }
  }
}

// One query tile [q0, q0 + rows) of query head h, seen from the item's keys: dVᵀ and dKᵀ grow.
HWY_INLINE void KeyItemVisit(const BackwardArgs& a, const KeyWorkItem& w, int64_t h, int64_t q0,
                             int64_t rows, KeyScratch& s) {
  const AttentionParams& p = *a.p;
  const AttentionGrads& g = *a.g;
  const int64_t kp = PaddedRows(w.k_count), D = p.head_dim, Dv = p.v_head_dim;
  const int64_t vecs = kp / static_cast<int64_t>(hn::Lanes(DF()));
  PackScaledQueryRows(p, w.batch, h, q0, rows, s.q_rows);
  const KeysInLanesTile t{.p = &p,
                          .batch = w.batch,
                          .head = h,
                          .kv_head = w.kv_head,
                          .q_begin = q0,
                          .q_count = rows,
                          .k_begin = w.k_begin,
                          .k_count = w.k_count,
                          .kp = kp,
                          .q_rows = s.q_rows,
                          .k_t = s.k_t};
  ScoresKeysInLanes(t, BackwardScoreChunk(g.partial_keys), s.scores, s.cap_grad);
  const FloatRows dout = RowsOf(DoutInput(p, g), w.batch, h, q0, rows, Dv, s.dout_rows);
  TileGemm({.a = dout.data,
            .a_row = dout.row,
            .a_k = dout.col,
            .b = s.v_t,
            .b_row = kp,
            .depth = Dv,
            .c = s.dprobs,
            .c_row = kp,
            .accumulate = false},
           rows, vecs);
  ProbsAndGradsKeysInLanes(a, w, h, q0, rows, s);
  TileGemm({.a = dout.data,
            .a_row = dout.col,
            .a_k = dout.row,
            .b = s.scores,
            .b_row = kp,
            .depth = rows,
            .c = s.dv_t,
            .c_row = kp,
            .accumulate = true},
           Dv, vecs);
  TileGemm({.a = s.q_rows,
            .a_row = 1,
            .a_k = D,
            .b = s.dprobs,
            .b_row = kp,
            .depth = rows,
            .c = s.dk_t,
            .c_row = kp,
            .accumulate = true},
           D, vecs);
}

// dk[k0 + j][d] = dKᵀ[d][j] and dv likewise (times 1/(1 − p) with dropout), for the item's keys;
// dk_t [D][kp] and dv_t [Dv][kp] are the accumulators.
HWY_INLINE void WriteKeyGradients(const AttentionParams& p, const AttentionGrads& g,
                                  const KeyWorkItem& w, const float* dk_t, const float* dv_t) {
  const int64_t kp = PaddedRows(w.k_count);
  const float factor = p.has_dropout() ? p.dropout_scale() : 1.0f;
  for (int64_t j = 0; j < w.k_count; ++j) {
    float* dk = g.dk + g.dk_stride.offset(w.batch, w.kv_head, w.k_begin + j, 0);
    for (int64_t d = 0; d < p.head_dim; ++d) dk[d * g.dk_stride.col] = dk_t[d * kp + j];
    float* dv = g.dv + g.dv_stride.offset(w.batch, w.kv_head, w.k_begin + j, 0);
    for (int64_t c = 0; c < p.v_head_dim; ++c) {
      dv[c * g.dv_stride.col] = dv_t[c * kp + j] * factor;
    }
  }
}

// Kᵀ and Vᵀ of the item's keys packed, the dKᵀ and dVᵀ accumulators zeroed.
HWY_INLINE void PackKeyTile(const AttentionParams& p, const KeyWorkItem& w, KeyScratch& s) {
  const int64_t kp = PaddedRows(w.k_count);
  PackTransposed(
      RowsOf(KeyInput(p), w.batch, w.kv_head, w.k_begin, w.k_count, p.head_dim, s.widened_keys),
      p.head_dim, w.k_count, kp, s.k_t);
  PackTransposed(
      RowsOf(ValueInput(p), w.batch, w.kv_head, w.k_begin, w.k_count, p.v_head_dim, s.widened_keys),
      p.v_head_dim, w.k_count, kp, s.v_t);
  std::fill(s.dk_t, s.dk_t + p.head_dim * kp, 0.0f);
  std::fill(s.dv_t, s.dv_t + p.v_head_dim * kp, 0.0f);
}

// The whole dK/dV work of one key tile: every query head of the group, then every query tile
// that may see the keys, in order.
HWY_INLINE void KeyWorkItemGradients(const BackwardArgs& a, const KeyWorkItem& w,
                                     int64_t query_tile, KeyScratch& s) {
  const AttentionParams& p = *a.p;
  PackKeyTile(p, w, s);
  const int64_t group = p.group_size();
  for (int64_t h = w.kv_head * group; h < (w.kv_head + 1) * group; ++h) {
    for (int64_t q0 = w.q_begin; q0 < w.q_end; q0 += query_tile) {
      KeyItemVisit(a, w, h, q0, std::min(query_tile, w.q_end - q0), s);
    }
  }
  WriteKeyGradients(p, *a.g, w, s.dk_t, s.dv_t);
}

// ================================================================ dQ pass (queries in lanes)

// Per-thread working memory of one query work item.
struct QueryScratch {
  QueryTile tile;   // Qᵀ · scale [D][padded], visible ranges and positions
  float* dout_t;    // dOᵀ [Dv][padded]
  float* out_t;     // Oᵀ [Dv][padded]
  float* dq_t;      // dQᵀ accumulator [D][padded]
  float* pk_t;      // (P·K)ᵀ accumulator [D][padded]: Σ_j P_j k_j, for dq's correction to Δ'
  float* scores;    // Sᵀ then Pᵀ [key_tile][padded]
  float* dprobs;    // dPᵀ then dSᵀ [key_tile][padded]
  float* cap_grad;  // softcap' [key_tile][padded]
  float* lse;       // [padded] LseForProbs of each row; +inf in the padding
  float* delta;     // [padded] Δ of each row; 0 in the padding
  float* row_sum;   // [padded] Σ_j exp(s_j − lse) over the keys seen so far
  float* defect;    // [padded] Σ_j exp(s_j − lse) · (dP_j − Δ) over the keys seen so far
  float* k_rows;    // bf16/f16 inputs: the key block's K [key_tile][D] as floats; else null
  float* v_rows;    // and its V [key_tile][Dv]
  // Attention dropout of the item's (batch, head): keys, threshold, 1/(1 − p).
  DropoutTile dropout;
};

// One thread's QueryScratch for p's shapes and the tile sizes.
HWY_INLINE QueryScratch CarveQueryScratch(ScratchArena& a, const AttentionParams& p,
                                          const TileSizes& sizes) {
  const int64_t padded = PaddedRows(sizes.query_tile), d = p.head_dim, dv = p.v_head_dim;
  QueryScratch s;
  CarveQueryTile(a, padded, d, s.tile);
  s.dout_t = a.take<float>(dv * padded);
  s.out_t = a.take<float>(dv * padded);
  s.dq_t = a.take<float>(d * padded);
  s.pk_t = a.take<float>(d * padded);
  s.scores = a.take<float>(sizes.key_tile * padded);
  s.dprobs = a.take<float>(sizes.key_tile * padded);
  s.cap_grad = a.take<float>(sizes.key_tile * padded);
  s.lse = a.take<float>(padded);
  s.delta = a.take<float>(padded);
  s.row_sum = a.take<float>(padded);
  s.defect = a.take<float>(padded);
  s.k_rows = CarveRowsBuffer(a, p.input_type, sizes.key_tile, d);
  s.v_rows = CarveRowsBuffer(a, p.input_type, sizes.key_tile, dv);
  return s;
}

// dst[c][i] = src (w.batch, w.head, row q_begin + i, column c) for the item's rows, zero in the
// padding.
HWY_INLINE void PackRowsTransposed(const InputTensor& src, const WorkItem& w, int64_t cols,
                                   int64_t padded, float* dst) {
  for (int64_t c = 0; c < cols; ++c) {
    float* row = dst + c * padded;
    for (int64_t i = 0; i < w.q_count; ++i) row[i] = src.at(w.batch, w.head, w.q_begin + i, c);
    std::fill(row + w.q_count, row + padded, 0.0f);
  }
}

// Packs the item's queries (PackQueryTile), dOᵀ and Oᵀ, and each row's lse and
// Δ = Σ_c dOᵀ[c] ∘ Oᵀ[c], summed like the dP GEMM: fused multiply-adds over c in order.
HWY_INLINE void PackQueryItem(const AttentionParams& p, const AttentionGrads& g, const WorkItem& w,
                              QueryScratch& s) {
  const int64_t padded = PaddedRows(w.q_count);
  s.tile.p = &p;
  s.tile.item = w;
  s.tile.kv_head = p.kv_head_of(w.head);
  s.tile.padded = padded;
  PackQueryTile(s.tile);
  PackRowsTransposed(DoutInput(p, g), w, p.v_head_dim, padded, s.dout_t);
  PackRowsTransposed(OutputInput(p), w, p.v_head_dim, padded, s.out_t);
  const DF df;
  const size_t N = hn::Lanes(df);
  for (int64_t i = 0; i < padded; i += N) {
    VF delta = hn::Zero(df);
    for (int64_t c = 0; c < p.v_head_dim; ++c) {
      delta = hn::MulAdd(hn::Load(df, s.out_t + c * padded + i),
                         hn::Load(df, s.dout_t + c * padded + i), delta);
    }
    hn::Store(delta, df, s.delta + i);
    hn::Store(hn::Zero(df), df, s.row_sum + i);
    hn::Store(hn::Zero(df), df, s.defect + i);
  }
  for (int64_t i = 0; i < padded; ++i) {
    s.lse[i] = i < w.q_count ? LseOf(p, w.batch, w.head, w.q_begin + i) : kPosInf;
  }
  s.dropout = MakeDropoutTile(p, w.batch, w.head);
}

// (P·K)ᵀ += Kᵀ · (P ∘ softcap')ᵀ over the key block's rows k: the sum dq's correction to Δ'
// needs. P ∘ softcap' overwrites P in s.scores.
HWY_INLINE void AddProbWeightedKeys(const AttentionParams& p, const FloatRows& k, int64_t keys,
                                    QueryScratch& s) {
  const int64_t padded = s.tile.padded;
  const DF df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  if (p.softcap > 0) {
    for (int64_t at = 0; at < keys * padded; at += N) {
      hn::Store(hn::Mul(hn::Load(df, s.scores + at), hn::Load(df, s.cap_grad + at)), df,
                s.scores + at);
    }
  }
  TileGemm({.a = k.data,
            .a_row = k.col,
            .a_k = k.row,
            .b = s.scores,
            .b_row = padded,
            .depth = keys,
            .c = s.pk_t,
            .c_row = padded,
            .accumulate = true},
           p.head_dim, padded / N);
}

// One key block [k0, k0 + keys): P and dS of the block (dP = dO·Vᵀ, masked and scaled with
// dropout), the rows' sums of P and of P ∘ (dP − Δ) grow, dQᵀ += Kᵀ · dSᵀ and, unless the keys
// are partial, (P·K)ᵀ += Kᵀ · (P ∘ softcap')ᵀ.
HWY_INLINE void QueryItemKeyBlock(const AttentionParams& p, bool partial_keys, int64_t k0,
                                  int64_t keys, QueryScratch& s) {
  const QueryTile& t = s.tile;
  const int64_t padded = t.padded;
  const int64_t vecs = padded / static_cast<int64_t>(hn::Lanes(DF()));
  const FloatRows k = KeyRowsOf(t, k0, keys, s.k_rows);
  ScoresQueriesInLanes(t, k, k0, keys, BackwardScoreChunk(partial_keys), s.scores, s.cap_grad);
  const FloatRows v = ValueRowsOf(t, k0, keys, s.v_rows);
  TileGemm({.a = v.data,
            .a_row = v.row,
            .a_k = v.col,
            .b = s.dout_t,
            .b_row = padded,
            .depth = p.v_head_dim,
            .c = s.dprobs,
            .c_row = padded,
            .accumulate = false},
           keys, vecs);
  if (p.has_dropout()) {
    DropoutQueriesInLanes(s.dropout, t.item.q_begin, padded, k0, keys, s.dropout.factor, s.dprobs);
  }
  const DF df;
  const size_t N = hn::Lanes(df);
  const VF one = hn::Set(df, 1.0f), zero = hn::Zero(df);
  for (int64_t i = 0; i < padded; i += N) {
    const VF lse = hn::Load(df, s.lse + i), delta = hn::Load(df, s.delta + i);
    VF sum = hn::Load(df, s.row_sum + i), defect = hn::Load(df, s.defect + i);
    for (int64_t j = 0; j < keys; ++j) {
      const int64_t at = j * padded + i;
      const ProbAndGrad pg =
          ProbAndScoreGrad(lse, one, delta, zero, p.softcap > 0 ? s.cap_grad + at : nullptr,
                           s.scores + at, s.dprobs + at);
      sum = hn::Add(sum, pg.prob);
      defect = hn::Add(defect, pg.grad);
    }
    hn::Store(defect, df, s.defect + i);
    hn::Store(sum, df, s.row_sum + i);
  }
  TileGemm({.a = k.data,
            .a_row = k.col,
            .a_k = k.row,
            .b = s.dprobs,
            .b_row = padded,
            .depth = keys,
            .c = s.dq_t,
            .c_row = padded,
            .accumulate = true},
           p.head_dim, vecs);
  if (!partial_keys) AddProbWeightedKeys(p, k, keys, s);
}

// The whole dQ of one query tile: key blocks in order, then dq = scale · dQᵀ / Σ_j P written
// once; the rows' Δ, c and 1 / Σ_j P are left in a.delta, a.delta_fix and a.row_norm.
HWY_INLINE void QueryWorkItemGradients(const BackwardArgs& a, const WorkItem& w, int64_t key_tile,
                                       QueryScratch& s) {
  const AttentionParams& p = *a.p;
  const AttentionGrads& g = *a.g;
  PackQueryItem(p, g, w, s);
  const int64_t padded = s.tile.padded;
  std::fill(s.dq_t, s.dq_t + p.head_dim * padded, 0.0f);
  std::fill(s.pk_t, s.pk_t + p.head_dim * padded, 0.0f);
  for (int64_t k0 = w.key_begin; k0 < w.key_end; k0 += key_tile) {
    QueryItemKeyBlock(p, g.partial_keys, k0, std::min(key_tile, w.key_end - k0), s);
  }
  const float scale = p.effective_scale();
  for (int64_t i = 0; i < w.q_count; ++i) {
    const int64_t row = RowIndex(p, w.batch, w.head, w.q_begin + i);
    const float norm = g.partial_keys ? 1.0f : s.row_sum[i] == 0.0f ? 0.0f : 1.0f / s.row_sum[i];
    // dq summed with Δ; with Δ' = Δ + c it is dq − c · Σ_j P_j k_j (c = 0 with partial keys).
    const float c = g.partial_keys ? 0.0f : s.defect[i] * norm;
    a.delta[row] = s.delta[i];
    a.delta_fix[row] = c;
    a.row_norm[row] = norm;
    float* dq = g.dq + g.dq_stride.offset(w.batch, w.head, w.q_begin + i, 0);
    for (int64_t d = 0; d < p.head_dim; ++d) {
      const float sum = s.dq_t[d * padded + i] - c * s.pk_t[d * padded + i];
      dq[d * g.dq_stride.col] = sum * (scale * norm);
    }
  }
}

}  // namespace attn::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // ATTN_KERNELS_FLASH_BACKWARD_INL_H_
