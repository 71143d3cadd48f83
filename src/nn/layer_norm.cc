#include "attn/nn/layer_norm.h"

#include <cmath>

#include "attn/core/error.h"
#include "attn/nn/random.h"
#include "attn/nn/tensor_ops.h"
#include "nn/row_sums.h"

namespace attn::nn {

LayerNorm::LayerNorm(int64_t dim, float eps, bool bias)
    : dim_(dim),
      eps_(eps),
      has_bias_(bias),
      weight_({dim}),
      bias_({bias ? dim : 0}),
      dweight_({dim}),
      dbias_({bias ? dim : 0}) {
  ATTN_CHECK(dim > 0 && eps > 0, "LayerNorm: dim and eps must be positive, got ", dim, " and ",
             eps);
  fill_constant(weight_, 1.0f);
}

Tensor LayerNorm::forward(const Tensor& x) {
  const int64_t rows = rows_of(x, dim_, "LayerNorm input");
  const int64_t C = dim_;
  x_ = clone(x);
  mean_.assign(rows, 0.0f);
  rstd_.assign(rows, 0.0f);
  Tensor y(x.shape(), Tensor::Uninitialized{});
  const float* w = weight_.data();
  const float* b = has_bias_ ? bias_.data() : nullptr;
#pragma omp parallel for schedule(static) if (rows * C > (1 << 15))
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x.data() + r * C;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t c = 0; c < C; ++c) sum += xr[c];
    const float mean = sum / C;  // mean = Σ x / C
    float var = 0.0f;
#pragma omp simd reduction(+ : var)
    for (int64_t c = 0; c < C; ++c) var += (xr[c] - mean) * (xr[c] - mean);
    const float rstd = 1.0f / std::sqrt(var / C + eps_);  // rstd = 1/√(var + eps)
    float* yr = y.data() + r * C;
    for (int64_t c = 0; c < C; ++c) {
      const float xhat = (xr[c] - mean) * rstd;  // x̂ = (x − mean)·rstd
      yr[c] = xhat * w[c] + (b ? b[c] : 0.0f);   // y = x̂·w + b
    }
    mean_[r] = mean;
    rstd_[r] = rstd;
  }
  return y;
}

Tensor LayerNorm::backward(const Tensor& dy) {
  const int64_t rows = rows_of(dy, dim_, "LayerNorm output gradient");
  ATTN_CHECK(rows == static_cast<int64_t>(mean_.size()),
             "LayerNorm backward: dy does not match the last forward's input");
  const int64_t C = dim_;
  const float* w = weight_.data();
  const float* x = x_.data();
  auto xhat = [&](int64_t r, int64_t c) { return (x[r * C + c] - mean_[r]) * rstd_[r]; };
  Tensor dx(dy.shape(), Tensor::Uninitialized{});
#pragma omp parallel for schedule(static) if (rows * C > (1 << 15))
  for (int64_t r = 0; r < rows; ++r) {
    const float* dyr = dy.data() + r * C;
    // y = x̂·w + b   →   dx̂ = dy·w
    // x̂ = (x − mean)·rstd, with mean and rstd functions of the row:
    //   dx = rstd · (dx̂ − mean(dx̂) − x̂ · mean(dx̂ · x̂))
    float mean_dxhat = 0.0f, mean_dxhat_xhat = 0.0f;
#pragma omp simd reduction(+ : mean_dxhat, mean_dxhat_xhat)
    for (int64_t c = 0; c < C; ++c) {
      mean_dxhat += dyr[c] * w[c];
      mean_dxhat_xhat += dyr[c] * w[c] * xhat(r, c);
    }
    mean_dxhat /= C;
    mean_dxhat_xhat /= C;
    float* dxr = dx.data() + r * C;
    for (int64_t c = 0; c < C; ++c) {
      dxr[c] = rstd_[r] * (dyr[c] * w[c] - mean_dxhat - xhat(r, c) * mean_dxhat_xhat);
    }
  }
  // y = x̂·w + b   →   dw += Σ_rows dy·x̂,   db += Σ_rows dy
  const float* d = dy.data();
  detail::accumulate_over_rows(dweight_.data(), rows, C,
                               [&](int64_t r, int64_t c) { return d[r * C + c] * xhat(r, c); });
  if (has_bias_) {
    detail::accumulate_over_rows(dbias_.data(), rows, C,
                                 [&](int64_t r, int64_t c) { return d[r * C + c]; });
  }
  return dx;
}

std::vector<Parameter> LayerNorm::parameters() {
  std::vector<Parameter> params = {make_parameter("weight", weight_, dweight_, false)};
  if (has_bias_) params.push_back(make_parameter("bias", bias_, dbias_, false));
  return params;
}

}  // namespace attn::nn
