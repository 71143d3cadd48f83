#include "attn/model/gpt_generator.h"

#include <chrono>

#include "attn/core/error.h"
#include "attn/io/checkpoint.h"
#include "attn/io/safetensors.h"

namespace attn::model {

GptGenerator GptGenerator::load(const std::string& path) {
  const SafetensorsFile file = read_checkpoint(path, "gpt");
  auto model = std::make_unique<Gpt>(GptConfig::from_json(file.meta("config")), 0);
  load_parameters(file, model->parameters());
  return GptGenerator(std::move(model));
}

GptGenerator::GptGenerator(std::unique_ptr<Gpt> model)
    : model_(std::move(model)), caches_(model_->make_caches()) {}

void GptGenerator::reset() {
  sequence_.clear();
  for (auto& cache : caches_) cache->reset(0);
}

std::vector<float> GptGenerator::logits_recompute(std::span<const int32_t> tokens) {
  const int64_t len = static_cast<int64_t>(tokens.size());
  const Tensor logits = model_->forward(tokens, 1, len, /*training=*/false);
  const int64_t vocab = model_->config().vocab_size;
  const float* last = logits.data() + (len - 1) * vocab;
  return std::vector<float>(last, last + vocab);
}

std::vector<float> GptGenerator::step(int32_t token) {
  ATTN_CHECK(static_cast<int64_t>(sequence_.size()) < model_->config().context,
             "generate: the sequence already fills the context of ", model_->config().context);
  sequence_.push_back(token);
  const Tensor logits = model_->forward_cached(std::span<const int32_t>(&token, 1), caches_);
  return std::vector<float>(logits.data(), logits.data() + logits.size());
}

void GptGenerator::generate(std::span<const int32_t> prompt, int64_t count,
                            const infer::Sampler& sampler,
                            const std::function<void(int32_t)>& on_token) {
  const int64_t context = model_->config().context;
  ATTN_CHECK(!prompt.empty(), "generate: the prompt is empty");
  ATTN_CHECK(static_cast<int64_t>(prompt.size()) <= context, "generate: the prompt has ",
             prompt.size(), " tokens, more than the model's context of ", context);
  reset();
  std::vector<float> logits;
  for (int32_t t : prompt) logits = step(t);
  const auto start = std::chrono::steady_clock::now();
  for (int64_t n = 0; n < count; ++n) {
    const int32_t next = sampler.sample(logits, static_cast<uint64_t>(n));
    on_token(next);
    if (n + 1 == count) break;
    if (static_cast<int64_t>(sequence_.size()) == context) {
      const std::vector<int32_t> tail(sequence_.end() - context / 2, sequence_.end());
      reset();
      for (int32_t t : tail) step(t);
    }
    logits = step(next);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  tokens_per_s_ = static_cast<double>(count) / std::max(seconds, 1e-9);
}

}  // namespace attn::model
