#include "attn/nn/feed_forward.h"

#include "attn/core/error.h"
#include "attn/kernels/gelu.h"
#include "attn/nn/activations.h"
#include "attn/nn/random.h"
#include "attn/nn/tensor_ops.h"

namespace attn::nn {

FeedForward::FeedForward(const FeedForwardConfig& config)
    : config_(config),
      w1_(config.dim, config.hidden, config.bias, derive_seed(config.seed, 1)),
      w2_(config.hidden, config.dim, config.bias, derive_seed(config.seed, 2)) {
  if (config.activation == Activation::kSwiGLU) {
    w3_.emplace(config.dim, config.hidden, config.bias, derive_seed(config.seed, 3));
  }
}

Tensor FeedForward::forward(const Tensor& x) {
  h1_ = w1_.forward(x);  // h1 = W1·x + b1
  Tensor a(h1_.shape(), Tensor::Uninitialized{});
  const int64_t n = static_cast<int64_t>(a.size());
  const float* h1 = h1_.data();
  float* out = a.data();
  if (config_.activation == Activation::kGelu) {
    gelu_forward(h1, out, n);  // a = gelu(h1)
  } else {
    h3_ = w3_->forward(x);  // h3 = W3·x + b3
    const float* h3 = h3_.data();
#pragma omp parallel for schedule(static) if (n > (1 << 15))
    for (int64_t i = 0; i < n; ++i) out[i] = silu(h1[i]) * h3[i];  // a = silu(h1) ∘ h3
  }
  return w2_.forward(a);  // y = W2·a + b2
}

Tensor FeedForward::backward(const Tensor& dy) {
  // y = W2·a + b2
  Tensor da = w2_.backward(dy);
  const int64_t n = static_cast<int64_t>(da.size());
  const float* h1 = h1_.data();
  float* d = da.data();  // da becomes dh1 in place
  if (config_.activation == Activation::kGelu) {
    // a = gelu(h1)   →   dh1 = da · gelu'(h1)
    gelu_backward(h1, d, d, n);
    return w1_.backward(da);  // h1 = W1·x + b1
  }
  // a = silu(h1) ∘ h3   →   dh1 = da · h3 · silu'(h1),   dh3 = da · silu(h1)
  Tensor dh3(da.shape(), Tensor::Uninitialized{});
  const float* h3 = h3_.data();
#pragma omp parallel for schedule(static) if (n > (1 << 15))
  for (int64_t i = 0; i < n; ++i) {
    dh3.data()[i] = d[i] * silu(h1[i]);
    d[i] *= h3[i] * silu_derivative(h1[i]);
  }
  // h1 = W1·x, h3 = W3·x   →   dx = W1ᵀ·dh1 + W3ᵀ·dh3
  Tensor dx = w1_.backward(da);
  add_into(dx, w3_->backward(dh3));
  return dx;
}

std::vector<Parameter> FeedForward::parameters() {
  std::vector<Parameter> params;
  append_parameters(params, "w1", w1_.parameters());
  append_parameters(params, "w2", w2_.parameters());
  if (w3_) append_parameters(params, "w3", w3_->parameters());
  return params;
}

}  // namespace attn::nn
