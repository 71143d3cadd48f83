// fp32 → bfloat16 (attn/kernels/bf16_convert.h), compiled once per SIMD target.
//
// Round to nearest even on the bit pattern: add 0x7fff plus the lowest kept bit, keep the top 16
// bits. A NaN is kept quiet by setting the top mantissa bit instead (the rounding could carry it
// into an infinity).

#include "attn/kernels/bf16_convert.h"

#include <algorithm>
#include <cstdint>

#include "attn/core/simd_target.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/bf16_convert.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace attn::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// The bf16 patterns of one vector of floats, as int32 lanes in [0, 0xffff].
template <class DF, class V = hn::Vec<DF>>
HWY_INLINE hn::Vec<hn::RebindToSigned<DF>> Bf16Bits(DF /*df*/, V x) {
  const hn::RebindToUnsigned<DF> du;
  const hn::RebindToSigned<DF> di;
  const auto u = hn::BitCast(du, x);
  const auto lsb = hn::And(hn::ShiftRight<16>(u), hn::Set(du, 1u));
  const auto rounded = hn::ShiftRight<16>(hn::Add(u, hn::Add(lsb, hn::Set(du, 0x7fffu))));
  const auto quiet_nan = hn::Or(hn::ShiftRight<16>(u), hn::Set(du, 0x40u));
  const auto bits = hn::IfThenElse(hn::RebindMask(du, hn::IsNaN(x)), quiet_nan, rounded);
  return hn::BitCast(di, bits);
}

// out[i] = bf16(x[i]), i in [0, n)
void ToBf16Span(const float* x, uint16_t* out, int64_t n) {
  const hn::ScalableTag<float> df;
  const hn::Rebind<uint16_t, decltype(df)> d16;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    hn::StoreU(hn::DemoteTo(d16, Bf16Bits(df, hn::LoadU(df, x + i))), d16, out + i);
  }
  if (i == n) return;
  // The last n − i < lanes elements, through a zero-padded vector.
  HWY_ALIGN float in[hn::MaxLanes(df)] = {};
  HWY_ALIGN uint16_t bits[hn::MaxLanes(df)];
  std::copy(x + i, x + n, in);
  hn::Store(hn::DemoteTo(d16, Bf16Bits(df, hn::Load(df, in))), d16, bits);
  std::copy(bits, bits + (n - i), out + i);
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace attn::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace attn {
namespace kernels {
HWY_EXPORT(ToBf16Span);
}  // namespace kernels

void to_bf16(const float* x, uint16_t* out, int64_t n) {
  constexpr int64_t kChunk = 1 << 15;  // elements per work item
  apply_simd_target_from_env();
  const auto span = &HWY_DYNAMIC_DISPATCH(kernels::ToBf16Span);
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (chunks > 4)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t i0 = c * kChunk;
    span(x + i0, out + i0, std::min(kChunk, n - i0));
  }
}

}  // namespace attn
#endif  // HWY_ONCE
