// Blocks of input rows as floats, per SIMD target: for fp32 inputs a view of the caller's tensor,
// for bf16/f16 inputs the block's rows widened into a thread's buffer. The kernels ask for one
// tile at a time, so a 16-bit call needs a few tiles of fp32 per thread and no copy of the
// inputs, and the conversions (O(rows · cols) per tile) are a small part of the tile's GEMMs.
#if defined(ATTN_KERNELS_INPUT_ROWS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ATTN_KERNELS_INPUT_ROWS_INL_H_
#undef ATTN_KERNELS_INPUT_ROWS_INL_H_
#else
#define ATTN_KERNELS_INPUT_ROWS_INL_H_
#endif

#include <cstdint>

#include "attn/core/attention_params.h"
#include "attn/core/element_type.h"
#include "attn/core/tensor.h"
#include "attn/kernels/attention.h"
#include "hwy/highway.h"
#include "kernels/scratch_arena.h"
#include "kernels/widen-inl.h"

HWY_BEFORE_NAMESPACE();
namespace attn::kernels::HWY_NAMESPACE {

// Rows of floats: element (j, c) at data[j · row + c · col].
struct FloatRows {
  const float* data;
  int64_t row;
  int64_t col;
};

// One input tensor of a call: fp32 at f32, or 16-bit patterns of type t at x16; strides s.
struct InputTensor {
  const float* f32;
  const uint16_t* x16;
  Strides4 s;
  ElementType t;

  // Element (b, h, i, c) as a float; for packing loops that visit each element once.
  float at(int64_t b, int64_t h, int64_t i, int64_t c) const {
    const int64_t offset = s.offset(b, h, i, c);
    return x16 ? to_float(x16[offset], t) : f32[offset];
  }
};

HWY_INLINE InputTensor QueryInput(const AttentionParams& p) {
  return {p.q, p.q16, p.q_stride, p.input_type};
}
HWY_INLINE InputTensor KeyInput(const AttentionParams& p) {
  return {p.k, p.k16, p.k_stride, p.input_type};
}
HWY_INLINE InputTensor ValueInput(const AttentionParams& p) {
  return {p.v, p.v16, p.v_stride, p.input_type};
}
// The forward's output, in p.output_type.
HWY_INLINE InputTensor OutputInput(const AttentionParams& p) {
  return {p.out, p.out16, p.out_stride, p.output_type};
}
HWY_INLINE InputTensor DoutInput(const AttentionParams& p, const AttentionGrads& g) {
  return {g.dout, g.dout16, g.dout_stride, p.input_type};
}

// Rows [r0, r0 + rows) of (b, h) of x, `cols` columns: a view of x.f32, or for a 16-bit x the
// rows widened into buffer [rows][cols] (which then must hold them).
HWY_INLINE FloatRows RowsOf(const InputTensor& x, int64_t b, int64_t h, int64_t r0, int64_t rows,
                            int64_t cols, float* buffer) {
  if (!x.x16) return {x.f32 + x.s.offset(b, h, r0, 0), x.s.row, x.s.col};
  const uint16_t* first = x.x16 + x.s.offset(b, h, r0, 0);
  for (int64_t j = 0; j < rows; ++j) {
    WidenRow(first + j * x.s.row, x.s.col, x.t, buffer + j * cols, cols);
  }
  return {buffer, cols, 1};
}

// A thread's buffer for blocks of up to `rows` rows of `cols` columns: none for fp32 inputs.
HWY_INLINE float* CarveRowsBuffer(ScratchArena& a, ElementType input_type, int64_t rows,
                                  int64_t cols) {
  return input_type == ElementType::kF32 ? nullptr : a.take<float>(rows * cols);
}

}  // namespace attn::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // ATTN_KERNELS_INPUT_ROWS_INL_H_
