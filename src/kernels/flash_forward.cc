// Flash forward: validation, work items, per-thread scratch and the OpenMP loop. The SIMD target
// is chosen once here (HWY_DYNAMIC_DISPATCH); everything below runs on that target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/flash_forward.cc"
#include <omp.h>

#include "attn/core/error.h"
#include "attn/core/simd_target.h"
#include "attn/core/tensor.h"
#include "attn/kernels/attention.h"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/flash_forward-inl.h"
#include "kernels/scratch_arena.h"
#include "kernels/tiling.h"

HWY_BEFORE_NAMESPACE();
namespace attn::kernels::HWY_NAMESPACE {

// The items of every part of the call (one, or one per packed sequence) in one parallel loop.
void FlashForwardAllItems(const AttentionParams& p) {
  const TileSizes sizes{.query_tile = kQueryTile, .key_tile = kKeyTile};
  const std::vector<AttentionParams> parts = problem_parts(p);
  const std::vector<WorkItem> items = make_work_items(parts, sizes.query_tile);
  const auto carve = [&](ScratchArena& a) { return CarveForwardScratch(a, p, sizes); };
  const int64_t per_thread = ScratchBytes(carve);
  const int threads = omp_get_max_threads();
  auto scratch = aligned_array<std::byte>(static_cast<size_t>(per_thread * threads));
  const int64_t count = static_cast<int64_t>(items.size());
#pragma omp parallel num_threads(threads)
  {
    ScratchArena arena = SliceArena(scratch.get(), per_thread, omp_get_thread_num());
    ForwardScratch s = carve(arena);
#pragma omp for schedule(dynamic, 1)
    for (int64_t n = 0; n < count; ++n) {
      FlashForwardItem(parts[items[n].part], items[n], sizes.key_tile, s);
    }
  }
}

}  // namespace attn::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace attn {
namespace kernels {
HWY_EXPORT(FlashForwardAllItems);
static void DispatchFlashForwardAllItems(const AttentionParams& p) {
  HWY_DYNAMIC_DISPATCH(FlashForwardAllItems)(p);
}
}  // namespace kernels

void flash_attention_forward(const AttentionParams& p) {
  validate(p);
  ATTN_CHECK(p.out != nullptr || p.out16 != nullptr,
             "flash_attention_forward: the output pointer is missing");
  apply_simd_target_from_env();
  kernels::DispatchFlashForwardAllItems(p);
}

}  // namespace attn
#endif  // HWY_ONCE
