// Decode attention: validation, the split of every (sequence, KV head) into chunks of keys,
// per-thread scratch, the OpenMP loops and the merge. The SIMD target is chosen once here
// (HWY_DYNAMIC_DISPATCH); everything below runs on that target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/decode.cc"
#include "attn/kernels/decode.h"

#include <omp.h>

#include <atomic>
#include <memory>
#include <vector>

#include "attn/core/error.h"
#include "attn/core/simd_target.h"
#include "attn/core/tensor.h"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/decode-inl.h"
#include "kernels/scratch_arena.h"
#include "kernels/workspace.h"

HWY_BEFORE_NAMESPACE();
namespace attn::kernels::HWY_NAMESPACE {

// The chunks of the keys of every (sequence, KV head), in order: those of pair n = b·Hkv + h are
// chunks [first[n], first[n + 1]).
struct DecodePlan {
  std::vector<int64_t> first;  // [B·Hkv + 1]
  std::vector<int64_t> pair;   // [chunks] the pair n of each chunk
  int64_t chunks = 0;
  int64_t rows = 0;  // R = (Hq / Hkv) · n_q query rows per KV head

  explicit DecodePlan(const DecodeParams& p) {
    const KvCacheView& c = p.cache;
    rows = p.q_heads / c.kv_heads * p.q_len;
    first.push_back(0);
    for (int64_t b = 0; b < c.batch; ++b) {
      const int64_t n = (c.seqs[b].kept + kDecodeChunkKeys - 1) / kDecodeChunkKeys;
      for (int64_t h = 0; h < c.kv_heads; ++h) {
        pair.insert(pair.end(), n, b * c.kv_heads + h);
        first.push_back(first.back() + n);
      }
    }
    chunks = first.back();
  }
};

// q rows of (b, kv head h), times the scale: out [R][k_row], row r = i·G + g is query i of head
// h·G + g; the padding is zero.
void PackDecodeQueries(const DecodeParams& p, int64_t b, int64_t h, float* out) {
  const int64_t G = p.q_heads / p.cache.kv_heads, dp = p.cache.k_row;
  const float scale = p.effective_scale();
  for (int64_t i = 0; i < p.q_len; ++i) {
    for (int64_t g = 0; g < G; ++g) {
      float* row = out + (i * G + g) * dp;
      const float* q = p.q + p.q_stride.offset(b, h * G + g, i, 0);
      for (int64_t d = 0; d < p.cache.head_dim; ++d) row[d] = q[d * p.q_stride.col] * scale;
      std::fill(row + p.cache.head_dim, row + dp, 0.0f);
    }
  }
}

// The partial results of every chunk, in chunk order.
struct DecodePartials {
  float* out;      // [chunks][R][v_row] unnormalised Σ P · v
  float* row_max;  // [chunks][R] m
  float* row_sum;  // [chunks][R] l
};

DecodePartials CarveDecodePartials(ScratchArena& a, const DecodePlan& plan, const KvCacheView& c) {
  return {.out = a.take<float>(plan.chunks * plan.rows * c.v_row),
          .row_max = a.take<float>(plan.chunks * plan.rows),
          .row_sum = a.take<float>(plan.chunks * plan.rows)};
}

// One thread's working memory of a chunk and of a merge.
struct DecodeScratch {
  float* q;              // [R][k_row] scale · q of the chunk's pair
  float* scores;         // [R][kDecodeChunkKeys]
  int64_t* visible_end;  // [R]
  ChunkVisits visits;    // the chunk's visits
  float* merge_row;      // [v_row] MergeChunks' accumulator
};

DecodeScratch CarveDecodeScratch(ScratchArena& a, const DecodePlan& plan, const KvCacheView& c) {
  return {.q = a.take<float>(plan.rows * c.k_row),
          .scores = a.take<float>(plan.rows * kDecodeChunkKeys),
          .visible_end = a.take<int64_t>(plan.rows),
          .visits = CarveChunkVisits(a),
          .merge_row = a.take<float>(c.v_row)};
}

// The chunk `chunk` of pair n = b·Hkv + h, its partials written at chunk index `index`.
void RunDecodeChunk(const DecodeParams& p, const DecodePlan& plan, int64_t n, int64_t index,
                    const DecodeScratch& s, const DecodePartials& partials) {
  const KvCacheView& c = p.cache;
  const int64_t b = n / c.kv_heads, h = n % c.kv_heads, R = plan.rows;
  const KvSequenceView& seq = c.seqs[b];
  PackDecodeQueries(p, b, h, s.q);
  for (int64_t r = 0; r < R; ++r) s.visible_end[r] = seq.kept - p.q_len + r / (R / p.q_len) + 1;
  const int64_t begin = (index - plan.first[n]) * kDecodeChunkKeys;
  const DecodeChunkArgs args{.cache = &c,
                             .seq = &seq,
                             .kv_head = h,
                             .begin = begin,
                             .end = std::min(seq.kept, begin + kDecodeChunkKeys),
                             .rows = R,
                             .q = s.q,
                             .scores = s.scores,
                             .row_max = partials.row_max + index * R,
                             .row_sum = partials.row_sum + index * R,
                             .out = partials.out + index * R * c.v_row,
                             .visible_end = s.visible_end,
                             .visits = s.visits};
  DecodeChunk(args, p.softcap);
}

// Merges the chunks of pair n (whose partials begin at chunk index plan.first[n]).
void MergePair(const DecodeParams& p, const DecodePlan& plan, int64_t n,
               const DecodePartials& partials, float* merge_row) {
  const KvCacheView& c = p.cache;
  const int64_t first = plan.first[n], R = plan.rows;
  MergeChunks(p, n / c.kv_heads, n % c.kv_heads, plan.first[n + 1] - first,
              partials.row_max + first * R, partials.row_sum + first * R,
              partials.out + first * R * c.v_row, merge_row);
}

void DecodeAllChunks(const DecodeParams& p) {
  const DecodePlan plan(p);
  const KvCacheView& c = p.cache;
  const int64_t R = plan.rows, pairs = c.batch * c.kv_heads;
  const auto carve_partials = [&](ScratchArena& a) { return CarveDecodePartials(a, plan, c); };
  const auto carve_thread = [&](ScratchArena& a) { return CarveDecodeScratch(a, plan, c); };
  const int64_t shared = ScratchBytes(carve_partials), per_thread = ScratchBytes(carve_thread);
  const int threads = omp_get_max_threads();
  std::byte* const block = Workspace(shared + per_thread * threads);
  ScratchArena shared_arena(block, shared);
  const DecodePartials partials = carve_partials(shared_arena);
  std::byte* const thread_block = block + shared;
  // The last chunk of a pair to finish merges the pair (in chunk order, whoever runs it), so one
  // loop with no barrier inside does the whole step; pairs without keys are merged here.
  std::unique_ptr<std::atomic<int64_t>[]> left(new std::atomic<int64_t>[pairs]);
  for (int64_t n = 0; n < pairs; ++n) {
    left[n].store(plan.first[n + 1] - plan.first[n], std::memory_order_relaxed);
    if (plan.first[n + 1] == plan.first[n]) {
      ScratchArena arena = SliceArena(thread_block, per_thread, 0);
      MergePair(p, plan, n, partials, carve_thread(arena).merge_row);
    }
  }
  // A short cache is cheaper on one thread than a parallel region's start and end (and far
  // cheaper when another process holds a core); chunk sizes bound the work from above.
  const bool parallel = plan.chunks * kDecodeChunkKeys * R * (c.k_row + c.v_row) >= (1 << 20);
#pragma omp parallel num_threads(threads) if (parallel)
  {
    ScratchArena arena = SliceArena(thread_block, per_thread, omp_get_thread_num());
    const DecodeScratch s = carve_thread(arena);
#pragma omp for schedule(dynamic, 1) nowait
    for (int64_t index = 0; index < plan.chunks; ++index) {
      const int64_t n = plan.pair[index];
      RunDecodeChunk(p, plan, n, index, s, partials);
      if (left[n].fetch_sub(1, std::memory_order_acq_rel) == 1) {
        MergePair(p, plan, n, partials, s.merge_row);
      }
    }
  }
}

}  // namespace attn::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace attn {
namespace kernels {
HWY_EXPORT(DecodeAllChunks);
}  // namespace kernels

DecodeParams decode_params(const KvCacheView& cache, const float* q, int64_t q_heads, int64_t q_len,
                           float* out, float* lse) {
  DecodeParams p;
  p.q = q;
  p.q_stride = blhd_strides(q_heads, q_len, cache.head_dim);
  p.q_heads = q_heads;
  p.q_len = q_len;
  p.cache = cache;
  p.out = out;
  p.out_stride = blhd_strides(q_heads, q_len, cache.v_head_dim);
  p.lse = lse;
  p.lse_stride = blhd_strides(q_heads, q_len, 1);
  return p;
}

void validate(const DecodeParams& p) {
  const KvCacheView& c = p.cache;
  ATTN_CHECK(p.q != nullptr && p.out != nullptr, "decode_attention: q or out is null");
  ATTN_CHECK(
      c.seqs != nullptr && c.batch > 0 && c.kv_heads > 0 && c.head_dim > 0 && c.v_head_dim > 0,
      "decode_attention: the cache view is empty (B=", c.batch, " Hkv=", c.kv_heads,
      " D=", c.head_dim, " Dv=", c.v_head_dim, ")");
  ATTN_CHECK(p.q_heads > 0 && p.q_heads % c.kv_heads == 0, "decode_attention: q_heads ", p.q_heads,
             " is not a positive multiple of the cache's kv_heads ", c.kv_heads);
  ATTN_CHECK(p.q_len > 0, "decode_attention: q_len must be > 0, got ", p.q_len);
  ATTN_CHECK(std::isfinite(p.effective_scale()), "decode_attention: scale is not finite");
  ATTN_CHECK(std::isfinite(p.softcap) && p.softcap >= 0.0f,
             "decode_attention: softcap must be finite and ≥ 0, got ", p.softcap);
}

void decode_attention(const DecodeParams& p) {
  validate(p);
  apply_simd_target_from_env();
  HWY_DYNAMIC_DISPATCH(kernels::DecodeAllChunks)(p);
}

}  // namespace attn
#endif  // HWY_ONCE
