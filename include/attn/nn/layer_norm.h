// LayerNorm — normalise each row to zero mean and unit variance, then scale and shift.
//
//   x [..., C]  →  y = (x − mean) · rstd · weight + bias,   rstd = 1/√(var + eps)
//   weight, bias [C] (weight starts at 1, bias at 0; neither is weight-decayed)
//
// forward keeps x and each row's mean and rstd; backward(dy) returns dx and adds to dweight and
// dbias.
#pragma once

#include <cstdint>
#include <vector>

#include "attn/core/tensor.h"
#include "attn/nn/parameter.h"

namespace attn::nn {

class LayerNorm {
 public:
  explicit LayerNorm(int64_t dim, float eps = 1e-5f, bool bias = true);

  Tensor forward(const Tensor& x);    // x [..., C] → [..., C]
  Tensor backward(const Tensor& dy);  // dy [..., C] → dx [..., C]

  std::vector<Parameter> parameters();  // "weight" [C], "bias" [C] (when enabled)
  int64_t dim() const { return dim_; }
  float eps() const { return eps_; }

 private:
  int64_t dim_;
  float eps_;
  bool has_bias_;
  Tensor weight_, bias_, dweight_, dbias_;
  Tensor x_;                        // input of the last forward
  std::vector<float> mean_, rstd_;  // per row
};

}  // namespace attn::nn
