// Linear — y = x·Wᵀ + b, on the last dimension.
//
//   x [..., in]  →  y [..., out]        W [out, in]   b [out] (optional)
//
// forward keeps a copy of x for the backward pass; backward(dy) returns dx and adds dW, db to
// the gradients. Both run on OpenBLAS sgemm (the OpenMP build, sharing the library's threads),
// or with bf16 inputs on oneDNN when the process asks for it (attn/nn/matmul_precision.h): then
// the copy of x kept is the bf16 one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "attn/core/tensor.h"
#include "attn/nn/parameter.h"

namespace attn::nn {

// The matrix products behind Linear, on raw row-major buffers, for layers that manage their
// own activations.
//   y [n, out] = x [n, in] · W [out, in]ᵀ + b [out]          (b may be null)
void linear_forward(float* y, const float* x, const float* w, const float* b, int64_t n, int64_t in,
                    int64_t out);
//   dx [n, in] = dy [n, out] · W   (skipped when dx is null)
//   dW [out, in] += dyᵀ · x,   db [out] += Σ_rows dy   (db may be null)
void linear_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                     const float* w, int64_t n, int64_t in, int64_t out);

namespace detail {
struct LinearBf16State;
}  // namespace detail

class Linear {
 public:
  // W ~ N(0, init_std²) from `seed` (init_std ≤ 0 means 1/√in); b = 0.
  Linear(int64_t in, int64_t out, bool bias, uint64_t seed, float init_std = 0.0f);
  Linear(Linear&&) noexcept;
  Linear& operator=(Linear&&) noexcept;
  ~Linear();

  Tensor forward(const Tensor& x);    // x [..., in] → [..., out]
  Tensor backward(const Tensor& dy);  // dy [..., out] → dx [..., in]; accumulates dW, db

  std::vector<Parameter> parameters();  // "weight" [out, in] (decayed), "bias" [out]
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }
  bool has_bias() const { return has_bias_; }
  Tensor& weight() { return w_; }
  Tensor& bias() { return b_; }
  Tensor& weight_grad() { return dw_; }
  Tensor& bias_grad() { return db_; }

 private:
  int64_t in_, out_;
  bool has_bias_;
  Tensor w_, b_, dw_, db_;
  Tensor x_;                                       // the input of the last forward (fp32 products)
  std::vector<int64_t> x_shape_;                   // its shape
  std::unique_ptr<detail::LinearBf16State> bf16_;  // bf16 x and W of the last forward, if bf16
};

}  // namespace attn::nn
