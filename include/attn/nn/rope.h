// RoPE — rotary position embedding (Su et al., RoFormer) on the heads of queries and keys.
//
// The layer around the rotation of attn/kernels/rope.h (which states the math): the backward
// rotates the gradient by −θ.
#pragma once

#include <cstdint>

#include "attn/core/tensor.h"

namespace attn::nn {

class Rope {
 public:
  explicit Rope(int64_t head_dim, double base = 10000.0);  // head_dim even

  // Rotates x in place, viewed as [B, H, L, D] with strides s (indexed [b, h, l, d], so both the
  // [B, L, H, D] and [B, H, L, D] layouts work); row l is at position start + l.
  void rotate(float* x, const Strides4& s, int64_t batch, int64_t heads, int64_t len,
              int64_t start = 0) const;
  // The inverse (rotation by −θ): the backward of rotate, applied to a gradient in place.
  void rotate_back(float* dx, const Strides4& s, int64_t batch, int64_t heads, int64_t len,
                   int64_t start = 0) const;

  // The layer form: x [B, T, H, D] → rotated copy; backward(dy) → dx (positions of the last
  // forward).
  Tensor forward(const Tensor& x, int64_t start = 0);
  Tensor backward(const Tensor& dy) const;

  int64_t head_dim() const { return head_dim_; }

 private:
  int64_t head_dim_;
  double base_;
  int64_t start_ = 0;  // of the last forward
};

}  // namespace attn::nn
