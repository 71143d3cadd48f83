// In-register loads of cached K/V rows as fp32 vectors, one reader per storage dtype (see
// attn/kernels/kv_cache_view.h for the formats). Per SIMD target; include after hwy/highway.h.
//
//   Row::Load(d, row, scales, col) = the values row[col .. col + Lanes(d)) as floats
//
// `row` points at the codes of one stored row; `scales` at its q8 scales (Row::kScaled; ignored
// otherwise);
// col is a multiple of Lanes(d), and rows are padded, so a whole vector is always in bounds.
#if defined(ATTN_KERNELS_KV_LOAD_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ATTN_KERNELS_KV_LOAD_INL_H_
#undef ATTN_KERNELS_KV_LOAD_INL_H_
#else
#define ATTN_KERNELS_KV_LOAD_INL_H_
#endif

#include <cstddef>
#include <cstdint>

#include "attn/kernels/kv_cache_view.h"
#include "hwy/highway.h"
#include "kernels/widen-inl.h"

HWY_BEFORE_NAMESPACE();
namespace attn::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

struct F32Row {
  static constexpr bool kScaled = false;
  template <class D>
  static HWY_INLINE hn::Vec<D> Load(D d, const std::byte* row, const float*, size_t col) {
    return hn::LoadU(d, reinterpret_cast<const float*>(row) + col);
  }
};

// With F16C (AVX2 and up) the hardware conversion, exact for every value (it quiets a signalling
// NaN, which widen-inl.h's WidenF16 keeps bit for bit at a cost the hot loop need not pay);
// elsewhere WidenF16, whose emulated promotion needs its Inf/NaN repair.
struct F16Row {
  static constexpr bool kScaled = false;
  template <class D>
  static HWY_INLINE hn::Vec<D> Load(D d, const std::byte* row, const float*, size_t col) {
#if HWY_TARGET < HWY_SSE4 && !defined(HWY_DISABLE_F16C)
    const hn::Rebind<hwy::float16_t, D> dh;
    return hn::PromoteTo(d, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(row) + col));
#else
    return WidenF16(d, reinterpret_cast<const uint16_t*>(row) + col);
#endif
  }
};

struct BF16Row {
  static constexpr bool kScaled = false;
  template <class D>
  static HWY_INLINE hn::Vec<D> Load(D d, const std::byte* row, const float*, size_t col) {
    const hn::Rebind<hwy::bfloat16_t, D> dh;
    return hn::PromoteTo(d, hn::LoadU(dh, reinterpret_cast<const hwy::bfloat16_t*>(row) + col));
  }
};

struct Q8Row {
  static constexpr bool kScaled = true;  // reads a scale per group
  template <class D>
  static HWY_INLINE hn::Vec<D> Load(D d, const std::byte* row, const float* scales, size_t col) {
    const hn::Rebind<int8_t, D> d8;
    const hn::Rebind<int32_t, D> d32;
    const auto codes =
        hn::PromoteTo(d32, hn::LoadU(d8, reinterpret_cast<const int8_t*>(row) + col));
    return hn::Mul(hn::ConvertTo(d, codes), hn::Set(d, scales[col / kKvQ8Group]));
  }
};

}  // namespace attn::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // ATTN_KERNELS_KV_LOAD_INL_H_
