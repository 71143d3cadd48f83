// GptGenerator — text generation with a trained Gpt: feed the prompt, then sample one token at a
// time. Each new token reuses the keys and values of the earlier ones (a KV cache per layer),
// so a step costs O(T) attention, not a recomputation of the whole sequence.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "attn/infer/sampler.h"
#include "attn/model/gpt.h"

namespace attn::model {

class GptGenerator {
 public:
  // Loads a checkpoint written by `attn train`; throws attn::Error if it is not a GPT checkpoint
  // or is damaged.
  static GptGenerator load(const std::string& path);
  explicit GptGenerator(std::unique_ptr<Gpt> model);

  // Clears the sequence.
  void reset();
  // Appends `token` at the next position and returns the logits for the token after it [V].
  std::vector<float> step(int32_t token);
  // Logits for the token after `tokens`, recomputing the whole sequence (the reference for step).
  std::vector<float> logits_recompute(std::span<const int32_t> tokens);

  // Feeds `prompt` and samples `count` tokens, calling on_token for each. When the sequence
  // reaches the model's context, it continues from the last half of it.
  void generate(std::span<const int32_t> prompt, int64_t count, const infer::Sampler& sampler,
                const std::function<void(int32_t)>& on_token);
  double last_tokens_per_s() const { return tokens_per_s_; }
  Gpt& model() { return *model_; }

 private:
  std::unique_ptr<Gpt> model_;
  std::vector<std::unique_ptr<KvCache>> caches_;  // one per layer
  std::vector<int32_t> sequence_;
  double tokens_per_s_ = 0.0;
};

}  // namespace attn::model
