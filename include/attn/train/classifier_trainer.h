// ClassifierTrainer — trains a Classifier on labelled sentences: shuffled mini-batches padded to
// their longest sentence, AdamW, global-norm clipping, warm-up + cosine learning rate, and early
// stopping: after every epoch the validation accuracy is measured and the parameters of the best
// epoch so far are kept; run() ends with them in the model.
//
// The order of the sentences in epoch e is a pure function of (seed, e), the dropout masks of
// (seed, step), so a run is reproducible and the same for any number of threads.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "attn/model/classifier.h"
#include "attn/train/adamw.h"

namespace attn::train {

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
  // unknown fields, wrong types or impossible values.
  static ClassifierTrainOptions from_json(const std::string& text, ClassifierTrainOptions defaults);
};

// Throws attn::Error unless the sizes are positive and the rates finite.
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

// What the trainer reports after each epoch.
struct EpochReport {
  int64_t epoch = 0;  // 1-based
  int64_t step = 0;   // steps done
  double loss = 0.0;  // mean training loss of the epoch
  ClassifierEval validation;
  bool best = false;  // the best validation accuracy so far (ties: the lower loss)
  double elapsed_s = 0.0;
};

class ClassifierTrainer {
 public:
  // `model`, `train` and `validation` must outlive the trainer; neither set may be empty.
  ClassifierTrainer(model::Classifier& model, const ClassifierTrainOptions& options,
                    const std::vector<EncodedSentence>& train,
                    const std::vector<EncodedSentence>& validation);

  // Trains, reporting every epoch, and leaves the parameters of the best epoch in the model.
  void run(const std::function<void(const EpochReport&)>& on_epoch);

  int64_t total_steps() const { return total_steps_; }
  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  const EpochReport& best() const { return best_; }

 private:
  // One step on sentences order[first, first + batch); returns the loss.
  float train_step(const std::vector<size_t>& order, size_t first);
  void keep_best(const EpochReport& r);

  model::Classifier& model_;
  ClassifierTrainOptions options_;
  const std::vector<EncodedSentence>& train_;
  const std::vector<EncodedSentence>& validation_;
  AdamW optimizer_;
  int64_t steps_per_epoch_ = 0, total_steps_ = 0, step_ = 0;
  EpochReport best_;
  std::vector<std::vector<float>> best_params_;
};

}  // namespace attn::train
