#include "attn/nn/mean_pooling.h"

#include "attn/core/error.h"
#include "attn/nn/attention_pooling.h"

namespace attn::nn {

Tensor MeanPooling::forward(const Tensor& x, std::span<const int64_t> lengths) {
  ATTN_CHECK(x.shape().size() == 3, "MeanPooling: expected x [B, T, C]");
  const int64_t B = x.dim(0), T = x.dim(1), C = x.dim(2);
  const std::vector<int64_t> n = pooling_lengths(lengths, B, T, "MeanPooling");
  dim_ = C;
  w_ = Tensor({B, T});
  Tensor y({B, C});
  for (int64_t b = 0; b < B; ++b) {
    const float w = 1.0f / static_cast<float>(n[b]);
    float* yb = y.data() + b * C;
    for (int64_t t = 0; t < n[b]; ++t) {
      w_.data()[b * T + t] = w;
      const float* xt = x.data() + (b * T + t) * C;
      for (int64_t c = 0; c < C; ++c) yb[c] += w * xt[c];
    }
  }
  return y;
}

Tensor MeanPooling::backward(const Tensor& dy) const {
  const int64_t B = w_.dim(0), T = w_.dim(1), C = dim_;
  ATTN_CHECK(dy.shape() == std::vector<int64_t>({B, C}), "MeanPooling: expected dy [", B, ", ", C,
             "]");
  Tensor dx({B, T, C});
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = 0; t < T; ++t) {  // y = Σ_t w_t·x_t  →  dx_t = w_t·dy
      const float w = w_.data()[b * T + t];
      for (int64_t c = 0; c < C; ++c) dx.data()[(b * T + t) * C + c] = w * dy.data()[b * C + c];
    }
  }
  return dx;
}

}  // namespace attn::nn
