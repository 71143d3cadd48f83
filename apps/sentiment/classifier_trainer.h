// ClassifierTrainer — the sentiment classifier as a task of the TrainingLoop: shuffled
// mini-batches padded to their longest sentence, cross-entropy over the labels, and early
// stopping: after every epoch the validation accuracy is measured and the parameters of the best
// epoch so far are kept; run() ends with them in the model. AdamW with β = (0.9, 0.98).
//
// The order of the sentences in epoch e is a pure function of (seed, e), the dropout masks of
// (seed, step), so a run is reproducible and the same for any number of threads.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "attn/core/config_fields.h"
#include "attn/model/classifier.h"
#include "attn/train/training_loop.h"

namespace attn::apps {

struct ClassifierTrainOptions {
  int64_t batch = 32;         // sentences per step
  int64_t epochs = 10;        // passes over the training sentences
  int64_t steps = 0;          // > 0: this many steps instead of `epochs`
  float lr = 2e-3f;           // peak learning rate
  float min_lr = 1e-4f;       // at the end of the cosine
  int64_t warmup = 50;        // linear warm-up steps
  float weight_decay = 0.1f;  // AdamW, on matrices and embeddings only
  float clip = 1.0f;          // global gradient norm; ≤ 0 disables
  uint64_t seed = 1;          // initialisation, order, dropout

  std::string to_json() const;
  // Parses a JSON object with any of the fields above over `defaults`; throws attn::Error on
  // unknown fields, wrong types or values out of range.
  static ClassifierTrainOptions from_json(const std::string& text, ClassifierTrainOptions defaults);
};

// Throws attn::Error naming the first field out of its range.
void validate(const ClassifierTrainOptions& o);

// A sentence as word ids, with its label.
struct EncodedSentence {
  std::vector<int32_t> ids;
  int32_t label = 0;
};

struct ClassifierEval {
  double accuracy = 0.0;  // fraction of sentences whose most probable label is theirs
  double loss = 0.0;      // mean cross-entropy (nats)
  int64_t count = 0;
};

// Accuracy and loss of `model` (no dropout) on `sentences`, `batch` at a time.
ClassifierEval evaluate_classifier(model::Classifier& model,
                                   const std::vector<EncodedSentence>& sentences,
                                   int64_t batch = 64);

class ClassifierTrainer : private train::TrainingTask {
 public:
  // `model`, `train` and `validation` must outlive the trainer; neither set may be empty.
  ClassifierTrainer(model::Classifier& model, const ClassifierTrainOptions& options,
                    const std::vector<EncodedSentence>& train,
                    const std::vector<EncodedSentence>& validation);

  // Trains, reporting every step (an evaluation at the end of each epoch), and leaves the
  // parameters of the best epoch in the model.
  void run(const std::function<void(const train::StepReport&)>& on_step) { loop_.run("", on_step); }

  int64_t total_steps() const { return total_steps_; }
  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  // The report of the best epoch (after run()), and its 1-based number.
  const train::StepReport& best() const { return *loop_.best(); }
  int64_t best_epoch() const;

 private:
  std::vector<nn::Parameter> parameters() override { return model_.parameters(); }
  train::StepLoss train_step(int64_t step, train::BatchPart whole) override;
  train::Evaluation evaluate() override;
  Metadata checkpoint_metadata() override;
  void restore(const SafetensorsFile& file, const std::string& path) override;
  const std::vector<size_t>& epoch_order(int64_t epoch);
  train::LoopOptions loop_options() const;

  model::Classifier& model_;
  ClassifierTrainOptions options_;
  const std::vector<EncodedSentence>& train_;
  const std::vector<EncodedSentence>& validation_;
  int64_t steps_per_epoch_ = 0, total_steps_ = 0;
  std::vector<size_t> order_;  // of epoch order_epoch_
  int64_t order_epoch_ = -1;
  train::TrainingLoop loop_;  // last: built on the model's parameters
};

}  // namespace attn::apps
