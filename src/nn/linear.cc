#include "attn/nn/linear.h"

#include <cblas.h>

#include <cmath>
#include <cstring>

#include "attn/error.h"
#include "attn/nn/random.h"
#include "attn/nn/tensor_ops.h"
#include "nn/row_sums.h"

namespace attn::nn {

namespace {
blasint as_blas(int64_t v) { return static_cast<blasint>(v); }
}  // namespace

void linear_forward(float* y, const float* x, const float* w, const float* b, int64_t n, int64_t in,
                    int64_t out) {
  if (n == 0 || out == 0) return;
  // y = b (broadcast over rows), then y += x · Wᵀ.
  for (int64_t r = 0; b != nullptr && r < n; ++r) std::memcpy(y + r * out, b, out * sizeof(float));
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, as_blas(n), as_blas(out), as_blas(in), 1.0f,
              x, as_blas(in), w, as_blas(in), b != nullptr ? 1.0f : 0.0f, y, as_blas(out));
}

void linear_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                     const float* w, int64_t n, int64_t in, int64_t out) {
  if (n == 0) return;
  // forward: y = x · Wᵀ + b
  // dx = dy · W
  if (dx != nullptr) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, as_blas(n), as_blas(in), as_blas(out),
                1.0f, dy, as_blas(out), w, as_blas(in), 0.0f, dx, as_blas(in));
  }
  // dW += dyᵀ · x
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, as_blas(out), as_blas(in), as_blas(n), 1.0f,
              dy, as_blas(out), x, as_blas(in), 1.0f, dw, as_blas(in));
  // db += Σ_rows dy
  if (db != nullptr) {
    detail::accumulate_over_rows(db, n, out, [&](int64_t r, int64_t c) { return dy[r * out + c]; });
  }
}

Linear::Linear(int64_t in, int64_t out, bool bias, uint64_t seed, float init_std)
    : in_(in),
      out_(out),
      has_bias_(bias),
      w_({out, in}),
      b_({bias ? out : 0}),
      dw_({out, in}),
      db_({bias ? out : 0}) {
  ATTN_CHECK(in > 0 && out > 0, "Linear: in and out must be positive, got ", in, " and ", out);
  const float std = init_std > 0 ? init_std : 1.0f / std::sqrt(static_cast<float>(in));
  fill_normal(w_, std, seed);
}

Tensor Linear::forward(const Tensor& x) {
  const int64_t n = rows_of(x, in_, "Linear input");
  x_ = clone(x);
  Tensor y(with_last_dim(x.shape(), out_));
  linear_forward(y.data(), x.data(), w_.data(), has_bias_ ? b_.data() : nullptr, n, in_, out_);
  return y;
}

Tensor Linear::backward(const Tensor& dy) {
  const int64_t n = rows_of(dy, out_, "Linear output gradient");
  ATTN_CHECK(n * in_ == static_cast<int64_t>(x_.size()),
             "Linear backward: dy does not match the last forward's input");
  Tensor dx(x_.shape());
  linear_backward(dx.data(), dw_.data(), has_bias_ ? db_.data() : nullptr, dy.data(), x_.data(),
                  w_.data(), n, in_, out_);
  return dx;
}

std::vector<Parameter> Linear::parameters() {
  std::vector<Parameter> params = {make_parameter("weight", w_, dw_, true)};
  if (has_bias_) params.push_back(make_parameter("bias", b_, db_, false));
  return params;
}

}  // namespace attn::nn
