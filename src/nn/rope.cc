#include "attn/nn/rope.h"

#include "attn/core/error.h"
#include "attn/kernels/rope.h"
#include "attn/nn/tensor_ops.h"

namespace attn::nn {

Rope::Rope(int64_t head_dim, double base) : head_dim_(head_dim), base_(base) {
  ATTN_CHECK(head_dim > 0 && head_dim % 2 == 0, "Rope: head_dim must be even and positive, got ",
             head_dim);
  ATTN_CHECK(base > 0, "Rope: base must be positive, got ", base);
}

void Rope::rotate(float* x, const Strides4& s, int64_t batch, int64_t heads, int64_t len,
                  int64_t start) const {
  rope_rotate(x, s, batch, heads, len, head_dim_, start, base_);
}

void Rope::rotate_back(float* dx, const Strides4& s, int64_t batch, int64_t heads, int64_t len,
                       int64_t start) const {
  // x' = R(θ)·x with R orthogonal   →   dx = R(θ)ᵀ·dx' = R(−θ)·dx'
  rope_rotate(dx, s, batch, heads, len, head_dim_, start, base_, RopeDirection::kInverse);
}

Tensor Rope::forward(const Tensor& x, int64_t start) {
  ATTN_CHECK(x.shape().size() == 4 && x.dim(3) == head_dim_, "Rope: expected x [B, T, H, ",
             head_dim_, "]");
  start_ = start;
  Tensor y = clone(x);
  rotate(y.data(), blhd_strides(x.dim(2), x.dim(1), head_dim_), x.dim(0), x.dim(2), x.dim(1),
         start);
  return y;
}

Tensor Rope::backward(const Tensor& dy) const {
  ATTN_CHECK(dy.shape().size() == 4 && dy.dim(3) == head_dim_, "Rope: expected dy [B, T, H, ",
             head_dim_, "]");
  Tensor dx = clone(dy);
  rotate_back(dx.data(), blhd_strides(dy.dim(2), dy.dim(1), head_dim_), dy.dim(0), dy.dim(2),
              dy.dim(1), start_);
  return dx;
}

}  // namespace attn::nn
