#include "attn/train/gpt_trainer.h"

#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>

#include "attn/core/error.h"
#include "attn/io/safetensors.h"
#include "attn/train/checkpoint.h"
#include "attn/train/cross_entropy.h"
#include "attn/train/grad_clip.h"
#include "attn/train/lr_schedule.h"

namespace attn::train {

std::string TrainOptions::to_json() const {
  const nlohmann::ordered_json j = {{"batch", batch},
                                    {"steps", steps},
                                    {"lr", lr},
                                    {"min_lr", min_lr},
                                    {"warmup", warmup},
                                    {"weight_decay", weight_decay},
                                    {"clip", clip},
                                    {"eval_interval", eval_interval},
                                    {"eval_batches", eval_batches},
                                    {"seed", seed}};
  return j.dump();
}

namespace {

template <typename T>
void read_field(const nlohmann::json& j, const char* key, T& field) {
  if (!j.contains(key)) return;
  const auto& v = j[key];
  if constexpr (std::is_integral_v<T>) {
    ATTN_CHECK(v.is_number_integer(), "training options: ", key, " must be an integer");
  } else {
    ATTN_CHECK(v.is_number(), "training options: ", key, " must be a number");
  }
  field = v.get<T>();
}

void check_options(const TrainOptions& o) {
  ATTN_CHECK(o.batch > 0 && o.batch <= 4096, "training options: batch = ", o.batch,
             " is not a possible size");
  ATTN_CHECK(o.steps > 0, "training options: steps must be positive, got ", o.steps);
  ATTN_CHECK(std::isfinite(o.lr) && o.lr > 0 && std::isfinite(o.min_lr) && o.min_lr >= 0,
             "training options: learning rates must be finite and positive");
  ATTN_CHECK(o.warmup >= 0 && o.eval_interval > 0 && o.eval_batches > 0,
             "training options: warmup, eval_interval and eval_batches must be positive");
}

}  // namespace

TrainOptions TrainOptions::from_json(const std::string& text, TrainOptions o) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  ATTN_CHECK(j.is_object(), "training options: not a JSON object");
  static const char* known[] = {"batch",        "steps",        "lr",   "min_lr",
                                "warmup",       "weight_decay", "clip", "eval_interval",
                                "eval_batches", "time_limit",   "seed"};
  for (const auto& [key, value] : j.items()) {
    bool ok = false;
    for (const char* k : known) ok = ok || key == k;
    ATTN_CHECK(ok, "training options: unknown field '", key, "'");
  }
  read_field(j, "batch", o.batch);
  read_field(j, "steps", o.steps);
  read_field(j, "lr", o.lr);
  read_field(j, "min_lr", o.min_lr);
  read_field(j, "warmup", o.warmup);
  read_field(j, "weight_decay", o.weight_decay);
  read_field(j, "clip", o.clip);
  read_field(j, "eval_interval", o.eval_interval);
  read_field(j, "eval_batches", o.eval_batches);
  read_field(j, "time_limit", o.time_limit);
  read_field(j, "seed", o.seed);
  check_options(o);
  return o;
}

GptTrainer::GptTrainer(const model::GptConfig& config, const TrainOptions& options,
                       const TextDataset& data)
    : config_(config),
      options_(options),
      data_(data),
      model_(config, options.seed),
      optimizer_(model_.parameters(), AdamWConfig{0.9f, 0.95f, 1e-8f, options.weight_decay}),
      x_(static_cast<size_t>(options.batch * config.context)),
      y_(x_.size()) {
  check_options(options);
}

void GptTrainer::resume(const std::string& path) {
  const SafetensorsFile file = SafetensorsFile::read(path);
  expect_kind(file, "gpt", path);
  const model::GptConfig saved = model::GptConfig::from_json(file.meta("config"));
  ATTN_CHECK(saved.to_json() == config_.to_json(), path, ": checkpoint config ", saved.to_json(),
             " differs from the run's ", config_.to_json());
  load_parameters(file, model_.parameters());
  load_optimizer(file, optimizer_);
  step_ = std::stoll(file.meta("step"));
  // The batches and dropout masks to come depend on the seed: keep the one the run started with.
  options_.seed = TrainOptions::from_json(file.meta("train"), options_).seed;
}

void GptTrainer::save(const std::string& path) {
  save_checkpoint(path, model_.parameters(), &optimizer_,
                  {{"kind", "gpt"},
                   {"config", config_.to_json()},
                   {"train", options_.to_json()},
                   {"step", std::to_string(step_)}});
}

float GptTrainer::train_step() {
  const int64_t B = options_.batch, T = config_.context;
  data_.train_batch(options_.seed, static_cast<uint64_t>(step_), B, T, x_.data(), y_.data());
  optimizer_.zero_grad();
  Tensor logits = model_.forward(x_, B, T, /*training=*/true, static_cast<uint64_t>(step_));
  CrossEntropyLoss loss;
  const float value = loss.forward(logits, y_);
  loss.backward_in_place(logits);
  model_.backward(logits);
  if (options_.clip > 0) clip_grad_norm(model_.parameters(), options_.clip);
  const CosineSchedule schedule{options_.lr, options_.min_lr, options_.warmup,
                                std::max(options_.steps, options_.warmup + 1)};
  optimizer_.step(schedule.at(step_));
  ++step_;
  return value;
}

float GptTrainer::evaluate() {
  const int64_t B = options_.batch, T = config_.context;
  double total = 0.0;
  for (int64_t k = 0; k < options_.eval_batches; ++k) {
    data_.val_batch(k, options_.eval_batches, B, T, x_.data(), y_.data());
    const Tensor logits = model_.forward(x_, B, T, /*training=*/false);
    CrossEntropyLoss loss;
    total += loss.forward(logits, y_);
  }
  return static_cast<float>(total / static_cast<double>(options_.eval_batches));
}

void GptTrainer::run(const std::string& out,
                     const std::function<void(const StepReport&)>& on_step) {
  const auto start = std::chrono::steady_clock::now();
  const CosineSchedule schedule{options_.lr, options_.min_lr, options_.warmup,
                                std::max(options_.steps, options_.warmup + 1)};
  int64_t tokens = 0;
  double train_seconds = 0.0;  // time in training steps only, for tokens/s
  while (step_ < options_.steps) {
    StepReport r;
    r.lr = schedule.at(step_);
    const auto step_start = std::chrono::steady_clock::now();
    r.loss = train_step();
    const auto step_end = std::chrono::steady_clock::now();
    train_seconds += std::chrono::duration<double>(step_end - step_start).count();
    r.step = step_;
    tokens += options_.batch * config_.context;
    r.elapsed_s = std::chrono::duration<double>(step_end - start).count();
    const bool out_of_time = options_.time_limit > 0 && r.elapsed_s >= options_.time_limit;
    if (step_ % options_.eval_interval == 0 || step_ == options_.steps || out_of_time) {
      r.val_loss = evaluate();
      if (!out.empty()) save(out);
    }
    r.tokens_per_s = static_cast<double>(tokens) / std::max(train_seconds, 1e-9);
    on_step(r);
    if (out_of_time) break;
  }
}

}  // namespace attn::train
