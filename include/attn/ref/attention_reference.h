// The textbook reference of scaled dot-product attention, and a plain fp32 implementation.
//
// attention_reference follows the formula one readable step at a time, accumulating in double:
//   scores = Q·Kᵀ·scale → softcap → ALiBi → masks → softmax → (dropout) → weights·V
// It materialises the Lq×Lk scores on purpose: it is the definition the fast kernels are held to,
// not a fast path. attention_reference_backward differentiates it step by step. The *_fp32 twins
// run the same steps in float; the tests measure their error against the reference to set the
// tolerance of the fast kernels.
#pragma once

#include <vector>

#include "attn/core/attention_params.h"

namespace attn {

struct ReferenceResult {
  std::vector<double> out;      // [B, Hq, Lq, Dv], contiguous
  std::vector<double> lse;      // [B, Hq, Lq]; −inf for a fully masked row
  std::vector<double> weights;  // [B, Hq, Lq, Lk] when asked for, else empty
};

// Reads the inputs of p (p.out and p.lse are ignored); bf16 and f16 inputs are widened exactly,
// so the reference is that of the rounded inputs.
ReferenceResult attention_reference(const AttentionParams& p, bool with_weights = false);

struct ReferenceGrads {
  std::vector<double> dq;  // [B, Hq, Lq, D], contiguous
  std::vector<double> dk;  // [B, Hkv, Lk, D]
  std::vector<double> dv;  // [B, Hkv, Lk, Dv]
};

// The backward of attention_reference in double: dq, dk, dv for dout [B, Hq, Lq, Dv] viewed with
// dout_stride (p.out and p.lse are ignored). dout is float for every input type (the widened
// 16-bit dout of a bf16 or f16 problem).
ReferenceGrads attention_reference_backward(const AttentionParams& p, const float* dout,
                                            const Strides4& dout_stride);

// The same three steps in float (matmul, softmax, matmul): returns out [B, Hq, Lq, Dv]. With
// bf16 or f16 inputs it is the plain implementation in that precision (fp32 accumulation, as
// mixed-precision matmuls do); its output is float, to be rounded to p.output_type by the caller.
std::vector<float> attention_naive_fp32(const AttentionParams& p);

struct NaiveGrads {
  std::vector<float> dq;  // [B, Hq, Lq, D], contiguous
  std::vector<float> dk;  // [B, Hkv, Lk, D]
  std::vector<float> dv;  // [B, Hkv, Lk, Dv]
};

// The backward of attention_reference computed in float: the plain fp32 twin whose error against
// attention_reference_backward sets the tolerance of the flash backward. With a bf16 or f16
// output type, the recomputed output is rounded to it before Δ = Σ dO ∘ O, as an implementation
// in that precision reads its stored output.
NaiveGrads attention_naive_backward_fp32(const AttentionParams& p, const float* dout,
                                         const Strides4& dout_stride);

}  // namespace attn
