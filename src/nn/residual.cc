#include "attn/nn/residual.h"

#include "attn/nn/tensor_ops.h"

namespace attn::nn {

Tensor residual_forward(const Tensor& x, const Tensor& branch) {
  check_same_shape(x, branch, "residual_forward");
  Tensor y = clone(x);
  add_into(y, branch);  // y = x + branch
  return y;
}

ResidualGrads residual_backward(const Tensor& dy) {
  // y = x + branch   →   dx = dy,  dbranch = dy
  return {clone(dy), clone(dy)};
}

}  // namespace attn::nn
