// Whole fp32 copies of the 16-bit tensors of a call, for the reference implementations and the
// tests (the fp32 twin of a 16-bit problem). The flash kernels never make them: they widen one
// tile at a time (input_rows-inl.h). The copies are contiguous [B, H, L, D] and exact; the
// widening is per SIMD target (widen-inl.h), the same code the kernels run.
#pragma once

#include <cstdint>
#include <vector>

#include "attn/core/attention_params.h"
#include "attn/core/element_type.h"
#include "attn/core/tensor.h"

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

}  // namespace attn
