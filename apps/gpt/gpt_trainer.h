// GptTrainer — the GPT on a byte corpus as a task of the TrainingLoop: batches of a TextDataset
// drawn from (seed, step), next-byte cross-entropy, validation on fixed batches, checkpoints of
// kind "gpt" that resume bit-exactly. AdamW with β = (0.9, 0.95).
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
  // `data` must outlive the trainer. With pack_documents each training step is documents of
  // different lengths packed end to end (TextDataset::train_documents), each attending only
  // within itself; a resumed run must be given the same choice to repeat the same batches.
  GptTrainer(const model::GptConfig& config, const train::TrainOptions& options,
             const train::TextDataset& data, bool pack_documents = false);

  // Loads parameters, optimizer state and step from a checkpoint written by save().
  void resume(const std::string& path) { loop_.resume(path); }
  // Trains up to options.steps (or the time limit), reporting every step; saves to `out` (when
  // not empty) after each validation and at the end.
  void run(const std::string& out, const std::function<void(const train::StepReport&)>& on_step) {
    loop_.run(out, on_step);
  }
  void save(const std::string& path) { loop_.save(path); }
  // Mean cross-entropy (nats per byte) over the fixed validation batches.
  float validation_loss();

  int64_t step() const { return loop_.step(); }
  model::Gpt& model() { return model_; }

 private:
  std::vector<nn::Parameter> parameters() override { return model_.parameters(); }
  train::StepLoss train_step(int64_t step) override;
  train::Evaluation evaluate() override { return {validation_loss(), {}}; }
  Metadata checkpoint_metadata() override;
  void restore(const SafetensorsFile& file, const std::string& path) override;

  model::GptConfig config_;
  train::TrainOptions options_;
  const train::TextDataset& data_;
  model::Gpt model_;
  bool pack_documents_;
  std::vector<int32_t> x_, y_;
  std::vector<int32_t> documents_;  // offsets of the packed documents of the last step
  train::TrainingLoop loop_;        // last: built on the model's parameters
};

}  // namespace attn::apps
