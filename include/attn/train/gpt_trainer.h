// GptTrainer — trains a Gpt on a TextDataset: AdamW, global-norm clipping, warm-up + cosine
// learning rate, periodic validation, checkpoints that resume bit-exactly.
//
// Every source of randomness is a pure function of (seed, step) — the batch, the dropout masks —
// and the checkpoint holds the parameters, the AdamW moments and the step, so a run resumed at
// step N produces the same losses as an uninterrupted one.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "attn/model/gpt.h"
#include "attn/train/adamw.h"
#include "attn/train/text_dataset.h"

namespace attn::train {

struct TrainOptions {
  int64_t batch = 16;           // sequences per step
  int64_t steps = 1000;         // total steps (also when resuming)
  float lr = 1e-3f;             // peak learning rate
  float min_lr = 1e-4f;         // at the end of the cosine
  int64_t warmup = 50;          // linear warm-up steps
  float weight_decay = 0.1f;    // AdamW, on matrices only
  float clip = 1.0f;            // global gradient norm; ≤ 0 disables
  int64_t eval_interval = 100;  // steps between validations (and checkpoints)
  int64_t eval_batches = 8;     // validation batches per evaluation
  double time_limit = 0.0;      // seconds; > 0 stops early (and saves)
  uint64_t seed = 1;            // initialisation, batches, dropout

  std::string to_json() const;
  // Parses a JSON object with any of the fields above; throws attn::Error on bad input.
  static TrainOptions from_json(const std::string& text, TrainOptions defaults);
};

// What the trainer reports after each step.
struct StepReport {
  int64_t step = 0;  // 1-based: the number of steps done
  float loss = 0.0f;
  float lr = 0.0f;
  std::optional<float> val_loss;
  double tokens_per_s = 0.0;  // training tokens per second of training steps, this run so far
  double elapsed_s = 0.0;     // this run so far
};

class GptTrainer {
 public:
  GptTrainer(const model::GptConfig& config, const TrainOptions& options, const TextDataset& data);

  // Loads parameters, optimizer state and step from a checkpoint written by save().
  void resume(const std::string& path);
  // Trains up to options.steps (or the time limit), reporting every step; saves to `out`
  // after each validation and at the end.
  void run(const std::string& out, const std::function<void(const StepReport&)>& on_step);
  // Mean cross-entropy (nats per byte) over the fixed validation batches.
  float evaluate();
  void save(const std::string& path);

  int64_t step() const { return step_; }
  model::Gpt& model() { return model_; }

 private:
  float train_step();

  model::GptConfig config_;
  TrainOptions options_;
  const TextDataset& data_;
  model::Gpt model_;
  AdamW optimizer_;
  int64_t step_ = 0;  // steps done
  std::vector<int32_t> x_, y_;
};

}  // namespace attn::train
