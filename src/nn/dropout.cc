#include "attn/nn/dropout.h"

#include "attn/core/error.h"
#include "attn/nn/random.h"
#include "attn/nn/tensor_ops.h"

namespace attn::nn {

Dropout::Dropout(float p, uint64_t seed) : p_(p), seed_(seed) {
  ATTN_CHECK(p >= 0.0f && p < 1.0f, "Dropout: p must be in [0, 1), got ", p);
}

bool Dropout::keeps(uint64_t step, uint64_t index) const {
  return counter_uniform(seed_, step, index) >= p_;
}

Tensor Dropout::apply_mask(const Tensor& in, uint64_t step) const {
  if (!active_) return clone(in);
  Tensor out(in.shape());
  const float scale = 1.0f / (1.0f - p_);
  const int64_t n = static_cast<int64_t>(in.size());
#pragma omp parallel for schedule(static) if (n > (1 << 15))
  for (int64_t i = 0; i < n; ++i) out.data()[i] = keeps(step, i) ? in.data()[i] * scale : 0.0f;
  return out;
}

Tensor Dropout::forward(const Tensor& x, uint64_t step, bool training) {
  step_ = step;
  active_ = training && p_ > 0.0f;
  return apply_mask(x, step_);  // y = x ∘ mask / (1 − p)
}

Tensor Dropout::backward(const Tensor& dy) const {
  // y = x ∘ mask / (1 − p)   →   dx = dy ∘ mask / (1 − p), the same mask regenerated
  return apply_mask(dy, step_);
}

}  // namespace attn::nn
