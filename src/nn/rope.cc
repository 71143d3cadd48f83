#include "attn/nn/rope.h"

#include <cmath>
#include <vector>

#include "attn/error.h"
#include "attn/nn/tensor_ops.h"

namespace attn::nn {

Rope::Rope(int64_t head_dim, double base) : head_dim_(head_dim), base_(base) {
  ATTN_CHECK(head_dim > 0 && head_dim % 2 == 0, "Rope: head_dim must be even and positive, got ",
             head_dim);
  ATTN_CHECK(base > 0, "Rope: base must be positive, got ", base);
}

void Rope::apply(float* x, const Strides4& s, int64_t batch, int64_t heads, int64_t len,
                 int64_t start, float sign) const {
  const int64_t half = head_dim_ / 2;
  // cos θ and ±sin θ for every (row, pair), angles in double.
  std::vector<float> cos_t(len * half), sin_t(len * half);
  for (int64_t l = 0; l < len; ++l) {
    for (int64_t i = 0; i < half; ++i) {
      const double theta = static_cast<double>(start + l) *
                           std::pow(base_, -2.0 * static_cast<double>(i) / head_dim_);
      cos_t[l * half + i] = static_cast<float>(std::cos(theta));
      sin_t[l * half + i] = sign * static_cast<float>(std::sin(theta));
    }
  }
#pragma omp parallel for collapse(2) schedule(static) if (batch * heads * len * half > (1 << 15))
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t h = 0; h < heads; ++h) {
      for (int64_t l = 0; l < len; ++l) {
        float* v = x + s.offset(b, h, l, 0);
        for (int64_t i = 0; i < half; ++i) {
          const float c = cos_t[l * half + i], sn = sin_t[l * half + i];
          const float x0 = v[2 * i * s.col], x1 = v[(2 * i + 1) * s.col];
          v[2 * i * s.col] = x0 * c - x1 * sn;  // x'[2i]   = x[2i]·cos θ − x[2i+1]·sin θ
          v[(2 * i + 1) * s.col] = x0 * sn + x1 * c;  // x'[2i+1] = x[2i]·sin θ + x[2i+1]·cos θ
        }
      }
    }
  }
}

void Rope::rotate(float* x, const Strides4& s, int64_t batch, int64_t heads, int64_t len,
                  int64_t start) const {
  apply(x, s, batch, heads, len, start, 1.0f);
}

void Rope::rotate_back(float* dx, const Strides4& s, int64_t batch, int64_t heads, int64_t len,
                       int64_t start) const {
  // x' = R(θ)·x with R orthogonal   →   dx = R(θ)ᵀ·dx' = R(−θ)·dx'
  apply(dx, s, batch, heads, len, start, -1.0f);
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
