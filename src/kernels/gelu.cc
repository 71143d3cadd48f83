// GELU forward and backward over arrays (attn/kernels/gelu.h), compiled once per SIMD target.
//
// tanh u is computed from e = exp(−2|u|) ∈ (0, 1] (the softmax exp of exp-inl.h, which takes
// non-positive inputs only) as sign(u)·(1 − e)/(1 + e): no overflow for any u, ±1 in the limit.

#include "attn/kernels/gelu.h"

#include <algorithm>
#include <cstdint>

#include "attn/core/simd_target.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/gelu.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/exp-inl.h"

HWY_BEFORE_NAMESPACE();
namespace attn::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// tanh(u) = sign(u)·(1 − e^{−2|u|}) / (1 + e^{−2|u|})
template <class DF, class V = hn::Vec<DF>>
HWY_INLINE V Tanh(DF df, V u) {
  const V e = SoftmaxExp(df, hn::Mul(hn::Set(df, -2.0f), hn::Abs(u)));
  const V one = hn::Set(df, 1.0f);
  return hn::CopySign(hn::Div(hn::Sub(one, e), hn::Add(one, e)), u);
}

// tanh(√(2/π)·(x + 0.044715·x³))
template <class DF, class V = hn::Vec<DF>>
HWY_INLINE V GeluTanh(DF df, V x) {
  const V x2 = hn::Mul(x, x);
  const V inner = hn::MulAdd(hn::Mul(hn::Set(df, 0.044715f), x2), x, x);
  return Tanh(df, hn::Mul(hn::Set(df, 0.7978845608028654f), inner));
}

// y = ½·x·(1 + t)
template <class DF, class V = hn::Vec<DF>>
HWY_INLINE V GeluValue(DF df, V x) {
  const V half_x = hn::Mul(hn::Set(df, 0.5f), x);
  return hn::MulAdd(half_x, GeluTanh(df, x), half_x);
}

// dy/dx = ½·(1 + t) + ½·x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²)
template <class DF, class V = hn::Vec<DF>>
HWY_INLINE V GeluSlope(DF df, V x) {
  const V half = hn::Set(df, 0.5f);
  const V t = GeluTanh(df, x);
  const V du = hn::Mul(hn::Set(df, 0.7978845608028654f),
                       hn::MulAdd(hn::Set(df, 3.0f * 0.044715f), hn::Mul(x, x), hn::Set(df, 1.0f)));
  const V one_minus_t2 = hn::NegMulAdd(t, t, hn::Set(df, 1.0f));
  const V left = hn::MulAdd(half, t, half);
  return hn::MulAdd(hn::Mul(hn::Mul(half, x), one_minus_t2), du, left);
}

// The last n < lanes elements: through a zero-padded buffer of one vector.
template <class DF, class Fn>
HWY_INLINE void Tail(DF df, int64_t n, const float* a, const float* b, float* out, Fn fn) {
  HWY_ALIGN float ba[hn::MaxLanes(df)] = {}, bb[hn::MaxLanes(df)] = {};
  std::copy(a, a + n, ba);
  if (b != nullptr) std::copy(b, b + n, bb);
  hn::Store(fn(hn::Load(df, ba), hn::Load(df, bb)), df, ba);
  std::copy(ba, ba + n, out);
}

// y[i] = gelu(x[i]), i in [0, n)
void GeluForwardSpan(const float* x, float* y, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  const auto fn = [df](auto vx, auto) { return GeluValue(df, vx); };
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) hn::StoreU(GeluValue(df, hn::LoadU(df, x + i)), df, y + i);
  if (i < n) Tail(df, n - i, x + i, nullptr, y + i, fn);
}

// dx[i] = dy[i]·gelu'(x[i]), i in [0, n)
void GeluBackwardSpan(const float* x, const float* dy, float* dx, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  const auto fn = [df](auto vx, auto vdy) { return hn::Mul(vdy, GeluSlope(df, vx)); };
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    hn::StoreU(fn(hn::LoadU(df, x + i), hn::LoadU(df, dy + i)), df, dx + i);
  }
  if (i < n) Tail(df, n - i, x + i, dy + i, dx + i, fn);
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace attn::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace attn {
namespace kernels {
HWY_EXPORT(GeluForwardSpan);
HWY_EXPORT(GeluBackwardSpan);
}  // namespace kernels

namespace {
// Elements per work item: large enough that a parallel region pays for itself.
constexpr int64_t kChunk = 1 << 14;
}  // namespace

void gelu_forward(const float* x, float* y, int64_t n) {
  apply_simd_target_from_env();
  const auto span = &HWY_DYNAMIC_DISPATCH(kernels::GeluForwardSpan);
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (chunks > 4)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t i0 = c * kChunk;
    span(x + i0, y + i0, std::min(kChunk, n - i0));
  }
}

void gelu_backward(const float* x, const float* dy, float* dx, int64_t n) {
  apply_simd_target_from_env();
  const auto span = &HWY_DYNAMIC_DISPATCH(kernels::GeluBackwardSpan);
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (chunks > 4)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t i0 = c * kChunk;
    span(x + i0, dy + i0, dx + i0, std::min(kChunk, n - i0));
  }
}

}  // namespace attn
#endif  // HWY_ONCE
