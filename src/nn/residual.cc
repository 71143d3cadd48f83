#include "attn/nn/residual.h"

#include <utility>

#include "attn/nn/tensor_ops.h"

namespace attn::nn {

Tensor residual_forward(const Tensor& x, const Tensor& branch) {
  check_same_shape(x, branch, "residual_forward");
  Tensor y = clone(x);
  add_into(y, branch);  // y = x + branch
  return y;
}

Tensor residual_forward(const Tensor& x, Tensor&& branch) {
  check_same_shape(x, branch, "residual_forward");
  Tensor y = std::move(branch);
  add_into(y, x);  // y = branch + x, the same sum
  return y;
}

ResidualGrads residual_backward(const Tensor& dy) {
  // y = x + branch   →   dx = dy,  dbranch = dy
  return {clone(dy), clone(dy)};
}

}  // namespace attn::nn
