// GptTrainer — the GPT on a byte corpus as a task of the TrainingLoop: batches of a TextDataset
// drawn from (seed, step), next-byte cross-entropy, validation on fixed batches, checkpoints of
// kind "gpt" that resume bit-exactly. AdamW with β = (0.9, 0.95).
//
// The batch may be cut into micro-batches (TrainOptions::micro_batches), part p being sequences
// [p·B/m, (p+1)·B/m) of the step's batch, and shared among the workers of a GradientReducer.
// Sequence parallel (a `sequence_attention` runner): part p of P is instead positions
// [p·T/P, (p+1)·T/P) of every sequence of the batch, one part per worker, the P workers computing
// their parts at once and attention across them through the runner.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "attn/model/gpt.h"
#include "attn/train/text_dataset.h"
#include "attn/train/train_options.h"
#include "attn/train/training_loop.h"

namespace attn::apps {

class GptTrainer : private train::TrainingTask {
 public:
  // `data`, `reducer` (if any: the workers of a data-parallel run) and `sequence_attention` must
  // outlive the trainer. Throws attn::Error unless the batch divides into the micro-batches, or,
  // sequence parallel, the context into one shard per worker. With pack_documents each training
  // step is documents of different lengths packed end to end (TextDataset::train_documents),
  // each attending only within itself (one part per step: neither micro-batches nor sequence
  // parallelism); a resumed run must be given the same choice to repeat the same batches.
  GptTrainer(const model::GptConfig& config, const train::TrainOptions& options,
             const train::TextDataset& data, train::GradientReducer* reducer = nullptr,
             nn::AttentionRunner* sequence_attention = nullptr, bool pack_documents = false);

  // Loads parameters, optimizer state and step from a checkpoint written by save().
  void resume(const std::string& path) { loop_.resume(path); }
  // Trains up to options.steps (or the time limit), reporting every step; the leading worker
  // saves to `out` (when not empty) after each validation and at the end.
  void run(const std::string& out, const std::function<void(const train::StepReport&)>& on_step) {
    loop_.run(out, on_step);
  }
  void save(const std::string& path) { loop_.save(path); }
  // Mean cross-entropy (nats per byte) over the fixed validation batches; sequence parallel,
  // collective: each worker computes its positions and the shards' losses are averaged.
  float validation_loss();

  int64_t step() const { return loop_.step(); }
  model::Gpt& model() { return model_; }

 private:
  std::vector<nn::Parameter> parameters() override { return model_.parameters(); }
  train::StepLoss train_step(int64_t step, train::BatchPart part) override;
  bool evaluates_together() const override { return sequence_attention_ != nullptr; }
  train::StepLoss train_shard(int64_t step, train::BatchPart shard);
  train::StepLoss train_documents(int64_t step);
  float sharded_validation_loss();
  // Positions [shard·T/P, (shard + 1)·T/P) of each sequence of x_ and y_ into shard_x_, shard_y_.
  void take_shard(train::BatchPart shard);
  bool splits_batch() const override { return true; }
  train::Evaluation evaluate() override { return {validation_loss(), {}}; }
  Metadata checkpoint_metadata() override;
  void restore(const SafetensorsFile& file, const std::string& path) override;

  model::GptConfig config_;
  train::TrainOptions options_;
  const train::TextDataset& data_;
  train::GradientReducer* reducer_;
  nn::AttentionRunner* sequence_attention_;
  model::Gpt model_;
  bool pack_documents_;
  std::vector<int32_t> x_, y_;
  std::vector<int32_t> shard_x_, shard_y_;  // sequence parallel: this worker's positions
  std::vector<int32_t> documents_;          // offsets of the packed documents of the last step
  train::TrainingLoop loop_;                // last: built on the model's parameters
};

}  // namespace attn::apps
