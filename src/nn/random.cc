#include "attn/nn/random.h"

#include <cmath>
#include <numbers>

#include "attn/core/dropout_mask.h"

namespace attn::nn {

uint64_t splitmix64(uint64_t x) { return ::attn::splitmix64(x); }

float counter_normal(uint64_t seed, uint64_t stream, uint64_t index) {
  // 1 − u lies in (0, 1], so the log is finite.
  const double u1 = 1.0 - counter_uniform(seed, stream, 2 * index);
  const double u2 = counter_uniform(seed, stream, 2 * index + 1);
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2));
}

void fill_normal(Tensor& t, float std, uint64_t seed, uint64_t stream) {
  float* x = t.data();
  const int64_t n = static_cast<int64_t>(t.size());
#pragma omp parallel for schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) x[i] = std * counter_normal(seed, stream, i);
}

void fill_uniform(Tensor& t, float lo, float hi, uint64_t seed, uint64_t stream) {
  float* x = t.data();
  const int64_t n = static_cast<int64_t>(t.size());
#pragma omp parallel for schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) x[i] = lo + (hi - lo) * counter_uniform(seed, stream, i);
}

void fill_constant(Tensor& t, float value) {
  float* x = t.data();
  for (size_t i = 0; i < t.size(); ++i) x[i] = value;
}

}  // namespace attn::nn
