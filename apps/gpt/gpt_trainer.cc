#include "apps/gpt/gpt_trainer.h"

#include "attn/core/error.h"
#include "attn/io/checkpoint.h"
#include "attn/train/cross_entropy.h"

namespace attn::apps {

GptTrainer::GptTrainer(const model::GptConfig& config, const train::TrainOptions& options,
                       const train::TextDataset& data, bool pack_documents)
    : config_(config),
      options_(options),
      data_(data),
      model_(config, options.seed),
      pack_documents_(pack_documents),
      x_(static_cast<size_t>(options.batch * config.context)),
      y_(x_.size()),
      loop_(*this, options.loop({.beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f})) {
  train::validate(options);
}

train::StepLoss GptTrainer::train_step(int64_t step) {
  const int64_t B = options_.batch, T = config_.context;
  const uint64_t s = static_cast<uint64_t>(step);
  Tensor logits;
  if (pack_documents_) {  // [1, B·T, V]: the same tokens per step, in documents
    data_.train_documents(options_.seed, s, B, T, x_.data(), y_.data(), documents_);
    logits = model_.forward(x_, 1, B * T, /*training=*/true, s, documents_);
  } else {
    data_.train_batch(options_.seed, s, B, T, x_.data(), y_.data());
    logits = model_.forward(x_, B, T, /*training=*/true, s);
  }
  train::CrossEntropyLoss loss;
  const float value = loss.forward(logits, y_);
  loss.backward_in_place(logits);
  model_.backward(logits);
  return {value, B * T};
}

float GptTrainer::validation_loss() {
  const int64_t B = options_.batch, T = config_.context;
  double total = 0.0;
  for (int64_t k = 0; k < options_.eval_batches; ++k) {
    data_.val_batch(k, options_.eval_batches, B, T, x_.data(), y_.data());
    const Tensor logits = model_.forward(x_, B, T, /*training=*/false);
    train::CrossEntropyLoss loss;
    total += loss.forward(logits, y_);
  }
  return static_cast<float>(total / static_cast<double>(options_.eval_batches));
}

Metadata GptTrainer::checkpoint_metadata() {
  return {{"kind", "gpt"}, {"config", config_.to_json()}, {"train", options_.to_json()}};
}

void GptTrainer::restore(const SafetensorsFile& file, const std::string& path) {
  expect_kind(file, "gpt", path);
  const model::GptConfig saved = model::GptConfig::from_json(file.meta("config"));
  ATTN_CHECK(saved.to_json() == config_.to_json(), path, ": checkpoint config ", saved.to_json(),
             " differs from the run's ", config_.to_json());
  // The batches and dropout masks to come depend on the seed: keep the one the run started with.
  options_.seed = train::TrainOptions::from_json(file.meta("train"), options_).seed;
}

}  // namespace attn::apps
