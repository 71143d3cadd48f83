// bf16 and f16 attention through the fp32 kernels: the 16-bit tensors of a call are widened to
// float (exactly) once per call, the fp32 kernel runs on the copies, and a 16-bit output is
// rounded (to nearest even) when written. The copies are contiguous [B, H, L, D]; they cost one
// fp32 tensor each, and O(L·D) conversions against the kernels' O(Lq·Lk·D) work.
#pragma once

#include <cstdint>
#include <vector>

#include "attn/core/attention_params.h"
#include "attn/core/element_type.h"
#include "attn/core/tensor.h"
#include "attn/kernels/attention.h"

namespace attn {

// A 16-bit problem seen as an fp32 one.
struct WidenedProblem {
  AttentionParams params;  // input_type and output_type kF32; q, k, v at the copies below, and
                           // out at p.out or, when p has a 16-bit output, at `out`
  std::vector<float> q, k, v, out;
};

// The fp32 view of p (input_type kBF16 or kF16). With read_out, a 16-bit output (the forward's,
// for the backward) is widened into the copy; otherwise the copy is left zero.
WidenedProblem widen_problem(const AttentionParams& p, bool read_out);

// x [B, H, L, D] (bit patterns of type t, with strides s) as contiguous floats.
std::vector<float> widen_tensor(const uint16_t* x, const Strides4& s, ElementType t, int64_t batch,
                                int64_t heads, int64_t len, int64_t dim);

// Rounds out32 [B, Hq, Lq, Dv] (contiguous) into p.out16 (p.output_type, p.out_stride).
void write_narrowed_output(const AttentionParams& p, const float* out32);

// The kernels' entry points for 16-bit inputs (p.input_type kBF16 or kF16; p validated).
void flash_attention_forward_widened(const AttentionParams& p);
void flash_attention_backward_widened(const AttentionParams& p, const AttentionGrads& g);
void attention_weights_widened(const AttentionParams& p, const WeightsRequest& request);

}  // namespace attn
