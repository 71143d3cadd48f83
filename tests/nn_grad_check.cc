#include "nn_grad_check.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <sstream>

#include "attn/nn/tensor_ops.h"
#include "test_util.h"

namespace attn::testing {

namespace {

// Up to `max` distinct indices of [0, size), in a fixed pseudo-random order.
std::vector<size_t> sample_indices(size_t size, size_t max, uint64_t seed) {
  std::vector<size_t> idx(size);
  std::iota(idx.begin(), idx.end(), size_t{0});
  if (size <= max) return idx;
  std::mt19937_64 rng(seed);
  std::shuffle(idx.begin(), idx.end(), rng);
  idx.resize(max);
  return idx;
}

double central_difference(const std::function<double()>& loss, float* x, float h) {
  const float saved = *x;
  *x = saved + h;
  const double plus = loss();
  *x = saved - h;
  const double minus = loss();
  *x = saved;
  return (plus - minus) / (2.0 * static_cast<double>(h));
}

// Richardson extrapolation of two central differences: the h² error terms cancel, which keeps
// h large enough for float rounding to stay small even where the layer curves strongly.
double numeric_derivative(const std::function<double()>& loss, float* x, float h) {
  return (4.0 * central_difference(loss, x, h / 2) - central_difference(loss, x, h)) / 3.0;
}

// "" if the sampled elements of one target agree, else a line explaining the worst one.
std::string check_target(const std::function<double()>& loss, const GradTarget& t,
                         const GradCheckOptions& o, uint64_t seed) {
  double worst = 0.0, scale = 0.0, worst_a = 0.0, worst_n = 0.0;
  size_t worst_i = 0;
  for (size_t i : sample_indices(t.size, o.max_samples, seed)) {
    const double a = t.grad[i];
    const double n = numeric_derivative(loss, t.value + i, o.step);
    scale = std::max({scale, std::abs(a), std::abs(n)});
    if (!(std::abs(a - n) <= worst)) {  // also catches NaN
      worst = std::isnan(a - n) ? INFINITY : std::abs(a - n);
      worst_i = i, worst_a = a, worst_n = n;
    }
  }
  std::ostringstream why;
  if (t.expect_zero) {
    if (!(scale < o.min_scale)) {
      why << t.name << ": gradient " << scale << " where 0 is expected\n";
    }
  } else if (scale < o.min_scale) {
    why << t.name << ": largest gradient " << scale << " is too small to check\n";
  } else if (!(worst <= o.rtol * scale + o.atol)) {
    why << t.name << "[" << worst_i << "]: analytic " << worst_a << " vs numeric " << worst_n
        << " (|diff| " << worst << " > " << o.rtol * scale + o.atol << ")\n";
  }
  return why.str();
}

}  // namespace

size_t default_max_samples() { return small_test_scale() ? 12 : 40; }

std::string check_gradients(const std::function<double()>& loss,
                            const std::vector<GradTarget>& targets,
                            const GradCheckOptions& options) {
  std::string why;
  for (size_t k = 0; k < targets.size(); ++k) {
    why += check_target(loss, targets[k], options, options.seed + k);
  }
  return why;
}

double weighted_sum(const Tensor& y, const std::vector<float>& r) {
  double sum = 0.0;
  for (size_t i = 0; i < y.size(); ++i) sum += static_cast<double>(r.at(i)) * y.data()[i];
  return sum;
}

Tensor random_tensor(const std::vector<int64_t>& shape, uint64_t seed, float lo, float hi) {
  Tensor t(shape);
  const std::vector<float> values = random_floats(t.size(), seed, lo, hi);
  return nn::tensor_from(shape, values);
}

GradTarget target_of(const std::string& name, Tensor& value, const Tensor& grad) {
  return {name, value.data(), grad.data(), value.size()};
}

std::vector<GradTarget> targets_of(const std::vector<nn::Parameter>& params) {
  std::vector<GradTarget> targets;
  for (const nn::Parameter& p : params) targets.push_back({p.name, p.value, p.grad, p.size});
  return targets;
}

void randomize_parameters(const std::vector<nn::Parameter>& params, uint64_t seed, float lo,
                          float hi) {
  for (size_t k = 0; k < params.size(); ++k) {
    const std::vector<float> v = random_floats(params[k].size, seed + 1000 * k, lo, hi);
    std::copy(v.begin(), v.end(), params[k].value);
  }
  nn::zero_grad(params);
}

}  // namespace attn::testing
