// The textbook reference: scores → softcap → ALiBi → masks → softmax → (dropout) → weights·V,
// one row at a time, one readable step after another (the steps are in reference_steps.h, shared
// with the backward). Accumulating in double it is the reference; in float it is the "plain fp32
// three-step implementation" whose error sets the tests' tolerance. It materialises each row of
// scores (O(Lk) per row) on purpose.
#include "attn/ref/attention_reference.h"

#include "kernels/widened_inputs.h"
#include "ref/reference_steps.h"

namespace attn {

ReferenceResult attention_reference(const AttentionParams& p, bool with_weights) {
  if (p.input_type != ElementType::kF32) {  // the rounded inputs, widened exactly
    return attention_reference(widen_problem(p, /*read_out=*/false).params, with_weights);
  }
  ReferenceResult r;
  ref::attention_rows<double>(p, ref::QkvView<float>{p.q, p.k, p.v}, r.out, &r.lse,
                              with_weights ? &r.weights : nullptr);
  return r;
}

std::vector<float> attention_naive_fp32(const AttentionParams& p) {
  if (p.input_type != ElementType::kF32) {
    return attention_naive_fp32(widen_problem(p, /*read_out=*/false).params);
  }
  std::vector<float> out;
  ref::attention_rows<float>(p, ref::QkvView<float>{p.q, p.k, p.v}, out, nullptr, nullptr);
  return out;
}

}  // namespace attn
