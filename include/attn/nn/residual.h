// Residual connection — y = x + branch, where branch = f(x) is computed by another layer.
//
//   x, branch [..., C]  →  y [..., C]
//
// The backward is the identity on both paths: dx = dy and dbranch = dy. A block adds dx to the
// gradient that comes back through f.
#pragma once

#include "attn/core/tensor.h"

namespace attn::nn {

// y = x + branch (same shape).
Tensor residual_forward(const Tensor& x, const Tensor& branch);
// The same, summed into the branch's buffer (no copy) when the branch is a temporary.
Tensor residual_forward(const Tensor& x, Tensor&& branch);

struct ResidualGrads {
  Tensor dx;       // = dy
  Tensor dbranch;  // = dy
};

// dx = dy, dbranch = dy.
ResidualGrads residual_backward(const Tensor& dy);

}  // namespace attn::nn
