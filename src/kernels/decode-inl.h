// Decode attention per SIMD target: one chunk of keys of one (sequence, KV head) against the R
// query rows that read that KV head (the group's heads × the n_q new tokens), and the merge of
// the chunks' partial results. Vectorised over the head dim.
//
// A chunk is two passes over its keys, each reading every K or V byte from memory once:
//   scores  S[r][j] = q_r · k_j for all R rows at once: a K row is loaded (and dequantised) once
//           per d-vector and multiplied with every row's query;
//   softmax m_r = max_j S[r][j], P[r][j] = exp(S[r][j] − m_r), l_r = Σ_j P[r][j];
//   values  O[r] = Σ_j P[r][j] · v_j: a V row is loaded once and accumulated into every row.
// Both passes visit the chunk's keys in the same fixed order, interleaving kStreams runs of
// consecutive keys (ChunkVisits), so that the hardware prefetcher streams several runs of memory
// at once; S and P are kept in that visit order, and the softmax sums P in it. Every key's
// arithmetic is the same wherever it sits in a run of slots and the order depends only on the
// chunk's length, so the result does not depend on how the cache splits its tokens into blocks.
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

#include "attn/kernels/decode.h"
#include "hwy/cache_control.h"
#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "kernels/exp-inl.h"
#include "kernels/kv_load-inl.h"
#include "kernels/scratch_arena.h"

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
// 4 rows × 3 keys = 12 accumulators and 3 K vectors of 16 registers; 4 rows × 3 vectors in the
// value pass. Twelve independent FMA chains, not eight: at 4 cycles of FMA latency and 2 FMAs a
// cycle, eight chains leave no slack (docs/KERNELS.md, decode variant 10).
constexpr int kScoreKeys = 3;
constexpr int kValueVecs = 3;
#endif
constexpr int kScoreRows = 4;
constexpr int kValueRows = 4;
constexpr int64_t kValueKeys = 16;  // keys per pass over the accumulators
// Software prefetch, two distances per run of keys (docs/KERNELS.md, decode variants 6 and 9):
// - kPrefetchBytes (16 lines) ahead into L1. Short on purpose: on the Sapphire Rapids machine the
//   L2 hardware streamer fetches a sequential run from memory, and a prefetch just ahead of the
//   loads finds its line in L2 and moves it to L1 in a few cycles; a prefetch to L1 further ahead
//   misses to memory and holds one of the core's ~16 L1 fill buffers for the whole memory latency.
// - kFarPrefetchBytes ahead into L2 only. On the Zen 4 machine the streamer alone kept a core at
//   ~12 GB/s (a third of what a plain read reaches); asking L2 for the lines 8 KiB ahead made
//   decode 1.2–1.4× faster there.
// - On AVX2 and older targets (tuned on a Zen 3 machine, where decode is bound by its FMAs and
//   loop overheads rather than by memory) the near prefetch only costs instructions, and so does
//   the far one where the chunk's keys are one run of memory (a contiguous cache: the hardware
//   streamers follow its four runs); a chunk of several runs (the blocks of a paged cache) gets
//   the far prefetch 16 KiB ahead (decode variant 10).
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
constexpr int64_t kPrefetchBytes = 1024;
constexpr int64_t kFarPrefetchBytes = 8192;
constexpr bool kPrefetchOneRun = true;
#else
constexpr int64_t kPrefetchBytes = 0;
constexpr int64_t kFarPrefetchBytes = 16384;
constexpr bool kPrefetchOneRun = false;
#endif

// Runs of keys read at once. The L2 streamer follows each run separately and keeps a bounded
// number of lines in flight per run, so one run leaves the memory bus idle while the FMAs work;
// four runs keep more reads in flight (docs/KERNELS.md, decode variant 8; eight were slower
// than four). q8 reads its scales as a second stream beside each run of codes and is bound by
// its dequantisation rather than by memory: two runs suit it best.
template <class Row>
constexpr int64_t kStreams = Row::kScaled ? 2 : 4;

// The order in which both passes visit the n keys of a chunk: with Q = ⌊n / kStreams⌋, visit m <
// kStreams·Q is key (m mod kStreams)·Q + ⌊m / kStreams⌋ (one key of each run in turn), and the
// n mod kStreams keys after them follow in order. Rows are looked up once per chunk, so the
// passes need not know the cache's layout.
struct ChunkVisits {
  int32_t* key;            // [kDecodeChunkKeys] key of visit m, counted from the chunk's begin
  const std::byte** k;     // [kDecodeChunkKeys] its K codes
  const std::byte** v;     // [kDecodeChunkKeys] its V codes
  const float** k_scales;  // [kDecodeChunkKeys] its K scales (q8 only)
  const float** v_scales;  // [kDecodeChunkKeys] its V scales (q8 only)
};

HWY_INLINE ChunkVisits CarveChunkVisits(ScratchArena& a) {
  return {.key = a.take<int32_t>(kDecodeChunkKeys),
          .k = a.take<const std::byte*>(kDecodeChunkKeys),
          .v = a.take<const std::byte*>(kDecodeChunkKeys),
          .k_scales = a.take<const float*>(kDecodeChunkKeys),
          .v_scales = a.take<const float*>(kDecodeChunkKeys)};
}

// One chunk: keys [begin, end) of (batch, kv_head), with R query rows r = i·G + g; filled with
// designated initialisers.
struct DecodeChunkArgs {
  const KvCacheView* cache;    // the whole cache
  const KvSequenceView* seq;   // the chunk's sequence b
  int64_t kv_head;             // h
  int64_t begin;               // first key of the chunk
  int64_t end;                 // one past its last key
  int64_t rows;                // R = G · n_q
  const float* q;              // [R][k_row]: scale · q, zero-padded
  float* scores;               // [R][kDecodeChunkKeys]: S, then P, in visit order
  float* row_max;              // [R] m of each row in this chunk (−inf: nothing visible)
  float* row_sum;              // [R] l
  float* out;                  // [R][v_row] unnormalised Σ P · v
  const int64_t* visible_end;  // [R] one past the last kept key each row may see
  ChunkVisits visits;          // scratch, filled by the chunk
};

#if HWY_TARGET == HWY_SCALAR
// One lane: the sums are the values.
HWY_INLINE void StoreSumsOf4(VF a, VF b, VF c, VF e, float* out) {
  out[0] = hn::GetLane(a);
  out[1] = hn::GetLane(b);
  out[2] = hn::GetLane(c);
  out[3] = hn::GetLane(e);
}
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
#endif

// Visits m .. m + U − 1 of the chunk: S[r][m + u] = the sum of the lanes of acc[r][u] (scores are
// kept in visit order). With several keys, each row's U sums are one SumOf4 and one store of four
// floats (the lanes past U repeat the last sum and land on the next block's slots, or, at the end
// of a row, are stored one by one); one key takes its R rows four at a time. Every sum goes
// through the same tree whichever group it is in.
template <int R, int U>
HWY_INLINE void StoreScores(VF (&acc)[R][U], int64_t m, float* scores) {
  constexpr int64_t L = kDecodeChunkKeys;
  HWY_ALIGN float sums[4];
  if constexpr (U == 1) {
    for (int i = 0; i < R; i += 4) {
      const auto at = [&](int x) -> VF { return acc[x < R ? x : R - 1][0]; };
      StoreSumsOf4(at(i), at(i + 1), at(i + 2), at(i + 3), sums);
      for (int x = i; x < std::min(i + 4, R); ++x) scores[x * L + m] = sums[x - i];
    }
  } else {
    static_assert(U <= 4, "keys per score block: at most 4");
    for (int r = 0; r < R; ++r) {
      const auto at = [&](int u) -> VF { return acc[r][u < U ? u : U - 1]; };
      float* row = scores + r * L + m;
      if (U == 4 || m + 4 <= L) {
        StoreSumsOf4(at(0), at(1), at(2), at(3), row);
      } else {
        StoreSumsOf4(at(0), at(1), at(2), at(3), sums);
        for (int u = 0; u < U; ++u) row[u] = sums[u];
      }
    }
  }
}

// Makes the compiler hold v in a register from here on. GCC folds a vector load into every FMA
// that uses it (a memory operand each), so a q vector shared by U keys was loaded U times: with
// 256-bit loads at 2 a cycle the score block was bound by its loads, not by its FMAs.
template <class V>
HWY_INLINE void KeepInRegister(V& v) {
#if HWY_ARCH_X86 && HWY_TARGET != HWY_SCALAR && HWY_TARGET != HWY_EMU128 && \
    (HWY_COMPILER_GCC || HWY_COMPILER_CLANG)
  asm("" : "+v"(v.raw));
#else
  (void)v;
#endif
}

// S[r][m + u] = q_r · k for R rows of q (stride k_row) and the keys of visits m .. m + U − 1.
template <class Row, int R, int U>
HWY_INLINE void ScoreBlock(const DecodeChunkArgs& a, int64_t m, const float* q, float* scores) {
  const DF df;
  const size_t N = hn::Lanes(df);
  const int64_t dp = a.cache->k_row;
  const std::byte* const* k = a.visits.k + m;
  const float* const* k_scales = a.visits.k_scales + m;
  VF acc[R][U];
  {  // d = 0: the products themselves (no zero register to hold)
    VF kv[U];
    for (int u = 0; u < U; ++u) {
      kv[u] = Row::Load(df, k[u], Row::kScaled ? k_scales[u] : nullptr, 0);
    }
    for (int r = 0; r < R; ++r) {
      VF qv = hn::Load(df, q + r * dp);
      KeepInRegister(qv);
      for (int u = 0; u < U; ++u) acc[r][u] = hn::Mul(qv, kv[u]);
    }
  }
  // Rows are padded to 32 values, so there are at least two vectors: a loop that always runs
  // once more keeps the accumulators in registers (with a path around it, GCC kept them on the
  // stack for the reduction).
  int64_t d = N;
  do {
    VF kv[U];
    for (int u = 0; u < U; ++u) {
      kv[u] = Row::Load(df, k[u], Row::kScaled ? k_scales[u] : nullptr, d);
    }
    for (int r = 0; r < R; ++r) {
      VF qv = hn::Load(df, q + r * dp + d);
      KeepInRegister(qv);
      for (int u = 0; u < U; ++u) acc[r][u] = hn::MulAdd(qv, kv[u], acc[r][u]);
    }
    d += N;
  } while (d < dp);
  StoreScores<R, U>(acc, m, scores);
}

// ScoreBlock for `rows` ≤ R rows.
template <class Row, int U, int R = kScoreRows>
HWY_INLINE void ScoreRows(const DecodeChunkArgs& a, int64_t m, int64_t rows, const float* q,
                          float* scores) {
  if constexpr (R == 1) {
    ScoreBlock<Row, 1, U>(a, m, q, scores);
  } else {
    if (rows == R) return ScoreBlock<Row, R, U>(a, m, q, scores);
    ScoreRows<Row, U, R - 1>(a, m, rows, q, scores);
  }
}

// The keys of visits m .. m + U − 1, for every row.
template <class Row, int U>
HWY_INLINE void ScoreKeys(const DecodeChunkArgs& a, int64_t m) {
  for (int64_t r0 = 0; r0 < a.rows; r0 += kScoreRows) {
    const int64_t rows = std::min<int64_t>(kScoreRows, a.rows - r0);
    ScoreRows<Row, U>(a, m, rows, a.q + r0 * a.cache->k_row, a.scores + r0 * kDecodeChunkKeys);
  }
}

// Fills a.visits: the key and the K and V rows of every visit of the chunk. Returns whether the
// chunk's keys are one run of slots.
template <class Row>
HWY_INLINE bool GatherVisits(const DecodeChunkArgs& a) {
  constexpr int64_t streams = kStreams<Row>;
  const ChunkVisits& out = a.visits;
  const int64_t n = a.end - a.begin, Q = n / streams, streamed = Q * streams;
  const int64_t k_groups = a.cache->k_row / kKvQ8Group, v_groups = a.cache->v_row / kKvQ8Group;
  const int64_t es = kv_value_bytes(a.cache->dtype);
  const int64_t k_bytes = a.cache->k_row * es, v_bytes = a.cache->v_row * es;
  bool one_run = true;
  for (int64_t j = a.begin; j < a.end;) {
    const KvRun run = a.cache->run(*a.seq, a.kv_head, j, a.end);
    // Each pass of the loop takes the keys of the run that go to visits `step` apart.
    for (int64_t t = 0; t < run.count;) {
      const int64_t key = j - a.begin + t;
      const bool in_streams = key < streamed;
      int64_t m = in_streams ? key % Q * streams + key / Q : key;
      const int64_t step = in_streams ? streams : 1;
      const int64_t len = std::min(run.count - t, in_streams ? Q - key % Q : run.count - t);
      for (int64_t x = t; x < t + len; ++x, m += step) {
        out.key[m] = static_cast<int32_t>(key + x - t);
        out.k[m] = run.k + x * k_bytes;
        out.v[m] = run.v + x * v_bytes;
        if constexpr (Row::kScaled) {
          out.k_scales[m] = run.k_scales + x * k_groups;
          out.v_scales[m] = run.v_scales + x * v_groups;
        }
      }
      t += len;
    }
    j += run.count;
    one_run = one_run && j == a.end;
  }
  return one_run;
}

// The K or V rows of a chunk in visit order.
struct VisitRows {
  const std::byte* const* rows;
  int64_t row_bytes;
  int64_t count;
  int64_t streams;
};

template <class Row>
HWY_INLINE VisitRows KeyVisits(const DecodeChunkArgs& a) {
  return {a.visits.k, a.cache->k_row * kv_value_bytes(a.cache->dtype), a.end - a.begin,
          kStreams<Row>};
}
template <class Row>
HWY_INLINE VisitRows ValueVisits(const DecodeChunkArgs& a) {
  return {a.visits.v, a.cache->v_row * kv_value_bytes(a.cache->dtype), a.end - a.begin,
          kStreams<Row>};
}

// Asks the cache for the rows of visits [m, m + n) of `span` (those that exist), line by line,
// into L1 (kToL1) or into L2 only.
template <bool kToL1>
HWY_INLINE void PrefetchRows(const VisitRows& span, int64_t m, int64_t n) {
  for (int64_t x = m; x < std::min(m + n, span.count); ++x) {
    for (int64_t b = 0; b < span.row_bytes; b += 64) {
      __builtin_prefetch(span.rows[x] + b, 0, kToL1 ? 3 : 1);
    }
  }
}

// The rows of visits [m + ahead, m + ahead + n), ahead = `bytes` of each run, running on into
// `next` (a chunk's last keys prefetch its first values).
template <bool kToL1>
HWY_INLINE void PrefetchAt(const VisitRows& span, const VisitRows& next, int64_t m, int64_t n,
                           int64_t bytes) {
  m += span.streams * std::max<int64_t>(1, bytes / span.row_bytes);
  PrefetchRows<kToL1>(span, m, n);
  if (m + n > span.count) {
    const int64_t from = std::max<int64_t>(0, m - span.count);
    PrefetchRows<kToL1>(next, from, m + n - span.count - from);
  }
}

// Both prefetches of visits [m, m + n): far ahead into L2, just ahead into L1.
HWY_INLINE void PrefetchAhead(const VisitRows& span, const VisitRows& next, int64_t m, int64_t n) {
  if (kFarPrefetchBytes > 0) PrefetchAt<false>(span, next, m, n, kFarPrefetchBytes);
  if (kPrefetchBytes > 0) PrefetchAt<true>(span, next, m, n, kPrefetchBytes);
}

// S[r][m] for every row and every visit of the chunk; software prefetch when `prefetch`.
template <class Row>
HWY_INLINE void ScoreChunk(const DecodeChunkArgs& a, bool prefetch) {
  const VisitRows keys = KeyVisits<Row>(a), values = ValueVisits<Row>(a);
  int64_t m = 0;
  for (; m + kScoreKeys <= keys.count; m += kScoreKeys) {
    if (prefetch) PrefetchAhead(keys, values, m, kScoreKeys);
    ScoreKeys<Row, kScoreKeys>(a, m);
  }
  for (; m < keys.count; ++m) ScoreKeys<Row, 1>(a, m);
}

// Row s[0, n) of scores in visit order (visit j is key key[j]): softcap, then −inf where the key
// is `visible` or later; becomes P = exp(s − m) up to the next whole vector (0 past n). Returns m
// (−inf when nothing is visible) and l = Σ P, summed in visit order.
HWY_INLINE void SoftmaxRow(float* s, const int32_t* key, int64_t n, int64_t visible, float softcap,
                           float* m, float* l) {
  const DF df;
  const hn::RebindToSigned<DF> di;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const int64_t padded = (n + N - 1) / N * N;
  const VF neg_inf = hn::Set(df, kDecodeNegInf);
  VF vmax = neg_inf;
  for (int64_t j = 0; j < padded; j += N) {
    VF x = hn::Load(df, s + j);
    if (softcap <= 0.0f && j + N <= n && visible >= n) {  // nothing to change: no store
      vmax = hn::Max(vmax, x);
      continue;
    }
    if (softcap > 0.0f) {
      x = hn::Mul(hn::Set(df, softcap), hn::Tanh(df, hn::Mul(x, hn::Set(df, 1.0f / softcap))));
    }
    if (j + N > n || visible < n) {
      auto seen =
          hn::Lt(hn::Iota(di, static_cast<int32_t>(j)), hn::Set(di, static_cast<int32_t>(n)));
      if (visible < n) {  // key[] past n is not set: the first test masks those lanes
        seen = hn::And(seen,
                       hn::Lt(hn::LoadU(di, key + j), hn::Set(di, static_cast<int32_t>(visible))));
      }
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

// out[r][c0 + ·] += Σ_t P[r][t] · v_t[c0 + ·] for R rows (P rows of stride kDecodeChunkKeys,
// in visit order), C vectors of columns, and the keys of visits m .. m + count − 1 in order.
template <class Row, int R, int C>
HWY_INLINE void ValueBlock(const DecodeChunkArgs& a, int64_t m, int64_t count, const float* p,
                           float* out, int64_t c0) {
  const DF df;
  const size_t N = hn::Lanes(df);
  const int64_t dv = a.cache->v_row;
  VF acc[R][C];
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < C; ++c) acc[r][c] = hn::Load(df, out + r * dv + c0 + c * N);
  }
  for (int64_t t = m; t < m + count; ++t) {
    const std::byte* v = a.visits.v[t];
    const float* v_scales = Row::kScaled ? a.visits.v_scales[t] : nullptr;
    const float* pt = p + t;
    VF vv[C];
    for (int c = 0; c < C; ++c) vv[c] = Row::Load(df, v, v_scales, c0 + c * N);
    for (int r = 0; r < R; ++r) {
      const VF pr = hn::Set(df, pt[r * kDecodeChunkKeys]);
      for (int c = 0; c < C; ++c) acc[r][c] = hn::MulAdd(pr, vv[c], acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < C; ++c) hn::Store(acc[r][c], df, out + r * dv + c0 + c * N);
  }
}

// ValueBlock for `rows` ≤ R rows.
template <class Row, int C, int R = kValueRows>
HWY_INLINE void ValueRows(const DecodeChunkArgs& a, int64_t m, int64_t count, int64_t rows,
                          const float* p, float* out, int64_t c0) {
  if constexpr (R == 1) {
    ValueBlock<Row, 1, C>(a, m, count, p, out, c0);
  } else {
    if (rows == R) return ValueBlock<Row, R, C>(a, m, count, p, out, c0);
    ValueRows<Row, C, R - 1>(a, m, count, rows, p, out, c0);
  }
}

// The keys of visits m .. m + count − 1 into every row and column of out: blocks of kValueVecs
// vectors of columns while they fit and leave no single vector behind, then blocks of 2 (the row
// lengths are multiples of 2 vectors on every target).
template <class Row>
HWY_INLINE void ValueKeys(const DecodeChunkArgs& a, int64_t m, int64_t count) {
  const int64_t N = static_cast<int64_t>(hn::Lanes(DF()));
  const int64_t dv = a.cache->v_row;
  for (int64_t c0 = 0; c0 < dv;) {
    const int64_t left = (dv - c0) / N;  // vectors of columns left, even at the start
    const bool whole = left >= kValueVecs && left - kValueVecs != 1;
    for (int64_t r0 = 0; r0 < a.rows; r0 += kValueRows) {
      const int64_t rows = std::min<int64_t>(kValueRows, a.rows - r0);
      const float* p = a.scores + r0 * kDecodeChunkKeys;
      float* out = a.out + r0 * dv;
      if (whole) {
        ValueRows<Row, kValueVecs>(a, m, count, rows, p, out, c0);
      } else {
        ValueRows<Row, 2>(a, m, count, rows, p, out, c0);
      }
    }
    c0 += (whole ? kValueVecs : 2) * N;
  }
}

// O[r] = Σ_j P[r][j] · v_j over the chunk, summed in visit order; software prefetch when
// `prefetch`.
template <class Row>
HWY_INLINE void ValueChunk(const DecodeChunkArgs& a, bool prefetch) {
  std::fill(a.out, a.out + a.rows * a.cache->v_row, 0.0f);
  const VisitRows values = ValueVisits<Row>(a);
  for (int64_t m = 0; m < values.count; m += kValueKeys) {
    if (prefetch) PrefetchAhead(values, VisitRows{nullptr, 0, 0, 1}, m, kValueKeys);
    ValueKeys<Row>(a, m, std::min(kValueKeys, values.count - m));
  }
}

// The whole chunk for one storage dtype; softcap from the params.
template <class Row>
HWY_INLINE void DecodeChunkAs(const DecodeChunkArgs& a, float softcap) {
  const bool one_run = GatherVisits<Row>(a);
  const bool prefetch = kPrefetchOneRun || !one_run;
  ScoreChunk<Row>(a, prefetch);
  for (int64_t r = 0; r < a.rows; ++r) {
    const int64_t visible = std::clamp<int64_t>(a.visible_end[r] - a.begin, 0, a.end - a.begin);
    SoftmaxRow(a.scores + r * kDecodeChunkKeys, a.visits.key, a.end - a.begin, visible, softcap,
               a.row_max + r, a.row_sum + r);
  }
  ValueChunk<Row>(a, prefetch);
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
    for (int64_t c = 0; c < chunks; ++c) {
      const float mc = m[c * R + r];
      if (mc > max || std::isnan(mc)) max = mc;  // a NaN m (NaN or +inf score) must survive
    }
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
    // sum is 0 (nothing visible), ≥ 1, or NaN (a NaN or +inf score: a NaN row).
    const float inv = sum == 0.0f ? 0.0f : 1.0f / sum;
    const int64_t head = h * G + r % G, i = r / G;
    float* out = p.out + p.out_stride.offset(b, head, i, 0);
    for (int64_t c = 0; c < p.cache.v_head_dim; ++c) out[c * p.out_stride.col] = acc[c] * inv;
    if (p.lse) {
      p.lse[p.lse_stride.offset(b, head, i, 0)] = sum == 0.0f ? kDecodeNegInf : max + std::log(sum);
    }
  }
}

}  // namespace attn::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // ATTN_KERNELS_DECODE_INL_H_
