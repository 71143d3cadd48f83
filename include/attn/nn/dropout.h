// Dropout with a counter-based mask: element i of the call at `step` is kept when
//   counter_uniform(seed, step, i) ≥ p,
// so the mask is reproducible from (seed, step), regenerated in the backward pass instead of
// stored, and the same for any number of threads. Kept elements are scaled by 1/(1 − p)
// ("inverted" dropout), so evaluation needs no rescaling.
//
//   x [...]  →  y = x ∘ mask / (1 − p)    (training; y = x otherwise)
#pragma once

#include <cstdint>

#include "attn/core/tensor.h"

namespace attn::nn {

class Dropout {
 public:
  Dropout(float p, uint64_t seed);  // 0 ≤ p < 1

  // `step` selects the mask: pass the training step (and a distinct seed per layer).
  Tensor forward(const Tensor& x, uint64_t step, bool training = true);
  // dx = dy ∘ mask / (1 − p), the mask of the last forward.
  Tensor backward(const Tensor& dy) const;

  // Whether element `index` is kept at `step`.
  bool keeps(uint64_t step, uint64_t index) const;
  float p() const { return p_; }

 private:
  // out = in ∘ mask(step) · scale, or a copy when the last forward was not training.
  Tensor apply_mask(const Tensor& in, uint64_t step) const;

  float p_;
  uint64_t seed_;
  uint64_t step_ = 0;    // of the last forward
  bool active_ = false;  // the last forward dropped anything
};

}  // namespace attn::nn
