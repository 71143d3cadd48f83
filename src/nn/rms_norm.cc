#include "attn/nn/rms_norm.h"

#include <cmath>

#include "attn/core/error.h"
#include "attn/nn/random.h"
#include "attn/nn/tensor_ops.h"
#include "nn/row_sums.h"

namespace attn::nn {

RMSNorm::RMSNorm(int64_t dim, float eps) : dim_(dim), eps_(eps), weight_({dim}), dweight_({dim}) {
  ATTN_CHECK(dim > 0 && eps > 0, "RMSNorm: dim and eps must be positive, got ", dim, " and ", eps);
  fill_constant(weight_, 1.0f);
}

Tensor RMSNorm::forward(const Tensor& x) {
  const int64_t rows = rows_of(x, dim_, "RMSNorm input");
  const int64_t C = dim_;
  x_ = clone(x);
  rrms_.assign(rows, 0.0f);
  Tensor y(x.shape());
  const float* w = weight_.data();
#pragma omp parallel for schedule(static) if (rows * C > (1 << 15))
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x.data() + r * C;
    float sum_sq = 0.0f;
    for (int64_t c = 0; c < C; ++c) sum_sq += xr[c] * xr[c];
    const float rrms = 1.0f / std::sqrt(sum_sq / C + eps_);  // rrms = 1/√(mean(x²) + eps)
    float* yr = y.data() + r * C;
    for (int64_t c = 0; c < C; ++c) yr[c] = xr[c] * rrms * w[c];  // y = x·rrms·w
    rrms_[r] = rrms;
  }
  return y;
}

Tensor RMSNorm::backward(const Tensor& dy) {
  const int64_t rows = rows_of(dy, dim_, "RMSNorm output gradient");
  ATTN_CHECK(rows == static_cast<int64_t>(rrms_.size()),
             "RMSNorm backward: dy does not match the last forward's input");
  const int64_t C = dim_;
  const float* w = weight_.data();
  const float* x = x_.data();
  Tensor dx(dy.shape());
#pragma omp parallel for schedule(static) if (rows * C > (1 << 15))
  for (int64_t r = 0; r < rows; ++r) {
    const float* dyr = dy.data() + r * C;
    const float* xr = x + r * C;
    // y = x̂·w with x̂ = x·rrms   →   dx̂ = dy·w
    // rrms depends on the row (d rrms/dx_j = −rrms³·x_j / C):
    //   dx = rrms · (dx̂ − x̂ · mean(dx̂ · x̂))
    float mean_dxhat_xhat = 0.0f;
    for (int64_t c = 0; c < C; ++c) mean_dxhat_xhat += dyr[c] * w[c] * xr[c] * rrms_[r];
    mean_dxhat_xhat /= C;
    float* dxr = dx.data() + r * C;
    for (int64_t c = 0; c < C; ++c) {
      dxr[c] = rrms_[r] * (dyr[c] * w[c] - xr[c] * rrms_[r] * mean_dxhat_xhat);
    }
  }
  // y = x̂·w   →   dw += Σ_rows dy·x̂
  const float* d = dy.data();
  detail::accumulate_over_rows(dweight_.data(), rows, C, [&](int64_t r, int64_t c) {
    return d[r * C + c] * x[r * C + c] * rrms_[r];
  });
  return dx;
}

std::vector<Parameter> RMSNorm::parameters() {
  return {make_parameter("weight", weight_, dweight_, false)};
}

}  // namespace attn::nn
