#include "attn/infer/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "attn/core/error.h"
#include "attn/nn/random.h"

namespace attn::infer {

void validate(const SamplerOptions& o) {
  ATTN_CHECK(std::isfinite(o.temperature) && o.temperature >= 0.0f,
             "--temperature must be finite and >= 0, got ", o.temperature);
  ATTN_CHECK(o.top_k >= 0, "--top-k must be >= 0, got ", o.top_k);
  ATTN_CHECK(std::isfinite(o.top_p) && o.top_p > 0.0f && o.top_p <= 1.0f,
             "--top-p must be in (0, 1], got ", o.top_p);
}

Sampler::Sampler(const SamplerOptions& options) : options_(options) { validate(options); }

int32_t Sampler::sample(std::span<const float> logits, uint64_t step) const {
  ATTN_CHECK(!logits.empty(), "sampler: no logits");
  const auto argmax = std::max_element(logits.begin(), logits.end()) - logits.begin();
  if (options_.temperature == 0.0f) return static_cast<int32_t>(argmax);
  // Candidates sorted by logit, most likely first (ties by token id, for reproducibility).
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  if (options_.top_k > 0 && static_cast<size_t>(options_.top_k) < order.size()) {
    order.resize(static_cast<size_t>(options_.top_k));
  }
  std::vector<double> prob(order.size());
  const double top = logits[order[0]];
  double sum = 0.0;
  for (size_t i = 0; i < order.size(); ++i) {
    sum += prob[i] = std::exp((logits[order[i]] - top) / options_.temperature);
  }
  // Nucleus: the shortest prefix whose probability reaches top_p.
  double kept = 0.0;
  size_t n = 0;
  while (n < prob.size() && kept < options_.top_p * sum) kept += prob[n++];
  const double u = nn::counter_uniform(options_.seed, 0x5a3e, step) * kept;
  double acc = 0.0;
  for (size_t i = 0; i < n; ++i) {
    acc += prob[i];
    if (u < acc) return order[i];
  }
  return order[n - 1];
}

}  // namespace attn::infer
