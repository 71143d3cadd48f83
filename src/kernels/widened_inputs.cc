// Whole widened copies of 16-bit attention inputs (widened_inputs.h). The widening of a row is
// per SIMD target (WidenRow of widen-inl.h); the rest is plain code.

#include "kernels/widened_inputs.h"

#include <cstdint>
#include <vector>

#include "attn/core/element_type.h"
#include "attn/core/simd_target.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/widened_inputs.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/widen-inl.h"

HWY_BEFORE_NAMESPACE();
namespace attn::kernels::HWY_NAMESPACE {
// out[c] = the float of x[c · col] (type t) for c in [0, n): WidenRow, exported.
void WidenStridedRow(const uint16_t* x, int64_t col, ElementType t, float* out, int64_t n) {
  WidenRow(x, col, t, out, n);
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace attn::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace attn {
namespace kernels {
HWY_EXPORT(WidenStridedRow);
}  // namespace kernels

std::vector<float> widen_tensor(const uint16_t* x, const Strides4& s, ElementType t, int64_t batch,
                                int64_t heads, int64_t len, int64_t dim) {
  apply_simd_target_from_env();
  const auto widen_row = &HWY_DYNAMIC_DISPATCH(kernels::WidenStridedRow);
  std::vector<float> out(static_cast<size_t>(batch * heads * len * dim));
  const int64_t rows = batch * heads * len;
#pragma omp parallel for schedule(static) if (rows * dim > (1 << 16))
  for (int64_t r = 0; r < rows; ++r) {
    const uint16_t* in = x + s.offset(r / (heads * len), r / len % heads, r % len, 0);
    widen_row(in, s.col, t, out.data() + r * dim, dim);
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

}  // namespace attn
#endif  // HWY_ONCE
