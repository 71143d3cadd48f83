#include "attn/nn/linear.h"

#include <cblas.h>

#include <cmath>
#include <cstring>

#include "attn/core/error.h"
#include "attn/nn/matmul_precision.h"
#include "attn/nn/random.h"
#include "attn/nn/tensor_ops.h"
#include "nn/bf16_matmul.h"
#include "nn/row_sums.h"

namespace attn::nn {

namespace detail {
// The bf16 copies of the last forward's input x [n, in] and weight W [out, in].
struct LinearBf16State {
  Bf16Buffer x, w;
};
}  // namespace detail

namespace {
blasint as_blas(int64_t v) { return static_cast<blasint>(v); }

// y [n, out] = x [n, in] · W [out, in]ᵀ + b, from the bf16 copies of x and W.
void bf16_forward(float* y, const detail::LinearBf16State& s, const float* b, int64_t n, int64_t in,
                  int64_t out) {
  const detail::Bf16Matrix x{s.x.data(), n, in, in, 1};
  const detail::Bf16Matrix wt{s.w.data(), in, out, 1, in};  // Wᵀ: a transposed view
  detail::bf16_matmul(x, wt, b, y, /*accumulate=*/false);
}

// dx [n, in] = dy · W,   dW [out, in] += dyᵀ · x,   db += Σ_rows dy   (dy in fp32 and bf16)
void bf16_backward(float* dx, float* dw, float* db, const float* dy, const detail::Bf16Buffer& dyb,
                   const detail::LinearBf16State& s, int64_t n, int64_t in, int64_t out) {
  const detail::Bf16Matrix dy_m{dyb.data(), n, out, out, 1};
  detail::bf16_matmul(dy_m, {s.w.data(), out, in, in, 1}, nullptr, dx, /*accumulate=*/false);
  const detail::Bf16Matrix dyt{dyb.data(), out, n, 1, out};  // dyᵀ: a transposed view
  detail::bf16_matmul(dyt, {s.x.data(), n, in, in, 1}, nullptr, dw, /*accumulate=*/true);
  if (db != nullptr) {
    detail::accumulate_over_rows(db, n, out, [&](int64_t r, int64_t c) { return dy[r * out + c]; });
  }
}
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

Linear::Linear(Linear&&) noexcept = default;
Linear& Linear::operator=(Linear&&) noexcept = default;
Linear::~Linear() = default;

Tensor Linear::forward(const Tensor& x) {
  const int64_t n = rows_of(x, in_, "Linear input");
  x_shape_ = x.shape();
  Tensor y(with_last_dim(x.shape(), out_), Tensor::Uninitialized{});
  const float* b = has_bias_ ? b_.data() : nullptr;
  if (matmul_precision() == MatmulPrecision::kBf16) {
    if (!bf16_) bf16_ = std::make_unique<detail::LinearBf16State>();
    bf16_->x.assign(x.data(), n * in_);
    bf16_->w.assign(w_.data(), out_ * in_);  // W changes at every optimiser step
    x_ = Tensor();
    bf16_forward(y.data(), *bf16_, b, n, in_, out_);
    return y;
  }
  bf16_.reset();
  x_ = clone(x);
  linear_forward(y.data(), x.data(), w_.data(), b, n, in_, out_);
  return y;
}

Tensor Linear::backward(const Tensor& dy) {
  const int64_t n = rows_of(dy, out_, "Linear output gradient");
  const int64_t kept = bf16_ ? bf16_->x.size() : static_cast<int64_t>(x_.size());
  ATTN_CHECK(!x_shape_.empty() && n * in_ == kept,
             "Linear backward: dy does not match the last forward's input");
  Tensor dx(x_shape_, Tensor::Uninitialized{});
  float* db = has_bias_ ? db_.data() : nullptr;
  if (bf16_) {
    detail::Bf16Buffer dyb;
    dyb.assign(dy.data(), n * out_);
    bf16_backward(dx.data(), dw_.data(), db, dy.data(), dyb, *bf16_, n, in_, out_);
    return dx;
  }
  linear_backward(dx.data(), dw_.data(), db, dy.data(), x_.data(), w_.data(), n, in_, out_);
  return dx;
}

std::vector<Parameter> Linear::parameters() {
  std::vector<Parameter> params = {make_parameter("weight", w_, dw_, true)};
  if (has_bias_) params.push_back(make_parameter("bias", b_, db_, false));
  return params;
}

}  // namespace attn::nn
