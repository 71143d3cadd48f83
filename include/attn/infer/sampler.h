// Sampler — picks the next token from logits: greedy, or temperature with top-k and top-p
// (nucleus) filtering, reproducible from a seed.
#pragma once

#include <cstdint>
#include <span>

namespace attn::infer {

struct SamplerOptions {
  float temperature = 1.0f;  // 0 = greedy (argmax)
  int64_t top_k = 0;         // keep the k most likely tokens; 0 = all
  float top_p = 1.0f;        // keep the smallest set whose probability reaches p; 1 = all
  uint64_t seed = 0;
};

// Throws attn::Error for a negative or non-finite temperature, top_k < 0, top_p outside (0, 1].
void validate(const SamplerOptions& options);

class Sampler {
 public:
  explicit Sampler(const SamplerOptions& options);
  // The token drawn from `logits` for generation step `step` (the draw depends only on
  // the seed, the step and the logits).
  int32_t sample(std::span<const float> logits, uint64_t step) const;

 private:
  SamplerOptions options_;
};

}  // namespace attn::infer
