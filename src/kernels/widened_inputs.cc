// bf16 and f16 inputs of the attention kernels (widened_inputs.h). The widening of a row is
// per SIMD target (Highway's PromoteTo); the rest is plain code around the fp32 kernels.

#include "kernels/widened_inputs.h"

#include <cstdint>
#include <vector>

#include "attn/core/element_type.h"
#include "attn/core/error.h"
#include "attn/core/simd_target.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/widened_inputs.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace attn::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// The floats of one vector of f16 patterns. PromoteTo does the finite values; infinities and
// NaNs (exponent 31) are rebuilt from their bits, since emulated promotions may treat them as
// finite.
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

// out[i] = the float of x[i] (type t) for i in [0, n): whole vectors, then the scalar tail.
void WidenSpan(const uint16_t* x, ElementType t, float* out, int64_t n) {
  const hn::ScalableTag<float> df;
  const hn::Rebind<hwy::bfloat16_t, decltype(df)> dbf;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto v =
        t == ElementType::kBF16
            ? hn::PromoteTo(df, hn::LoadU(dbf, reinterpret_cast<const hwy::bfloat16_t*>(x + i)))
            : WidenF16(df, x + i);
    hn::StoreU(v, df, out + i);
  }
  for (; i < n; ++i) out[i] = to_float(x[i], t);
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace attn::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace attn {
namespace kernels {
HWY_EXPORT(WidenSpan);
}  // namespace kernels

std::vector<float> widen_tensor(const uint16_t* x, const Strides4& s, ElementType t, int64_t batch,
                                int64_t heads, int64_t len, int64_t dim) {
  apply_simd_target_from_env();
  const auto span = &HWY_DYNAMIC_DISPATCH(kernels::WidenSpan);
  std::vector<float> out(static_cast<size_t>(batch * heads * len * dim));
  const int64_t rows = batch * heads * len;
#pragma omp parallel for schedule(static) if (rows * dim > (1 << 16))
  for (int64_t r = 0; r < rows; ++r) {
    const uint16_t* in = x + s.offset(r / (heads * len), r / len % heads, r % len, 0);
    float* row = out.data() + r * dim;
    if (s.col == 1) {
      span(in, t, row, dim);
    } else {
      for (int64_t c = 0; c < dim; ++c) row[c] = to_float(in[c * s.col], t);
    }
  }
  return out;
}

WidenedProblem widen_problem(const AttentionParams& p, bool read_out) {
  const ElementType t = p.input_type;
  WidenedProblem w;
  w.q = widen_tensor(p.q16, p.q_stride, t, p.batch, p.q_heads, p.q_len, p.head_dim);
  w.k = widen_tensor(p.k16, p.k_stride, t, p.batch, p.kv_heads, p.kv_len, p.head_dim);
  w.v = widen_tensor(p.v16, p.v_stride, t, p.batch, p.kv_heads, p.kv_len, p.v_head_dim);
  AttentionParams& f = w.params;
  f = p;
  f.input_type = f.output_type = ElementType::kF32;
  f.q16 = f.k16 = f.v16 = nullptr;
  f.out16 = nullptr;
  f.q = w.q.data();
  f.q_stride = bhld_strides(p.q_heads, p.q_len, p.head_dim);
  f.k = w.k.data();
  f.k_stride = bhld_strides(p.kv_heads, p.kv_len, p.head_dim);
  f.v = w.v.data();
  f.v_stride = bhld_strides(p.kv_heads, p.kv_len, p.v_head_dim);
  if (p.output_type != ElementType::kF32) {
    const Strides4 dense = bhld_strides(p.q_heads, p.q_len, p.v_head_dim);
    if (read_out && p.out16) {
      w.out = widen_tensor(p.out16, p.out_stride, t, p.batch, p.q_heads, p.q_len, p.v_head_dim);
    } else {
      w.out.assign(static_cast<size_t>(p.batch * p.q_heads * p.q_len * p.v_head_dim), 0.0f);
    }
    f.out = w.out.data();
    f.out_stride = dense;
  }
  return w;
}

void write_narrowed_output(const AttentionParams& p, const float* out32) {
  const int64_t rows = p.batch * p.q_heads * p.q_len;
  const int64_t dv = p.v_head_dim;
#pragma omp parallel for schedule(static) if (rows * dv > (1 << 16))
  for (int64_t r = 0; r < rows; ++r) {
    uint16_t* out = p.out16 + p.out_stride.offset(r / (p.q_heads * p.q_len),
                                                  r / p.q_len % p.q_heads, r % p.q_len, 0);
    for (int64_t c = 0; c < dv; ++c) {
      out[c * p.out_stride.col] = from_float(out32[r * dv + c], p.output_type);
    }
  }
}

void flash_attention_forward_widened(const AttentionParams& p) {
  ATTN_CHECK(p.out16 != nullptr || p.out != nullptr,
             "flash_attention_forward: the output pointer is missing");
  const WidenedProblem w = widen_problem(p, /*read_out=*/false);
  flash_attention_forward(w.params);
  if (p.output_type != ElementType::kF32) write_narrowed_output(p, w.out.data());
}

void flash_attention_backward_widened(const AttentionParams& p, const AttentionGrads& g) {
  ATTN_CHECK((p.out16 != nullptr || p.out != nullptr) && p.lse != nullptr,
             "flash_attention_backward: out and lse of the forward are both needed");
  ATTN_CHECK(g.dout16 != nullptr && g.dout == nullptr,
             "flash_attention_backward: ", element_type_name(p.input_type),
             " inputs take their dout in dout16");
  const WidenedProblem w = widen_problem(p, /*read_out=*/true);
  const std::vector<float> dout = widen_tensor(g.dout16, g.dout_stride, p.input_type, p.batch,
                                               p.q_heads, p.q_len, p.v_head_dim);
  AttentionGrads g32 = g;
  g32.dout16 = nullptr;
  g32.dout = dout.data();
  g32.dout_stride = bhld_strides(p.q_heads, p.q_len, p.v_head_dim);
  flash_attention_backward(w.params, g32);
}

void attention_weights_widened(const AttentionParams& p, const WeightsRequest& request) {
  const WidenedProblem w = widen_problem(p, /*read_out=*/false);
  attention_weights(w.params, request);
}

}  // namespace attn
#endif  // HWY_ONCE
