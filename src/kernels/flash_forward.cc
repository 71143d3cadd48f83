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
#include "kernels/tiling.h"

HWY_BEFORE_NAMESPACE();
namespace attn::kernels::HWY_NAMESPACE {

void FlashForwardAllItems(const AttentionParams& p) {
  const std::vector<WorkItem> items = make_work_items(p, kQueryTile);
  const int threads = omp_get_max_threads();
  const int64_t padded = PaddedRows(kQueryTile);
  const int64_t per_thread =
      (ForwardScratchFloats(padded, p.head_dim, p.v_head_dim, kKeyTile) + 15) / 16 * 16;
  auto scratch = aligned_array<float>(static_cast<size_t>(per_thread * threads));
  const int64_t count = static_cast<int64_t>(items.size());
#pragma omp parallel num_threads(threads)
  {
    ForwardScratch s = CarveForwardScratch(scratch.get() + per_thread * omp_get_thread_num(),
                                           padded, p.head_dim, p.v_head_dim, kKeyTile);
#pragma omp for schedule(dynamic, 1)
    for (int64_t n = 0; n < count; ++n) FlashForwardItem(p, items[n], kKeyTile, s);
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
  ATTN_CHECK(p.out != nullptr, "flash_attention_forward: the output pointer is missing");
  apply_simd_target_from_env();
  kernels::DispatchFlashForwardAllItems(p);
}

}  // namespace attn
#endif  // HWY_ONCE
