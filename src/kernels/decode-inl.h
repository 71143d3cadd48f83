// Decode attention per SIMD target: one chunk of keys of one (sequence, KV head) against the R
// query rows that read that KV head (the group's heads × the n_q new tokens), and the merge of
// the chunks' partial results. Vectorised over the head dim.
//
// A chunk is two passes over its keys, each reading every K or V byte from memory once:
//   scores  S[r][j] = q_r · k_j for all R rows at once: a K row is loaded (and dequantised) once
//           per d-vector and multiplied with every row's query;
//   softmax m_r = max_j S[r][j], P[r][j] = exp(S[r][j] − m_r), l_r = Σ_j P[r][j];
//   values  O[r] = Σ_j P[r][j] · v_j: a V row is loaded once and accumulated into every row.
// Every key's arithmetic is the same wherever it sits in a run of slots, so the result does not
// depend on how the cache splits its tokens into blocks.
#if defined(ATTN_KERNELS_DECODE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ATTN_KERNELS_DECODE_INL_H_
#undef ATTN_KERNELS_DECODE_INL_H_
#else
#define ATTN_KERNELS_DECODE_INL_H_
#endif

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "attn/decode.h"
#include "hwy/cache_control.h"
#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "kernels/exp-inl.h"
#include "kernels/kv_load-inl.h"

HWY_BEFORE_NAMESPACE();
namespace attn::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;
constexpr float kDecodeNegInf = -std::numeric_limits<float>::infinity();

// Register blocking: score rows × keys, and value rows × vectors of value columns. Four rows at
// once share each dequantised K or V vector four ways.
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
constexpr int kScoreKeys = 4;  // 4 rows × 4 keys = 16 accumulators of 32 registers
constexpr int kValueVecs = 4;  // 4 rows × 4 vectors = 16 accumulators
#else
constexpr int kScoreKeys = 2;  // 4 rows × 2 keys = 8 accumulators of 16 registers
constexpr int kValueVecs = 2;
#endif
constexpr int kScoreRows = 4;
constexpr int kValueRows = 4;
constexpr int64_t kValueKeys = 16;     // keys per pass over the accumulators
// Software prefetch runs this many bytes (16 lines) ahead of the loads. Short on purpose: the L2
// hardware streamer fetches a sequential stream from memory, and a prefetch just ahead of the loads
// finds its line in L2 and moves it to L1 in a few cycles. A prefetch further ahead than the
// streamer misses to memory and holds one of the core's ~16 L1 fill buffers for the whole memory
// latency, which caps a core at 16 lines per latency (docs/KERNELS.md, decode variant 6).
constexpr int64_t kPrefetchBytes = 1024;

// One chunk: keys [begin, end) of (batch, kv_head), with R query rows r = i·G + g.
struct DecodeChunkArgs {
  const KvCacheView* cache;
  const KvSequenceView* seq;
  int64_t kv_head;
  int64_t begin, end;
  int64_t rows;                // R = G · n_q
  const float* q;              // [R][k_row]: scale · q, zero-padded
  float* scores;               // [R][kDecodeChunkKeys]: S, then P
  float* row_max;              // [R] m of each row in this chunk (−inf: nothing visible)
  float* row_sum;              // [R] l
  float* out;                  // [R][v_row] unnormalised Σ P · v
  const int64_t* visible_end;  // [R] one past the last kept key each row may see
};

#if HWY_TARGET == HWY_SCALAR
// One lane: the sums are the values.
HWY_INLINE void StoreSumsOf4(VF a, VF b, VF c, VF e, float* out) {
  out[0] = hn::GetLane(a);
  out[1] = hn::GetLane(b);
  out[2] = hn::GetLane(c);
  out[3] = hn::GetLane(e);
}
HWY_INLINE float SumOfLanes1(VF a) { return hn::GetLane(a); }
#else
using D4 = hn::Full128<float>;

// Sums the 128-bit blocks of v into one 128-bit vector, halving the width each step.
template <class D>
HWY_INLINE hn::Vec<D4> SumBlocks(D d, hn::Vec<D> v) {
  if constexpr (hn::MaxLanes(D()) <= 4) {
    (void)d;
    return v;
  } else {
    const hn::Half<D> dh;
    return SumBlocks(dh, hn::Add(hn::LowerHalf(dh, v), hn::UpperHalf(dh, v)));
  }
}

// Lane u of the result is the sum of the lanes of the u-th argument. Every lane goes through the
// same tree of additions, so a vector's sum does not depend on the other three arguments.
HWY_INLINE hn::Vec<D4> SumOf4(VF a, VF b, VF c, VF e) {
  const DF df;
  const hn::Repartition<uint64_t, DF> d64;
  const VF ab = hn::Add(hn::InterleaveLower(df, a, b), hn::InterleaveUpper(df, a, b));
  const VF ce = hn::Add(hn::InterleaveLower(df, c, e), hn::InterleaveUpper(df, c, e));
  const auto lo = hn::InterleaveLower(d64, hn::BitCast(d64, ab), hn::BitCast(d64, ce));
  const auto hi = hn::InterleaveUpper(d64, hn::BitCast(d64, ab), hn::BitCast(d64, ce));
  return SumBlocks(df, hn::Add(hn::BitCast(df, lo), hn::BitCast(df, hi)));
}

// out[u] = the sum of the lanes of the u-th vector.
HWY_INLINE void StoreSumsOf4(VF a, VF b, VF c, VF e, float* out) {
  hn::StoreU(SumOf4(a, b, c, e), D4(), out);
}

// The sum of the lanes of a, bitwise equal to what StoreSumsOf4 gives it in any position.
HWY_INLINE float SumOfLanes1(VF a) { return hn::GetLane(SumOf4(a, a, a, a)); }
#endif

// scores[r·kDecodeChunkKeys + u] = the sum of the lanes of acc[r][u], four sums at a time.
template <int R, int U>
HWY_INLINE void StoreScores(VF (&acc)[R][U], float* scores) {
  constexpr int64_t L = kDecodeChunkKeys;
  if constexpr (U == 1) {
    for (int r = 0; r < R; ++r) scores[r * L] = SumOfLanes1(acc[r][0]);
  } else if constexpr (U == 4) {
    for (int r = 0; r < R; ++r)
      StoreSumsOf4(acc[r][0], acc[r][1], acc[r][2], acc[r][3], scores + r * L);
  } else {
    static_assert(U == 2, "keys per score block: 1, 2 or 4");
    float sums[4];
    for (int r = 0; r < R; r += 2) {
      const int r1 = r + 1 < R ? r + 1 : r;
      StoreSumsOf4(acc[r][0], acc[r][1], acc[r1][0], acc[r1][1], sums);
      scores[r * L] = sums[0];
      scores[r * L + 1] = sums[1];
      scores[r1 * L] = sums[2];
      scores[r1 * L + 1] = sums[3];
    }
  }
}

// scores[r·kDecodeChunkKeys + u] = q_r · k_u for R rows of q (stride k_row) and U keys of a run
// from t.
template <class Row, int R, int U>
HWY_INLINE void ScoreBlock(const DecodeChunkArgs& a, const KvRun& run, int64_t t, const float* q,
                           float* scores) {
  const DF df;
  const size_t N = hn::Lanes(df);
  const int64_t dp = a.cache->k_row, row_bytes = dp * kv_value_bytes(a.cache->dtype);
  const int64_t groups = dp / kKvQ8Group;
  const std::byte* k = run.k + t * row_bytes;
  const float* k_scales = run.k_scales + t * groups;
  VF acc[R][U];
  for (int r = 0; r < R; ++r) {
    for (int u = 0; u < U; ++u) acc[r][u] = hn::Zero(df);
  }
  for (int64_t d = 0; d < dp; d += N) {
    VF kv[U];
    for (int u = 0; u < U; ++u) kv[u] = Row::Load(df, k + u * row_bytes, k_scales + u * groups, d);
    for (int r = 0; r < R; ++r) {
      const VF qv = hn::Load(df, q + r * dp + d);
      for (int u = 0; u < U; ++u) acc[r][u] = hn::MulAdd(qv, kv[u], acc[r][u]);
    }
  }
  StoreScores<R, U>(acc, scores);
}

// ScoreBlock for `rows` ≤ R rows.
template <class Row, int U, int R = kScoreRows>
HWY_INLINE void ScoreRows(const DecodeChunkArgs& a, const KvRun& run, int64_t t, int64_t rows,
                          const float* q, float* scores) {
  if constexpr (R == 1) {
    ScoreBlock<Row, 1, U>(a, run, t, q, scores);
  } else {
    if (rows == R) return ScoreBlock<Row, R, U>(a, run, t, q, scores);
    ScoreRows<Row, U, R - 1>(a, run, t, rows, q, scores);
  }
}

// Keys t .. t + U − 1 of the run, at column `col` of the score rows, for every row.
template <class Row, int U>
HWY_INLINE void ScoreKeys(const DecodeChunkArgs& a, const KvRun& run, int64_t t, int64_t col) {
  for (int64_t r0 = 0; r0 < a.rows; r0 += kScoreRows) {
    const int64_t rows = std::min<int64_t>(kScoreRows, a.rows - r0);
    ScoreRows<Row, U>(a, run, t, rows, a.q + r0 * a.cache->k_row,
                      a.scores + r0 * kDecodeChunkKeys + col);
  }
}

// The K or V rows of one run: row t at rows + t·row_bytes for t < count.
struct RowSpan {
  const std::byte* rows;
  int64_t row_bytes;
  int64_t count;
};

HWY_INLINE RowSpan KeySpan(const DecodeChunkArgs& a, const KvRun& run) {
  return {run.k, a.cache->k_row * kv_value_bytes(a.cache->dtype), run.count};
}
HWY_INLINE RowSpan ValueSpan(const DecodeChunkArgs& a, const KvRun& run) {
  return {run.v, a.cache->v_row * kv_value_bytes(a.cache->dtype), run.count};
}

// Asks the cache for rows [t, t + n) of `span` (those that exist), one line at a time.
HWY_INLINE void PrefetchRows(const RowSpan& span, int64_t t, int64_t n) {
  const int64_t end = std::min(t + n, span.count) * span.row_bytes;
  for (int64_t x = t * span.row_bytes; x < end; x += 64) hwy::Prefetch(span.rows + x);
}

// Rows [t + ahead, t + ahead + n), ahead = kPrefetchBytes in rows, counted from the start of
// `span` and running on into `next`, so that the prefetch distance holds across runs (a paged
// cache's runs are as short as one block).
HWY_INLINE void PrefetchAhead(const RowSpan& span, const RowSpan& next, int64_t t, int64_t n) {
  t += std::max<int64_t>(1, kPrefetchBytes / span.row_bytes);
  PrefetchRows(span, t, n);
  if (t + n > span.count) {
    const int64_t from = std::max<int64_t>(0, t - span.count);
    PrefetchRows(next, from, t + n - span.count - from);
  }
}

// S[r][j − begin] for every row and every key j of the chunk.
template <class Row>
HWY_INLINE void ScoreChunk(const DecodeChunkArgs& a) {
  for (int64_t j = a.begin; j < a.end;) {
    const KvRun run = a.cache->run(*a.seq, a.kv_head, j, a.end);
    const int64_t after = j + run.count;  // the next run of keys, or else the chunk's values
    const RowSpan span = KeySpan(a, run);
    const RowSpan next = after < a.end
                             ? KeySpan(a, a.cache->run(*a.seq, a.kv_head, after, a.end))
                             : ValueSpan(a, a.cache->run(*a.seq, a.kv_head, a.begin, a.end));
    int64_t t = 0;
    for (; t + kScoreKeys <= run.count; t += kScoreKeys) {
      PrefetchAhead(span, next, t, kScoreKeys);
      ScoreKeys<Row, kScoreKeys>(a, run, t, j - a.begin + t);
    }
    for (; t < run.count; ++t) ScoreKeys<Row, 1>(a, run, t, j - a.begin + t);
    j += run.count;
  }
}

// Row s[0, n) of scores: softcap, then −inf from `visible` on; becomes P = exp(s − m) up to the
// next whole vector (0 past n). Returns m (−inf when nothing is visible) and l = Σ P.
HWY_INLINE void SoftmaxRow(float* s, int64_t n, int64_t visible, float softcap, float* m,
                           float* l) {
  const DF df;
  const hn::RebindToSigned<DF> di;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const int64_t padded = (n + N - 1) / N * N;
  const VF neg_inf = hn::Set(df, kDecodeNegInf);
  VF vmax = neg_inf;
  for (int64_t j = 0; j < padded; j += N) {
    VF x = hn::Load(df, s + j);
    if (softcap > 0.0f) {
      x = hn::Mul(hn::Set(df, softcap), hn::Tanh(df, hn::Mul(x, hn::Set(df, 1.0f / softcap))));
    }
    if (j + N > visible) {
      const auto seen =
          hn::Lt(hn::Iota(di, static_cast<int32_t>(j)), hn::Set(di, static_cast<int32_t>(visible)));
      x = hn::IfThenElse(hn::RebindMask(df, seen), x, neg_inf);
    }
    hn::Store(x, df, s + j);
    vmax = hn::Max(vmax, x);
  }
  *m = hn::GetLane(hn::MaxOfLanes(df, vmax));
  const VF m_use = hn::Set(df, *m == kDecodeNegInf ? 0.0f : *m);  // exp(−inf − 0) = 0, not NaN
  VF sum = hn::Zero(df);
  for (int64_t j = 0; j < padded; j += N) {
    const VF p = SoftmaxExp(df, hn::Sub(hn::Load(df, s + j), m_use));
    hn::Store(p, df, s + j);
    sum = hn::Add(sum, p);
  }
  *l = hn::GetLane(hn::SumOfLanes(df, sum));
}

// out[r][c0 + ·] += Σ_t P[r][t] · v_t[c0 + ·] for R rows (P rows of stride kDecodeChunkKeys),
// C vectors of columns, and `count` keys of a run from t0.
template <class Row, int R, int C>
HWY_INLINE void ValueBlock(const DecodeChunkArgs& a, const KvRun& run, int64_t t0, int64_t count,
                           const float* p, float* out, int64_t c0) {
  const DF df;
  const size_t N = hn::Lanes(df);
  const int64_t dv = a.cache->v_row, row_bytes = dv * kv_value_bytes(a.cache->dtype);
  const int64_t groups = dv / kKvQ8Group;
  VF acc[R][C];
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < C; ++c) acc[r][c] = hn::Load(df, out + r * dv + c0 + c * N);
  }
  for (int64_t t = 0; t < count; ++t) {
    const std::byte* v = run.v + (t0 + t) * row_bytes;
    const float* v_scales = run.v_scales + (t0 + t) * groups;
    VF vv[C];
    for (int c = 0; c < C; ++c) vv[c] = Row::Load(df, v, v_scales, c0 + c * N);
    for (int r = 0; r < R; ++r) {
      const VF pr = hn::Set(df, p[r * kDecodeChunkKeys + t]);
      for (int c = 0; c < C; ++c) acc[r][c] = hn::MulAdd(pr, vv[c], acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < C; ++c) hn::Store(acc[r][c], df, out + r * dv + c0 + c * N);
  }
}

// ValueBlock for `rows` ≤ R rows.
template <class Row, int C, int R = kValueRows>
HWY_INLINE void ValueRows(const DecodeChunkArgs& a, const KvRun& run, int64_t t0, int64_t count,
                          int64_t rows, const float* p, float* out, int64_t c0) {
  if constexpr (R == 1) {
    ValueBlock<Row, 1, C>(a, run, t0, count, p, out, c0);
  } else {
    if (rows == R) return ValueBlock<Row, R, C>(a, run, t0, count, p, out, c0);
    ValueRows<Row, C, R - 1>(a, run, t0, count, rows, p, out, c0);
  }
}

// Keys t0 .. t0 + count − 1 of a run (P at column col) into every row and column of out.
template <class Row>
HWY_INLINE void ValueKeys(const DecodeChunkArgs& a, const KvRun& run, int64_t t0, int64_t count,
                          int64_t col) {
  const int64_t N = static_cast<int64_t>(hn::Lanes(DF()));
  const int64_t dv = a.cache->v_row;
  for (int64_t c0 = 0; c0 < dv; c0 += kValueVecs * N) {
    const bool whole = c0 + kValueVecs * N <= dv;
    for (int64_t r0 = 0; r0 < a.rows; r0 += kValueRows) {
      const int64_t rows = std::min<int64_t>(kValueRows, a.rows - r0);
      const float* p = a.scores + r0 * kDecodeChunkKeys + col;
      float* out = a.out + r0 * dv;
      if (whole) {
        ValueRows<Row, kValueVecs>(a, run, t0, count, rows, p, out, c0);
      } else {  // the row lengths are multiples of 2 vectors on every target
        ValueRows<Row, 2>(a, run, t0, count, rows, p, out, c0);
      }
    }
  }
}

// O[r] = Σ_j P[r][j] · v_j over the chunk.
template <class Row>
HWY_INLINE void ValueChunk(const DecodeChunkArgs& a) {
  std::fill(a.out, a.out + a.rows * a.cache->v_row, 0.0f);
  for (int64_t j = a.begin; j < a.end;) {
    const KvRun run = a.cache->run(*a.seq, a.kv_head, j, a.end);
    const int64_t after = j + run.count;
    const RowSpan span = ValueSpan(a, run);
    const RowSpan next = after < a.end ? ValueSpan(a, a.cache->run(*a.seq, a.kv_head, after, a.end))
                                       : RowSpan{nullptr, 0, 0};
    for (int64_t t = 0; t < run.count; t += kValueKeys) {
      PrefetchAhead(span, next, t, kValueKeys);
      ValueKeys<Row>(a, run, t, std::min(kValueKeys, run.count - t), j - a.begin + t);
    }
    j += run.count;
  }
}

// The whole chunk for one storage dtype; softcap from the params.
template <class Row>
HWY_INLINE void DecodeChunkAs(const DecodeChunkArgs& a, float softcap) {
  ScoreChunk<Row>(a);
  for (int64_t r = 0; r < a.rows; ++r) {
    const int64_t visible = std::clamp<int64_t>(a.visible_end[r] - a.begin, 0, a.end - a.begin);
    SoftmaxRow(a.scores + r * kDecodeChunkKeys, a.end - a.begin, visible, softcap, a.row_max + r,
               a.row_sum + r);
  }
  ValueChunk<Row>(a);
}

HWY_INLINE void DecodeChunk(const DecodeChunkArgs& a, float softcap) {
  switch (a.cache->dtype) {
    case KvDtype::kF32:
      return DecodeChunkAs<F32Row>(a, softcap);
    case KvDtype::kF16:
      return DecodeChunkAs<F16Row>(a, softcap);
    case KvDtype::kBF16:
      return DecodeChunkAs<BF16Row>(a, softcap);
    case KvDtype::kQ8:
      return DecodeChunkAs<Q8Row>(a, softcap);
  }
}

// Merges the partial results of `chunks` chunks (row r of chunk c at m[c·R + r], l[c·R + r],
// o[(c·R + r)·v_row]) into out = Σ_c w_c o_c / Σ_c w_c l_c with w_c = exp(m_c − max m), in chunk
// order; acc is scratch of v_row floats. Row r of (b, h) is query i = r / G of head h·G + r % G.
HWY_INLINE void MergeChunks(const DecodeParams& p, int64_t b, int64_t h, int64_t chunks,
                            const float* m, const float* l, const float* o, float* acc) {
  const DF df;
  const size_t N = hn::Lanes(df);
  const int64_t G = p.q_heads / p.cache.kv_heads, R = G * p.q_len, dv = p.cache.v_row;
  for (int64_t r = 0; r < R; ++r) {
    float max = kDecodeNegInf;
    for (int64_t c = 0; c < chunks; ++c) max = std::max(max, m[c * R + r]);
    float sum = 0.0f;
    std::fill(acc, acc + dv, 0.0f);
    if (max != kDecodeNegInf) {
      for (int64_t c = 0; c < chunks; ++c) {
        const float w = std::exp(m[c * R + r] - max);
        sum += w * l[c * R + r];
        const float* oc = o + (c * R + r) * dv;
        for (int64_t x = 0; x < dv; x += N) {
          hn::Store(hn::MulAdd(hn::Set(df, w), hn::Load(df, oc + x), hn::Load(df, acc + x)), df,
                    acc + x);
        }
      }
    }
    const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
    const int64_t head = h * G + r % G, i = r / G;
    float* out = p.out + p.out_stride.offset(b, head, i, 0);
    for (int64_t c = 0; c < p.cache.v_head_dim; ++c) out[c * p.out_stride.col] = acc[c] * inv;
    if (p.lse) {
      p.lse[p.lse_stride.offset(b, head, i, 0)] = sum > 0.0f ? max + std::log(sum) : kDecodeNegInf;
    }
  }
}

}  // namespace attn::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // ATTN_KERNELS_DECODE_INL_H_
