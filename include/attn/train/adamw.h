// AdamW — Adam with decoupled weight decay (Loshchilov and Hutter, 2019).
//
// For each parameter element θ with gradient g, at step t = 1, 2, ...:
//   m = β1·m + (1 − β1)·g            v = β2·v + (1 − β2)·g²
//   m̂ = m / (1 − β1^t)               v̂ = v / (1 − β2^t)
//   θ = θ − lr · (m̂ / (√v̂ + ε) + λ·θ)       (λ·θ only where Parameter::decay)
// Element-wise, so the update is the same for any number of threads.
#pragma once

#include <cstdint>
#include <vector>

#include "attn/core/tensor.h"
#include "attn/nn/parameter.h"

namespace attn::train {

struct AdamWConfig {
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;  // λ, applied to the parameters marked `decay`
};

class AdamW {
 public:
  AdamW(std::vector<nn::Parameter> params, const AdamWConfig& config);

  // One update of every parameter with learning rate lr (from the schedule).
  void step(float lr);
  // Sets every gradient to zero (call before each accumulation of gradients).
  void zero_grad();

  // State, for checkpoints: steps taken, and the moments of parameter i (same shape).
  int64_t steps() const { return steps_; }
  void set_steps(int64_t steps) { steps_ = steps; }
  Tensor& first_moment(size_t i) { return m_.at(i); }
  Tensor& second_moment(size_t i) { return v_.at(i); }
  const std::vector<nn::Parameter>& parameters() const { return params_; }
  const AdamWConfig& config() const { return config_; }

 private:
  std::vector<nn::Parameter> params_;
  AdamWConfig config_;
  std::vector<Tensor> m_, v_;
  int64_t steps_ = 0;
};

}  // namespace attn::train
