// The options of a step-counted training run (the GPT, the seq2seq model), read and written as
// JSON through one field table (attn/core/config_fields.h), and their TrainingLoop options.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "attn/core/config_fields.h"
#include "attn/train/adamw.h"
#include "attn/train/training_loop.h"

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
  int64_t micro_batches = 0;    // equal parts of each batch (LoopOptions); 0: one per worker

  std::string to_json() const;
  // Parses a JSON object with any of the fields above over `defaults`; throws attn::Error on
  // unknown fields, wrong types or values out of range.
  static TrainOptions from_json(const std::string& text, TrainOptions defaults);
  // The loop's options, with AdamW's betas and eps from `adamw` and the weight decay from here.
  LoopOptions loop(AdamWConfig adamw) const;
};

// The field table of TrainOptions.
std::span<const ConfigField<TrainOptions>> train_option_fields();

// Throws attn::Error naming the first field out of its range.
void validate(const TrainOptions& o);

}  // namespace attn::train
