// Vectorised exp for the softmax, per SIMD target (include after hwy/highway.h).
//
// exp(x) = 2^n · e^r with n = round(x / ln 2) and r = x − n·ln 2 (ln 2 split in two parts for
// accuracy), e^r from a degree-6 polynomial on [−ln2/2, ln2/2] (relative error ~1e-7), 2^n put
// into the exponent bits. Inputs below −87.3 (including −inf, a masked score) give exactly 0, so
// masked keys never contribute; inputs are clamped at 88.7 (softmax inputs are ≤ 0).
#if defined(ATTN_KERNELS_EXP_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ATTN_KERNELS_EXP_INL_H_
#undef ATTN_KERNELS_EXP_INL_H_
#else
#define ATTN_KERNELS_EXP_INL_H_
#endif

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace attn::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <class DF, class V = hn::Vec<DF>>
HWY_INLINE V SoftmaxExp(DF df, V x) {
  const hn::RebindToSigned<DF> di;
  const V underflow = hn::Set(df, -87.33654f);
  const auto is_zero = hn::Lt(x, underflow);
  x = hn::Min(hn::Max(x, underflow), hn::Set(df, 88.72283f));
  const V n = hn::Round(hn::Mul(x, hn::Set(df, 1.44269504088896341f)));
  V r = hn::NegMulAdd(n, hn::Set(df, 0.693359375f), x);  // x − n·ln2_hi
  r = hn::NegMulAdd(n, hn::Set(df, -2.12194440e-4f), r);  // − n·ln2_lo
  V poly = hn::Set(df, 1.9875691500e-4f);
  poly = hn::MulAdd(poly, r, hn::Set(df, 1.3981999507e-3f));
  poly = hn::MulAdd(poly, r, hn::Set(df, 8.3334519073e-3f));
  poly = hn::MulAdd(poly, r, hn::Set(df, 4.1665795894e-2f));
  poly = hn::MulAdd(poly, r, hn::Set(df, 1.6666665459e-1f));
  poly = hn::MulAdd(poly, r, hn::Set(df, 5.0000001201e-1f));
  const V r2 = hn::Mul(r, r);
  const V er = hn::MulAdd(poly, r2, hn::Add(r, hn::Set(df, 1.0f)));
  // 2^n: n + 127 in the exponent field. n ∈ [−126, 128]; split so both factors are normal.
  const auto ni = hn::ConvertTo(di, n);
  const auto half = hn::ShiftRight<1>(ni);
  const V scale_a = hn::BitCast(df, hn::ShiftLeft<23>(hn::Add(half, hn::Set(di, 127))));
  const V scale_b = hn::BitCast(df, hn::ShiftLeft<23>(hn::Add(hn::Sub(ni, half), hn::Set(di, 127))));
  return hn::IfThenZeroElse(is_zero, hn::Mul(hn::Mul(er, scale_a), scale_b));
}

}  // namespace attn::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // ATTN_KERNELS_EXP_INL_H_
