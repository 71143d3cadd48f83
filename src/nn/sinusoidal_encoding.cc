#include "attn/nn/sinusoidal_encoding.h"

#include <cmath>

#include "attn/core/error.h"
#include "attn/nn/tensor_ops.h"

namespace attn::nn {

SinusoidalEncoding::SinusoidalEncoding(int64_t dim, double base) : dim_(dim), base_(base) {
  ATTN_CHECK(dim > 0 && base > 0, "SinusoidalEncoding: dim and base must be positive");
}

Tensor SinusoidalEncoding::table(int64_t start, int64_t len) const {
  Tensor pe({len, dim_});
  for (int64_t t = 0; t < len; ++t) {
    for (int64_t c = 0; c < dim_; ++c) {
      const int64_t even = c - c % 2;  // 2i
      const double angle = static_cast<double>(start + t) *
                           std::pow(base_, -static_cast<double>(even) / static_cast<double>(dim_));
      pe.data()[t * dim_ + c] = static_cast<float>(c % 2 == 0 ? std::sin(angle) : std::cos(angle));
    }
  }
  return pe;
}

Tensor SinusoidalEncoding::forward(const Tensor& x, int64_t start) const {
  ATTN_CHECK(x.shape().size() == 3 && x.dim(2) == dim_, "SinusoidalEncoding: expected x [B, T, ",
             dim_, "]");
  const int64_t batch = x.dim(0), len = x.dim(1);
  const Tensor pe = table(start, len);
  Tensor y = clone(x);
  // y[b, t] = x[b, t] + PE[start + t]
  for (int64_t b = 0; b < batch; ++b) {
    float* row = y.data() + b * len * dim_;
    for (int64_t i = 0; i < len * dim_; ++i) row[i] += pe.data()[i];
  }
  return y;
}

Tensor SinusoidalEncoding::backward(const Tensor& dy) const {
  // forward: y = x + PE   →   dx = dy
  return clone(dy);
}

}  // namespace attn::nn
