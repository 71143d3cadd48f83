// Attention weights recomputed from the saved log-sum-exp: w = exp(s − lse), one (query tile,
// key block) at a time with the same score code as the forward, so memory beyond the requested
// output is one tile per thread. Attention dropout is not applied: these are the softmax weights
// the model computed, before the training-time noise.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/attention_weights.cc"
#include <omp.h>

#include <algorithm>
#include <limits>

#include "attn/core/error.h"
#include "attn/core/simd_target.h"
#include "attn/core/tensor.h"
#include "attn/kernels/attention.h"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/exp-inl.h"
#include "kernels/score_tile-inl.h"
#include "kernels/scratch_arena.h"
#include "kernels/tiling.h"

HWY_BEFORE_NAMESPACE();
namespace attn::kernels::HWY_NAMESPACE {

// Per-thread scratch of one query tile.
struct WeightsScratch {
  QueryTile tile;
  float* scores;  // [key_tile][padded]
  float* lse;     // [padded]; +inf for rows with no visible key, so their weights are 0
  float* k_rows;  // bf16/f16 inputs: the block's keys as floats [key_tile][d]; else null
};

// One thread's scratch for query tiles of `sizes.query_tile` rows of problem p.
WeightsScratch CarveWeightsScratch(ScratchArena& a, const AttentionParams& p,
                                   const TileSizes& sizes) {
  const int64_t padded = PaddedRows(sizes.query_tile);
  WeightsScratch s;
  s.scores = a.take<float>(sizes.key_tile * padded);
  s.lse = a.take<float>(padded);
  s.k_rows = CarveRowsBuffer(a, p.input_type, sizes.key_tile, p.head_dim);
  CarveQueryTile(a, padded, p.head_dim, s.tile);
  return s;
}

// Weights of one (batch, head, query tile) for every key, written (or added, scaled by
// `weight`, when averaging heads) to the request's output.
void WeightsOfTile(const AttentionParams& p, const WeightsRequest& r, const WorkItem& w,
                   int64_t key_tile, float weight, bool add, WeightsScratch& s) {
  const DF df;
  const size_t N = hn::Lanes(df);
  StartQueryTile(s.tile, p, w);
  const int64_t padded = s.tile.padded;
  for (int64_t i = 0; i < padded; ++i) {
    const float lse =
        i < w.q_count ? p.lse[p.lse_stride.offset(w.batch, w.head, w.q_begin + i, 0)] : kNegInf;
    s.lse[i] = lse == kNegInf ? std::numeric_limits<float>::infinity() : lse;
  }
  const int64_t out_head = r.average_heads ? 0 : w.head;
  for (int64_t k0 = 0; k0 < p.kv_len; k0 += key_tile) {
    const int64_t keys = std::min(key_tile, p.kv_len - k0);
    const bool visible = k0 < w.key_end && k0 + keys > w.key_begin;
    if (visible) {
      ComputeScoreTile(s.tile, KeyRowsOf(s.tile, k0, keys, s.k_rows), k0, keys, s.scores);
    }
    for (int64_t j = 0; j < keys; ++j) {
      float* row = s.scores + j * padded;
      for (int64_t i = 0; i < padded; i += N) {
        // A masked key's weight is 0 even in a NaN row (where exp(−inf − NaN) is NaN).
        const VF score = hn::Load(df, row + i);
        const VF prob = SoftmaxExp(df, hn::Sub(score, hn::Load(df, s.lse + i)));
        hn::Store(
            visible ? hn::IfThenZeroElse(hn::Eq(score, hn::Set(df, kNegInf)), prob) : hn::Zero(df),
            df, row + i);
      }
      for (int64_t i = 0; i < w.q_count; ++i) {
        float& dst =
            r.out[r.out_stride.offset(w.batch, out_head, w.q_begin + i - r.row_begin, k0 + j)];
        dst = add ? dst + weight * row[i] : weight * row[i];
      }
    }
  }
}

// The request of each part of problem_parts(p): r itself, or, with packed sequences, the rows
// of r inside each sequence (counted within it; an empty range when none is) and r.out moved to
// the sequence's first such row and first key. The keys of other sequences, which the parts do
// not write, are zeroed here.
std::vector<WeightsRequest> RequestsOfParts(const AttentionParams& p, const WeightsRequest& r) {
  if (!p.is_packed()) return {r};
  const int64_t heads = r.average_heads ? 1 : p.q_heads;
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = r.row_begin; i < r.row_end; ++i) {
      for (int64_t j = 0; j < p.kv_len; ++j)
        r.out[r.out_stride.offset(0, h, i - r.row_begin, j)] = 0;
    }
  }
  std::vector<WeightsRequest> parts;
  for (int64_t s = 0; s < p.sequences; ++s) {
    const int64_t first = p.cu_seqlens_q[s], len = p.sequence_q_len(s);
    WeightsRequest part = r;
    part.row_begin = std::clamp<int64_t>(r.row_begin - first, 0, len);
    part.row_end = std::clamp<int64_t>(r.row_end - first, 0, len);
    if (part.row_begin < part.row_end) {
      part.out = r.out +
                 r.out_stride.offset(0, 0, first + part.row_begin - r.row_begin, p.cu_seqlens_k[s]);
    }
    parts.push_back(part);
  }
  return parts;
}

void AttentionWeightsAllTiles(const AttentionParams& p, const WeightsRequest& request) {
  // Work items over (part, batch, query tile); heads run inside so averaging has one owner per
  // output.
  const TileSizes sizes{.query_tile = kQueryTile, .key_tile = kKeyTile};
  const std::vector<AttentionParams> parts = problem_parts(p);
  const std::vector<WeightsRequest> requests = RequestsOfParts(p, request);
  std::vector<WorkItem> items;
  for (const WorkItem& w : make_work_items(parts, sizes.query_tile)) {
    const WeightsRequest& r = requests[w.part];
    if (w.head == 0 && w.q_begin + w.q_count > r.row_begin && w.q_begin < r.row_end) {
      items.push_back(w);
    }
  }
  const auto carve = [&](ScratchArena& a) { return CarveWeightsScratch(a, p, sizes); };
  const int64_t per_thread = ScratchBytes(carve);
  const int threads = omp_get_max_threads();
  auto scratch = aligned_array<std::byte>(static_cast<size_t>(per_thread * threads));
  const int64_t count = static_cast<int64_t>(items.size());
  const float head_weight = request.average_heads ? 1.0f / static_cast<float>(p.q_heads) : 1.0f;
#pragma omp parallel num_threads(threads)
  {
    ScratchArena arena = SliceArena(scratch.get(), per_thread, omp_get_thread_num());
    WeightsScratch s = carve(arena);
#pragma omp for schedule(dynamic, 1)
    for (int64_t n = 0; n < count; ++n) {
      const WeightsRequest& r = requests[items[n].part];
      for (int64_t h = 0; h < p.q_heads; ++h) {
        WorkItem w = items[n];
        w.head = h;
        // Clip the tile to the requested rows.
        const int64_t begin = std::max(w.q_begin, r.row_begin);
        const int64_t end = std::min(w.q_begin + w.q_count, r.row_end);
        w.q_begin = begin;
        w.q_count = end - begin;
        WeightsOfTile(parts[w.part], r, w, sizes.key_tile, head_weight, r.average_heads && h > 0,
                      s);
      }
    }
  }
}

}  // namespace attn::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace attn {
namespace kernels {
HWY_EXPORT(AttentionWeightsAllTiles);
static void DispatchAttentionWeightsAllTiles(const AttentionParams& p, const WeightsRequest& r) {
  HWY_DYNAMIC_DISPATCH(AttentionWeightsAllTiles)(p, r);
}
}  // namespace kernels

void attention_weights(const AttentionParams& p, const WeightsRequest& request) {
  validate(p);
  ATTN_CHECK(p.lse != nullptr,
             "attention_weights: p.lse must hold the log-sum-exp saved by the forward pass");
  ATTN_CHECK(request.out != nullptr, "attention_weights: the output pointer is missing");
  WeightsRequest r = request;
  if (r.row_end < 0) r.row_end = p.q_len;
  ATTN_CHECK(r.row_begin >= 0 && r.row_begin < r.row_end && r.row_end <= p.q_len,
             "attention_weights: row range [", r.row_begin, ", ", r.row_end,
             ") is not inside [0, Lq=", p.q_len, ")");
  apply_simd_target_from_env();
  kernels::DispatchAttentionWeightsAllTiles(p, r);
}

}  // namespace attn
#endif  // HWY_ONCE
