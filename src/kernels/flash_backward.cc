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
#include "kernels/widened_inputs.h"
#include "kernels/workspace.h"

HWY_BEFORE_NAMESPACE();
namespace attn::kernels::HWY_NAMESPACE {

// Both passes in one parallel region: first dQ, one work item per (batch, query head, query
// tile) as in the forward, which leaves each row's Δ and 1 / Σ_j P in `rows`; then, after the
// loop's barrier, dK and dV, one work item per (batch, KV head, key tile). Each thread's scratch
// slice is sized for the larger pass.
void FlashBackwardAllItems(const AttentionParams& p, const AttentionGrads& g, float* rows) {
  const BackwardArgs a{
      .p = &p, .g = &g, .delta = rows, .row_norm = rows + p.batch * p.q_heads * p.q_len};
  const TileSizes query_sizes{.query_tile = kQueryTile, .key_tile = kKeyTile};
  const BackwardTileSizes key_sizes;
  const std::vector<WorkItem> query_items = make_work_items(p, query_sizes.query_tile);
  const std::vector<KeyWorkItem> key_items = make_key_work_items(p, key_sizes.key_tile);
  const auto carve_query = [&](ScratchArena& arena) {
    return CarveQueryScratch(arena, p.head_dim, p.v_head_dim, query_sizes);
  };
  const auto carve_key = [&](ScratchArena& arena) {
    return CarveKeyScratch(arena, p.head_dim, p.v_head_dim, key_sizes);
  };
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
      QueryWorkItemGradients(a, query_items[n], query_sizes.key_tile, qs);
    }
    ScratchArena key_arena = SliceArena(scratch.get(), per_thread, omp_get_thread_num());
    KeyScratch ks = carve_key(key_arena);
#pragma omp for schedule(dynamic, 1)
    for (int64_t n = 0; n < key_count; ++n) {
      KeyWorkItemGradients(a, key_items[n], key_sizes.query_tile, ks);
    }
  }
}

// The fused plan: one work item per (batch, KV head) (fused_backward-inl.h). Each thread's
// scratch holds its item's packed keys, gradient sums and the visited rows' P and dP.
void FlashBackwardFusedItems(const AttentionParams& p, const AttentionGrads& g) {
  const BackwardArgs a{.p = &p, .g = &g, .delta = nullptr, .row_norm = nullptr};
  const BackwardTileSizes sizes;
  const int64_t items = p.batch * p.kv_heads;
  const auto carve = [&](ScratchArena& arena) { return CarveFusedScratch(arena, p, sizes); };
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
      FusedWorkItemGradients(a, n / p.kv_heads, n % p.kv_heads, sizes, s);
    }
  }
}

// Bytes of one thread's scratch of the fused plan (fused_backward_scratch_bytes).
int64_t FusedScratchBytes(const AttentionParams& p) {
  return ScratchBytes(
      [&](ScratchArena& arena) { CarveFusedScratch(arena, p, BackwardTileSizes{}); });
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
  std::vector<float> rows(static_cast<size_t>(2 * p.batch * p.q_heads * p.q_len));
  HWY_DYNAMIC_DISPATCH(FlashBackwardAllItems)(p, g, rows.data());
}

}  // namespace
}  // namespace kernels

int64_t fused_backward_scratch_bytes(const AttentionParams& p) {
  return HWY_DYNAMIC_DISPATCH(kernels::FusedScratchBytes)(p);
}

// From the shapes alone, never the thread count, so that the result is the same for any number
// of threads.
BackwardPlan resolve_backward_plan(const AttentionParams& p, BackwardPlan plan) {
  if (plan != BackwardPlan::kAuto) return plan;
  const bool fused = p.batch * p.kv_heads >= kFusedBackwardMinItems &&
                     fused_backward_scratch_bytes(p) <= kFusedBackwardMaxScratchBytes;
  return fused ? BackwardPlan::kFused : BackwardPlan::kSplit;
}

void flash_attention_backward(const AttentionParams& p, const AttentionGrads& g) {
  validate(p);
  if (p.input_type != ElementType::kF32) return flash_attention_backward_widened(p, g);
  ATTN_CHECK(p.out != nullptr && p.lse != nullptr,
             "flash_attention_backward: out and lse of the forward are both needed");
  ATTN_CHECK(g.dout != nullptr, "flash_attention_backward: dout is missing");
  ATTN_CHECK(g.dq != nullptr && g.dk != nullptr && g.dv != nullptr,
             "flash_attention_backward: dq, dk and dv must all be given");
  apply_simd_target_from_env();
  kernels::DispatchFlashBackward(p, g);
}

}  // namespace attn
#endif  // HWY_ONCE
