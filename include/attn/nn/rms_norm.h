// RMSNorm — scale each row by the inverse of its root mean square (no centring, no bias).
//
//   x [..., C]  →  y = x · rrms · weight,   rrms = 1/√(mean(x²) + eps)
//   weight [C] (starts at 1; not weight-decayed)
//
// forward keeps x and each row's rrms; backward(dy) returns dx and adds to dweight.
#pragma once

#include <cstdint>
#include <vector>

#include "attn/core/tensor.h"
#include "attn/nn/parameter.h"

namespace attn::nn {

class RMSNorm {
 public:
  explicit RMSNorm(int64_t dim, float eps = 1e-5f);

  Tensor forward(const Tensor& x);    // x [..., C] → [..., C]
  Tensor backward(const Tensor& dy);  // dy [..., C] → dx [..., C]

  std::vector<Parameter> parameters();  // "weight" [C]
  int64_t dim() const { return dim_; }
  float eps() const { return eps_; }

 private:
  int64_t dim_;
  float eps_;
  Tensor weight_, dweight_;
  Tensor x_;                 // input of the last forward
  std::vector<float> rrms_;  // per row
};

}  // namespace attn::nn
