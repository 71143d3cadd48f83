// Vectorised exp of the softmax, per SIMD target (include after hwy/highway.h).
//
// Softmax only ever needs exp(x) for x ≤ 0 (a score minus the running max). exp(x) = 2^n · e^r
// with n = round(x / ln 2) and r = x − n·ln 2 (ln 2 split in two parts for accuracy); e^r comes
// from a degree-6 polynomial on [−ln2/2, ln2/2] (relative error ~1e-7) and 2^n is put into the
// exponent bits. Inputs below −87.3 (including −inf, a masked score) give exactly 0, so masked
// keys never contribute; NaN gives NaN on every target (r is taken from the unclamped input, so
// no clamp or Max can drop it); inputs above 0 are not supported.
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
  const V lowest = hn::Set(df, -87.33654f);  // n stays ≥ −126: 2^n is a normal float
  const auto is_zero = hn::Lt(x, lowest);
  const V n = hn::Round(hn::Mul(hn::Max(x, lowest), hn::Set(df, 1.44269504088896341f)));
  V r = hn::NegMulAdd(n, hn::Set(df, 0.693359375f), x);   // x − n·ln2_hi
  r = hn::NegMulAdd(n, hn::Set(df, -2.12194440e-4f), r);  // − n·ln2_lo
  V poly = hn::Set(df, 1.9875691500e-4f);
  poly = hn::MulAdd(poly, r, hn::Set(df, 1.3981999507e-3f));
  poly = hn::MulAdd(poly, r, hn::Set(df, 8.3334519073e-3f));
  poly = hn::MulAdd(poly, r, hn::Set(df, 4.1665795894e-2f));
  poly = hn::MulAdd(poly, r, hn::Set(df, 1.6666665459e-1f));
  poly = hn::MulAdd(poly, r, hn::Set(df, 5.0000001201e-1f));
  // 1 + (r + poly·r²): adding 1 last rounds once, where (r + 1) + poly·r² rounds twice (mean
  // error 0.27 ulp instead of 0.34, max 1.0 instead of 1.2).
  const V er = hn::Add(hn::MulAdd(poly, hn::Mul(r, r), r), hn::Set(df, 1.0f));
  const auto exponent = hn::ShiftLeft<23>(hn::Add(hn::ConvertTo(di, n), hn::Set(di, 127)));
  return hn::IfThenZeroElse(is_zero, hn::Mul(er, hn::BitCast(df, exponent)));
}

}  // namespace attn::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // ATTN_KERNELS_EXP_INL_H_
