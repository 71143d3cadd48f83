#include "attn/train/train_options.h"

namespace attn::train {

namespace {

using F = ConfigField<TrainOptions>;
const F kFields[] = {
    {"batch", &TrainOptions::batch, 1, 4096},
    {"steps", &TrainOptions::steps, 1},
    {.name = "lr", .member = &TrainOptions::lr, .min = 0, .min_exclusive = true},
    {"min_lr", &TrainOptions::min_lr, 0},
    {"warmup", &TrainOptions::warmup, 0},
    {"weight_decay", &TrainOptions::weight_decay, 0},
    {"clip", &TrainOptions::clip},
    {"eval_interval", &TrainOptions::eval_interval, 1},
    {"eval_batches", &TrainOptions::eval_batches, 1},
    {.name = "time_limit",
     .member = &TrainOptions::time_limit,
     .min = 0,
     .write = ConfigWrite::kUnlessDefault},
    {"seed", &TrainOptions::seed},
    {.name = "micro_batches",
     .member = &TrainOptions::micro_batches,
     .min = 0,
     .max = 4096,
     .write = ConfigWrite::kUnlessDefault},
};

}  // namespace

std::span<const ConfigField<TrainOptions>> train_option_fields() { return kFields; }

std::string TrainOptions::to_json() const { return config_to_json(*this, train_option_fields()); }

TrainOptions TrainOptions::from_json(const std::string& text, TrainOptions defaults) {
  return config_from_json(text, train_option_fields(), defaults, "training options");
}

void validate(const TrainOptions& o) {
  check_config_ranges(o, train_option_fields(), "training options");
}

LoopOptions TrainOptions::loop(AdamWConfig adamw) const {
  adamw.weight_decay = weight_decay;
  LoopOptions o;
  o.steps = steps, o.lr = lr, o.min_lr = min_lr, o.warmup = warmup, o.clip = clip;
  o.adamw = adamw, o.eval_interval = eval_interval, o.time_limit = time_limit;
  o.micro_batches = micro_batches;
  return o;
}

}  // namespace attn::train
