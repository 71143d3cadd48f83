// GELU (tanh approximation) and its derivative over arrays, vectorised per SIMD target and split
// over the OpenMP threads when the array is large. Element-wise: the result of each element does
// not depend on the thread count.
//
//   gelu(x) = ½·x·(1 + tanh u),   u = √(2/π)·(x + 0.044715·x³)
//
// The scalar twins are attn::nn::gelu and attn::nn::gelu_derivative (attn/nn/activations.h);
// the vector tanh agrees with them to a few units in the last place.
#pragma once

#include <cstdint>

namespace attn {

// y[i] = gelu(x[i]) for i in [0, n); y may be x.
void gelu_forward(const float* x, float* y, int64_t n);

// dx[i] = dy[i] · gelu'(x[i]) for i in [0, n); dx may be dy.
void gelu_backward(const float* x, const float* dy, float* dx, int64_t n);

}  // namespace attn
