#include "attn/train/adamw.h"

#include <cmath>

#include "attn/core/error.h"

namespace attn::train {

AdamW::AdamW(std::vector<nn::Parameter> params, const AdamWConfig& config)
    : params_(std::move(params)), config_(config) {
  ATTN_CHECK(config.beta1 >= 0 && config.beta1 < 1 && config.beta2 >= 0 && config.beta2 < 1,
             "AdamW: betas must be in [0, 1), got ", config.beta1, " and ", config.beta2);
  ATTN_CHECK(config.eps > 0 && config.weight_decay >= 0,
             "AdamW: eps must be positive and weight_decay non-negative");
  for (const nn::Parameter& p : params_) {
    m_.emplace_back(p.shape);
    v_.emplace_back(p.shape);
  }
}

void AdamW::step(float lr) {
  ++steps_;
  const float b1 = config_.beta1, b2 = config_.beta2, eps = config_.eps;
  const float correction1 = static_cast<float>(1.0 - std::pow(double(b1), double(steps_)));
  const float correction2 = static_cast<float>(1.0 - std::pow(double(b2), double(steps_)));
  for (size_t i = 0; i < params_.size(); ++i) {
    const nn::Parameter& p = params_[i];
    const float decay = p.decay ? config_.weight_decay : 0.0f;
    float* m = m_[i].data();
    float* v = v_[i].data();
    const int64_t n = static_cast<int64_t>(p.size);
#pragma omp parallel for schedule(static) if (n > (1 << 15))
    for (int64_t j = 0; j < n; ++j) {
      const float g = p.grad[j];
      m[j] = b1 * m[j] + (1.0f - b1) * g;
      v[j] = b2 * v[j] + (1.0f - b2) * g * g;
      const float m_hat = m[j] / correction1;
      const float v_hat = v[j] / correction2;
      p.value[j] -= lr * (m_hat / (std::sqrt(v_hat) + eps) + decay * p.value[j]);
    }
  }
}

void AdamW::zero_grad() { nn::zero_grad(params_); }

}  // namespace attn::train
