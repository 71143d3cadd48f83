#include "attn/nn/attention_pooling.h"

#include <algorithm>
#include <cmath>

#include "attn/core/error.h"
#include "attn/nn/random.h"
#include "attn/nn/tensor_ops.h"

namespace attn::nn {

std::vector<int64_t> pooling_lengths(std::span<const int64_t> lengths, int64_t batch, int64_t len,
                                     const char* what) {
  if (lengths.empty()) return std::vector<int64_t>(static_cast<size_t>(batch), len);
  ATTN_CHECK(static_cast<int64_t>(lengths.size()) == batch, what, ": ", lengths.size(),
             " lengths for a batch of ", batch);
  for (int64_t n : lengths) {
    ATTN_CHECK(n >= 1 && n <= len, what, ": length ", n, " is outside [1, T = ", len, "]");
  }
  return {lengths.begin(), lengths.end()};
}

AttentionPooling::AttentionPooling(int64_t dim, int64_t attention_dim, uint64_t seed,
                                   float query_std)
    : dim_(dim),
      attention_dim_(attention_dim),
      proj_(dim, attention_dim, /*bias=*/true, derive_seed(seed, 1)),
      u_({attention_dim}),
      du_({attention_dim}) {
  fill_normal(u_, query_std, derive_seed(seed, 2));
}

namespace {

// w[0, n) = softmax(s[0, n)), w[n, T) = 0.
void masked_softmax(const float* s, float* w, int64_t n, int64_t len) {
  const float top = *std::max_element(s, s + n);
  double sum = 0.0;
  for (int64_t t = 0; t < n; ++t) sum += w[t] = std::exp(s[t] - top);
  for (int64_t t = 0; t < n; ++t) w[t] = static_cast<float>(w[t] / sum);
  std::fill(w + n, w + len, 0.0f);
}

}  // namespace

Tensor AttentionPooling::forward(const Tensor& x, std::span<const int64_t> lengths) {
  ATTN_CHECK(x.shape().size() == 3 && x.dim(2) == dim_, "AttentionPooling: expected x [B, T, ",
             dim_, "]");
  const int64_t B = x.dim(0), T = x.dim(1), C = dim_, A = attention_dim_;
  const std::vector<int64_t> n = pooling_lengths(lengths, B, T, "AttentionPooling");
  x_ = clone(x);
  a_ = proj_.forward(x);  // W·x_t + b  [B, T, A]
  for (size_t i = 0; i < a_.size(); ++i) a_.data()[i] = std::tanh(a_.data()[i]);
  w_ = Tensor({B, T});
  Tensor y({B, C});
  std::vector<float> s(static_cast<size_t>(T));
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = 0; t < T; ++t) {  // s_t = uᵀ·a_t
      const float* a = a_.data() + (b * T + t) * A;
      double dot = 0.0;
      for (int64_t k = 0; k < A; ++k) dot += double(u_.data()[k]) * a[k];
      s[t] = static_cast<float>(dot);
    }
    float* w = w_.data() + b * T;
    masked_softmax(s.data(), w, n[b], T);
    float* yb = y.data() + b * C;  // y = Σ_t w_t·x_t
    for (int64_t t = 0; t < n[b]; ++t) {
      const float* xt = x_.data() + (b * T + t) * C;
      for (int64_t c = 0; c < C; ++c) yb[c] += w[t] * xt[c];
    }
  }
  return y;
}

Tensor AttentionPooling::backward(const Tensor& dy) {
  const int64_t B = x_.dim(0), T = x_.dim(1), C = dim_, A = attention_dim_;
  ATTN_CHECK(dy.shape() == std::vector<int64_t>({B, C}), "AttentionPooling: expected dy [", B, ", ",
             C, "]");
  Tensor dx({B, T, C});
  Tensor dz({B, T, A});
  std::vector<double> dw(static_cast<size_t>(T));
  for (int64_t b = 0; b < B; ++b) {
    const float* g = dy.data() + b * C;
    const float* w = w_.data() + b * T;
    double mean = 0.0;  // Σ_t w_t·dw_t
    for (int64_t t = 0; t < T; ++t) {
      // y = Σ_t w_t·x_t  →  dx_t = w_t·dy,  dw_t = dyᵀ·x_t
      const float* xt = x_.data() + (b * T + t) * C;
      float* dxt = dx.data() + (b * T + t) * C;
      double d = 0.0;
      for (int64_t c = 0; c < C; ++c) {
        dxt[c] = w[t] * g[c];
        d += double(g[c]) * xt[c];
      }
      dw[t] = d;
      mean += w[t] * d;
    }
    for (int64_t t = 0; t < T; ++t) {
      // w = softmax(s)  →  ds_t = w_t·(dw_t − Σ w·dw)   (0 on padding, where w_t = 0)
      const float ds = static_cast<float>(w[t] * (dw[t] - mean));
      const float* a = a_.data() + (b * T + t) * A;
      float* dzt = dz.data() + (b * T + t) * A;
      for (int64_t k = 0; k < A; ++k) {
        du_.data()[k] += ds * a[k];                         // s_t = uᵀ·a_t
        dzt[k] = ds * u_.data()[k] * (1.0f - a[k] * a[k]);  // a = tanh(z)
      }
    }
  }
  add_into(dx, proj_.backward(dz));  // z = W·x_t + b
  return dx;
}

std::vector<Parameter> AttentionPooling::parameters() {
  std::vector<Parameter> params;
  append_parameters(params, "proj", proj_.parameters());
  params.push_back(make_parameter("query", u_, du_, /*decay=*/false));
  return params;
}

}  // namespace attn::nn
