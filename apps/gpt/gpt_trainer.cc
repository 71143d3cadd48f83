#include "apps/gpt/gpt_trainer.h"

#include <algorithm>

#include "attn/core/error.h"
#include "attn/io/checkpoint.h"
#include "attn/train/cross_entropy.h"

namespace attn::apps {

GptTrainer::GptTrainer(const model::GptConfig& config, const train::TrainOptions& options,
                       const train::TextDataset& data, train::GradientReducer* reducer,
                       nn::AttentionRunner* sequence_attention, bool pack_documents)
    : config_(config),
      options_(options),
      data_(data),
      reducer_(reducer),
      sequence_attention_(sequence_attention),
      model_(config, options.seed),
      pack_documents_(pack_documents),
      x_(static_cast<size_t>(options.batch * config.context)),
      y_(x_.size()),
      loop_(*this, options.loop({.beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f}), reducer) {
  train::validate(options);
  const int64_t parts = loop_.parts();
  ATTN_CHECK(!pack_documents || (parts == 1 && sequence_attention == nullptr),
             "packed documents train one part per step: not with ", parts,
             " micro-batches or workers, nor sequence parallel");
  if (sequence_attention == nullptr) {
    ATTN_CHECK(options.batch % parts == 0, "training options: batch = ", options.batch,
               " does not divide into ", parts, " micro-batches");
    return;
  }
  const int64_t workers = reducer != nullptr ? reducer->workers() : 1;
  ATTN_CHECK(parts == workers, "sequence parallel: one part per worker, not ", parts, " parts for ",
             workers, " workers");
  ATTN_CHECK(config.context % parts == 0, "sequence parallel: context = ", config.context,
             " does not divide into ", parts, " shards");
}

void GptTrainer::take_shard(train::BatchPart shard) {
  const int64_t B = options_.batch, T = config_.context, n = T / shard.count;
  shard_x_.resize(static_cast<size_t>(B * n));
  shard_y_.resize(shard_x_.size());
  for (int64_t b = 0; b < B; ++b) {
    const int64_t from = b * T + shard.index * n;
    std::copy_n(x_.begin() + from, n, shard_x_.begin() + b * n);
    std::copy_n(y_.begin() + from, n, shard_y_.begin() + b * n);
  }
}

train::StepLoss GptTrainer::train_shard(int64_t step, train::BatchPart shard) {
  const int64_t B = options_.batch, T = config_.context, n = T / shard.count;
  data_.train_batch(options_.seed, static_cast<uint64_t>(step), B, T, x_.data(), y_.data());
  take_shard(shard);
  Tensor logits = model_.forward(shard_x_, B, n, /*training=*/true, static_cast<uint64_t>(step),
                                 {.start = shard.index * n, .attention = sequence_attention_});
  train::CrossEntropyLoss loss;
  const float value = loss.forward(logits, shard_y_);
  loss.backward_in_place(logits, 1.0f / static_cast<float>(shard.count));
  model_.backward(logits);
  return {value, B * n};
}

// The whole batch as documents packed end to end: logits [1, B·T, V] of the same number of tokens.
train::StepLoss GptTrainer::train_documents(int64_t step) {
  const int64_t B = options_.batch, T = config_.context;
  const uint64_t s = static_cast<uint64_t>(step);
  data_.train_documents(options_.seed, s, B, T, x_.data(), y_.data(), documents_);
  Tensor logits = model_.forward(x_, 1, B * T, /*training=*/true, s, {}, documents_);
  train::CrossEntropyLoss loss;
  const float value = loss.forward(logits, y_);
  loss.backward_in_place(logits);
  model_.backward(logits);
  return {value, B * T};
}

train::StepLoss GptTrainer::train_step(int64_t step, train::BatchPart part) {
  if (sequence_attention_ != nullptr) return train_shard(step, part);
  if (pack_documents_) return train_documents(step);
  const int64_t B = options_.batch / part.count, T = config_.context;
  data_.train_batch(options_.seed, static_cast<uint64_t>(step), options_.batch, T, x_.data(),
                    y_.data());
  const size_t first = static_cast<size_t>(part.index * B * T), count = static_cast<size_t>(B * T);
  // Each part draws its own dropout masks (a single part: the masks of the whole batch).
  const uint64_t masks = static_cast<uint64_t>(step * part.count + part.index);
  Tensor logits =
      model_.forward(std::span(x_).subspan(first, count), B, T, /*training=*/true, masks);
  train::CrossEntropyLoss loss;
  const float value = loss.forward(logits, std::span(y_).subspan(first, count));
  loss.backward_in_place(logits, 1.0f / static_cast<float>(part.count));
  model_.backward(logits);
  return {value, B * T};
}

float GptTrainer::sharded_validation_loss() {
  train::SingleWorker alone;
  train::GradientReducer& workers = reducer_ != nullptr ? *reducer_ : alone;
  const int64_t B = options_.batch, T = config_.context, E = options_.eval_batches;
  const train::BatchPart shard{workers.rank(), workers.workers()};
  const int64_t n = T / shard.count;
  std::vector<double> mine(static_cast<size_t>(E));
  for (int64_t k = 0; k < E; ++k) {
    data_.val_batch(k, E, B, T, x_.data(), y_.data());
    take_shard(shard);
    const Tensor logits =
        model_.forward(shard_x_, B, n, /*training=*/false, 0,
                       {.start = shard.index * n, .attention = sequence_attention_});
    train::CrossEntropyLoss loss;
    mine[static_cast<size_t>(k)] = loss.forward(logits, shard_y_);
  }
  std::vector<double> all(static_cast<size_t>(shard.count * E));
  workers.all_gather(mine, all);
  double total = 0.0;
  for (int64_t k = 0; k < E; ++k) {
    double batch = 0.0;  // the shards' losses in shard order: equal token counts
    for (int64_t w = 0; w < shard.count; ++w) batch += all[static_cast<size_t>(w * E + k)];
    total += batch / static_cast<double>(shard.count);
  }
  return static_cast<float>(total / static_cast<double>(E));
}

float GptTrainer::validation_loss() {
  if (sequence_attention_ != nullptr) return sharded_validation_loss();
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
