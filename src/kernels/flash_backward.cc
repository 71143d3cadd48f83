// Flash backward: validation, work items, per-thread scratch and the OpenMP loops of the dQ and
// dK/dV passes (flash_backward-inl.h). The SIMD target is chosen once here
// (HWY_DYNAMIC_DISPATCH); everything below runs on that target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/flash_backward.cc"
#include <omp.h>

#include <algorithm>
#include <vector>

#include "attn/core/error.h"
#include "attn/core/simd_target.h"
#include "attn/core/tensor.h"
#include "attn/kernels/attention.h"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/backward_tiling.h"
#include "kernels/flash_backward-inl.h"
#include "kernels/fused_backward-inl.h"
#include "kernels/scratch_arena.h"
#include "kernels/tiling.h"
#include "kernels/workspace.h"

HWY_BEFORE_NAMESPACE();
namespace attn::kernels::HWY_NAMESPACE {

// Both passes in one parallel region: first dQ, one work item per (batch, query head, query
// tile) as in the forward, which leaves each row's Δ and 1 / Σ_j P in `rows`; then, after the
// loop's barrier, dK and dV, one work item per (batch, KV head, key tile). Each thread's scratch
// slice is sized for the larger pass.
void FlashBackwardAllItems(const AttentionParams& p, const AttentionGrads& g, float* rows) {
  const std::vector<AttentionParams> parts = problem_parts(p);
  const std::vector<AttentionGrads> part_grads = grads_of_parts(p, g);
  const int64_t row_count = p.batch * p.q_heads * p.q_len;
  std::vector<BackwardArgs> args;
  for (size_t n = 0; n < parts.size(); ++n) {
    // A part's rows sit at its first query row: Hq · cu_seqlens_q[n] rows in, when packed.
    const int64_t first = p.is_packed() ? p.q_heads * p.cu_seqlens_q[n] : 0;
    args.push_back({.p = &parts[n],
                    .g = &part_grads[n],
                    .delta = rows + first,
                    .delta_fix = rows + row_count + first,
                    .row_norm = rows + 2 * row_count + first});
  }
  const TileSizes query_sizes{.query_tile = kQueryTile, .key_tile = kKeyTile};
  const BackwardTileSizes key_sizes;
  const std::vector<WorkItem> query_items = make_work_items(parts, query_sizes.query_tile);
  const std::vector<KeyWorkItem> key_items = make_key_work_items(parts, key_sizes.key_tile);
  const auto carve_query = [&](ScratchArena& arena) {
    return CarveQueryScratch(arena, p, query_sizes);
  };
  const auto carve_key = [&](ScratchArena& arena) { return CarveKeyScratch(arena, p, key_sizes); };
  const int64_t per_thread = std::max(ScratchBytes(carve_query), ScratchBytes(carve_key));
  const int threads = omp_get_max_threads();
  auto scratch = aligned_array<std::byte>(static_cast<size_t>(per_thread * threads));
  const int64_t query_count = static_cast<int64_t>(query_items.size());
  const int64_t key_count = static_cast<int64_t>(key_items.size());
#pragma omp parallel num_threads(threads)
  {
    ScratchArena query_arena = SliceArena(scratch.get(), per_thread, omp_get_thread_num());
    QueryScratch qs = carve_query(query_arena);
#pragma omp for schedule(dynamic, 1)
    for (int64_t n = 0; n < query_count; ++n) {
      QueryWorkItemGradients(args[query_items[n].part], query_items[n], query_sizes.key_tile, qs);
    }
    ScratchArena key_arena = SliceArena(scratch.get(), per_thread, omp_get_thread_num());
    KeyScratch ks = carve_key(key_arena);
#pragma omp for schedule(dynamic, 1)
    for (int64_t n = 0; n < key_count; ++n) {
      KeyWorkItemGradients(args[key_items[n].part], key_items[n], key_sizes.query_tile, ks);
    }
  }
}

// The fused plan: one work item per (batch, KV head) (fused_backward-inl.h). Each thread's
// scratch holds its item's packed keys, gradient sums and the visited rows' P and dP.
// With packed sequences an item is (sequence, KV head), ordered most expensive first; the
// scratch is carved for the sequence with the most keys and each item uses its own tiles of it.
void FlashBackwardFusedItems(const AttentionParams& p, const AttentionGrads& g) {
  const std::vector<AttentionParams> parts = problem_parts(p);
  const std::vector<AttentionGrads> part_grads = grads_of_parts(p, g);
  const BackwardTileSizes sizes;
  const std::vector<FusedItem> fused_items = make_fused_items(parts);
  const int64_t items = static_cast<int64_t>(fused_items.size());
  const AttentionParams& longest = most_keys(parts);
  const auto carve = [&](ScratchArena& arena) { return CarveFusedScratch(arena, longest, sizes); };
  const int64_t per_thread = ScratchBytes(carve);
  const int threads =
      static_cast<int>(std::clamp<int64_t>(items, 1, omp_get_max_threads()));  // none idle
  std::byte* const scratch = Workspace(per_thread * threads);
#pragma omp parallel num_threads(threads)
  {
    ScratchArena arena = SliceArena(scratch, per_thread, omp_get_thread_num());
    FusedScratch s = carve(arena);
#pragma omp for schedule(dynamic, 1)
    for (int64_t n = 0; n < items; ++n) {
      const FusedItem& item = fused_items[n];
      const AttentionParams& part = parts[item.part];
      const BackwardArgs a{.p = &part,
                           .g = &part_grads[item.part],
                           .delta = nullptr,
                           .delta_fix = nullptr,
                           .row_norm = nullptr};
      s.tiles = (part.kv_len + sizes.key_tile - 1) / sizes.key_tile;
      FusedWorkItemGradients(a, item.batch, item.kv_head, sizes, s);
    }
  }
}

// Bytes of one thread's scratch of the fused plan (fused_backward_scratch_bytes).
int64_t FusedScratchBytes(const AttentionParams& p) {
  const std::vector<AttentionParams> parts = problem_parts(p);
  return ScratchBytes([&](ScratchArena& arena) {
    CarveFusedScratch(arena, most_keys(parts), BackwardTileSizes{});
  });
}

}  // namespace attn::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace attn {
namespace kernels {
HWY_EXPORT(FlashBackwardAllItems);
HWY_EXPORT(FlashBackwardFusedItems);
HWY_EXPORT(FusedScratchBytes);

namespace {

// The split plan needs two numbers per query row (Δ' and the row's norm): the only memory of
// either plan besides the per-thread scratch, O(L) like it.
void DispatchFlashBackward(const AttentionParams& p, const AttentionGrads& g) {
  if (resolve_backward_plan(p, g.plan) == BackwardPlan::kFused)
    return HWY_DYNAMIC_DISPATCH(FlashBackwardFusedItems)(p, g);
  std::vector<float> rows(static_cast<size_t>(3 * p.batch * p.q_heads * p.q_len));
  HWY_DYNAMIC_DISPATCH(FlashBackwardAllItems)(p, g, rows.data());
}

}  // namespace
}  // namespace kernels

int64_t fused_backward_scratch_bytes(const AttentionParams& p) {
  return HWY_DYNAMIC_DISPATCH(kernels::FusedScratchBytes)(p);
}

// B·Hkv ≥ kFusedBackwardMinItems; with packed sequences, whose items differ in cost, the
// same in costs: the costliest (sequence, KV head) is at most 1/kFusedBackwardMinItems of all.
static bool enough_fused_items(const AttentionParams& p) {
  if (!p.is_packed()) return p.batch * p.kv_heads >= kFusedBackwardMinItems;
  int64_t total = 0, most = 0;
  for (const AttentionParams& part : kernels::problem_parts(p)) {
    const int64_t cost = kernels::visible_pairs(part);
    total += cost * p.kv_heads;
    most = std::max(most, cost);
  }
  return total > 0 && most * kFusedBackwardMinItems <= total;
}

// From the shapes alone, never the thread count, so that the result is the same for any number
// of threads.
BackwardPlan resolve_backward_plan(const AttentionParams& p, BackwardPlan plan) {
  if (plan != BackwardPlan::kAuto) return plan;
  const bool fused =
      enough_fused_items(p) && fused_backward_scratch_bytes(p) <= kFusedBackwardMaxScratchBytes;
  return fused ? BackwardPlan::kFused : BackwardPlan::kSplit;
}

void flash_attention_backward(const AttentionParams& p, const AttentionGrads& g) {
  validate(p);
  ATTN_CHECK((p.out != nullptr || p.out16 != nullptr) && p.lse != nullptr,
             "flash_attention_backward: out and lse of the forward are both needed");
  if (p.input_type == ElementType::kF32) {
    ATTN_CHECK(g.dout != nullptr && g.dout16 == nullptr,
               "flash_attention_backward: dout is missing");
  } else {
    ATTN_CHECK(g.dout16 != nullptr && g.dout == nullptr,
               "flash_attention_backward: ", element_type_name(p.input_type),
               " inputs take their dout in dout16");
  }
  ATTN_CHECK(g.dq != nullptr && g.dk != nullptr && g.dv != nullptr,
             "flash_attention_backward: dq, dk and dv must all be given");
  apply_simd_target_from_env();
  kernels::DispatchFlashBackward(p, g);
}

}  // namespace attn
#endif  // HWY_ONCE
