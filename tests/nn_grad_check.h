// Finite-difference gradient checks for the nn layers.
//
// The scalar loss is L = Σ r ∘ y for a fixed random r, so dL/dy = r: the test runs forward once,
// calls backward(r), and compares every analytical gradient with central differences
//   dL/dθ_i ≈ (L(θ + h·e_i) − L(θ − h·e_i)) / 2h
// on a sample of elements of each tensor, with Richardson extrapolation over h and h/2 to cancel
// the O(h²) error. The layers run in float, so h is ~1e-2 and the tolerance is relative to the
// largest gradient of the tensor.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "attn/core/tensor.h"
#include "attn/nn/parameter.h"

namespace attn::testing {

// One tensor to check: its values (perturbed in place, then restored) and the analytical
// gradient dL/dvalue computed before the check.
struct GradTarget {
  std::string name;
  float* value = nullptr;
  const float* grad = nullptr;
  size_t size = 0;
  bool expect_zero = false;  // the exact gradient is 0: both sides must stay below min_scale
};

// Elements checked per tensor by default: 40, or 12 when ATTN_TEST_SCALE=small.
size_t default_max_samples();

struct GradCheckOptions {
  float step = 1e-2f;  // h
  double rtol = 1e-2;  // |analytic − numeric| ≤ rtol · max|gradient| + atol
  double atol = 1e-5;
  double min_scale = 1e-3;  // a tensor whose largest gradient is below this fails (vacuous)
  size_t max_samples = default_max_samples();  // elements checked per tensor (all if fewer)
  uint64_t seed = 99;
};

// Runs the check on every target; `loss` must run the forward pass and return L. Returns "" on
// success, else one line per failing tensor.
std::string check_gradients(const std::function<double()>& loss,
                            const std::vector<GradTarget>& targets,
                            const GradCheckOptions& options = {});

// Σ r ∘ y in double.
double weighted_sum(const Tensor& y, const std::vector<float>& r);

// A tensor of the given shape with values uniform in [lo, hi) from `seed`.
Tensor random_tensor(const std::vector<int64_t>& shape, uint64_t seed, float lo = -1.0f,
                     float hi = 1.0f);

// Targets for a tensor and its gradient, and for every parameter of a layer.
GradTarget target_of(const std::string& name, Tensor& value, const Tensor& grad);
std::vector<GradTarget> targets_of(const std::vector<nn::Parameter>& params);

// Overwrites every parameter value with uniform [lo, hi) values, so that gains, biases and
// weights all take generic values; clears the gradients.
void randomize_parameters(const std::vector<nn::Parameter>& params, uint64_t seed, float lo = -0.5f,
                          float hi = 0.5f);

}  // namespace attn::testing
