// Widening of bf16 and f16 bit patterns to fp32, per SIMD target: exact, with infinities and
// NaNs kept. The kernels call it on one tile at a time, so 16-bit inputs are never copied whole.
#if defined(ATTN_KERNELS_WIDEN_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ATTN_KERNELS_WIDEN_INL_H_
#undef ATTN_KERNELS_WIDEN_INL_H_
#else
#define ATTN_KERNELS_WIDEN_INL_H_
#endif

#include <cstdint>

#include "attn/core/element_type.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace attn::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// The floats of one vector of f16 patterns. PromoteTo does the finite values; infinities and
// NaNs (exponent 31) are rebuilt from their bits, since emulated promotions (targets without
// F16C) may treat them as finite.
template <class DF>
HWY_INLINE hn::Vec<DF> WidenF16(DF df, const uint16_t* x) {
  const hn::RebindToUnsigned<DF> du;
  const hn::Rebind<hwy::float16_t, DF> dh;
  const auto finite = hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(x)));
  const auto bits = hn::PromoteTo(du, hn::LoadU(hn::Rebind<uint16_t, DF>(), x));
  const auto exponent = hn::And(bits, hn::Set(du, 0x7c00u));
  const auto special = hn::Or(
      hn::ShiftLeft<16>(hn::And(bits, hn::Set(du, 0x8000u))),
      hn::Or(hn::Set(du, 0x7f800000u), hn::ShiftLeft<13>(hn::And(bits, hn::Set(du, 0x3ffu)))));
  return hn::IfThenElse(hn::RebindMask(df, hn::Eq(exponent, hn::Set(du, 0x7c00u))),
                        hn::BitCast(df, special), finite);
}

// The floats of one vector of patterns of type t (kBF16 or kF16).
template <class DF>
HWY_INLINE hn::Vec<DF> Widen16(DF df, const uint16_t* x, ElementType t) {
  if (t == ElementType::kF16) return WidenF16(df, x);
  const hn::Rebind<hwy::bfloat16_t, DF> dbf;
  return hn::PromoteTo(df, hn::LoadU(dbf, reinterpret_cast<const hwy::bfloat16_t*>(x)));
}

// out[c] = the float of x[c · col] (type t) for c in [0, n): whole vectors where x is contiguous,
// then one element at a time.
HWY_INLINE void WidenRow(const uint16_t* x, int64_t col, ElementType t, float* out, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  int64_t c = 0;
  if (col == 1) {
    for (; c + lanes <= n; c += lanes) hn::StoreU(Widen16(df, x + c, t), df, out + c);
  }
  for (; c < n; ++c) out[c] = to_float(x[c * col], t);
}

}  // namespace attn::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // ATTN_KERNELS_WIDEN_INL_H_
