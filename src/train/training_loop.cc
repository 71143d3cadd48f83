#include "attn/train/training_loop.h"

#include <algorithm>
#include <chrono>

#include "attn/core/error.h"
#include "attn/train/checkpoint.h"
#include "attn/train/grad_clip.h"
#include "attn/train/lr_schedule.h"

namespace attn::train {

bool Evaluation::better_than(const Evaluation& other) const {
  if (accuracy && other.accuracy && *accuracy != *other.accuracy) {
    return *accuracy > *other.accuracy;
  }
  return loss < other.loss;
}

TrainingLoop::TrainingLoop(TrainingTask& task, const LoopOptions& options)
    : task_(task), options_(options), optimizer_(task.parameters(), options.adamw) {
  ATTN_CHECK(options.steps > 0, "training: steps must be at least 1, got ", options.steps);
  ATTN_CHECK(options.eval_interval > 0, "training: eval_interval must be at least 1, got ",
             options.eval_interval);
  ATTN_CHECK(options.warmup >= 0 && options.patience >= 0,
             "training: warmup and patience must not be negative");
}

void TrainingLoop::resume(const std::string& path) {
  const SafetensorsFile file = SafetensorsFile::read(path);
  task_.restore(file, path);
  load_parameters(file, task_.parameters());
  load_optimizer(file, optimizer_);
  const std::string& step = file.meta("step");
  try {
    step_ = std::stoll(step);
  } catch (const std::exception&) {
    detail::throw_error(path, ": checkpoint step '", step, "' is not a number");
  }
}

void TrainingLoop::save(const std::string& path) {
  Metadata metadata = task_.checkpoint_metadata();
  metadata["step"] = std::to_string(step_);
  save_checkpoint(path, task_.parameters(), &optimizer_, std::move(metadata));
}

float TrainingLoop::learning_rate(int64_t step) const {
  const CosineSchedule schedule{options_.lr, options_.min_lr, options_.warmup,
                                std::max(options_.steps, options_.warmup + 1)};
  return schedule.at(step);
}

StepLoss TrainingLoop::train_step() {
  optimizer_.zero_grad();
  const StepLoss result = task_.train_step(step_);
  if (options_.clip > 0) clip_grad_norm(task_.parameters(), options_.clip);
  optimizer_.step(learning_rate(step_));
  ++step_;
  return result;
}

bool TrainingLoop::evaluate_into(StepReport& r) {
  r.eval = task_.evaluate();
  r.best = !best_ || r.eval->better_than(*best_->eval);
  if (r.best) {
    best_ = r;
    evals_since_best_ = 0;
    if (options_.keep_best) {
      best_params_.clear();
      for (const nn::Parameter& p : task_.parameters()) {
        best_params_.emplace_back(p.value, p.value + p.size);
      }
    }
    return true;
  }
  return options_.patience == 0 || ++evals_since_best_ < options_.patience;
}

void TrainingLoop::restore_best() {
  if (!options_.keep_best || best_params_.empty()) return;
  const std::vector<nn::Parameter> params = task_.parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    std::copy(best_params_[i].begin(), best_params_[i].end(), params[i].value);
  }
}

void TrainingLoop::run(const std::string& out,
                       const std::function<void(const StepReport&)>& on_step) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  int64_t tokens = 0, losses_counted = 0;
  double train_seconds = 0.0, loss_sum = 0.0;  // training steps only, for tokens/s
  bool go_on = true;
  while (go_on && step_ < options_.steps) {
    StepReport r;
    r.lr = learning_rate(step_);
    const auto step_start = Clock::now();
    const StepLoss s = train_step();
    const auto step_end = Clock::now();
    train_seconds += std::chrono::duration<double>(step_end - step_start).count();
    tokens += s.tokens;
    r.step = step_;
    r.loss = s.loss;
    loss_sum += s.loss;
    r.mean_loss = loss_sum / double(++losses_counted);
    r.elapsed_s = std::chrono::duration<double>(step_end - start).count();
    const bool out_of_time = options_.time_limit > 0 && r.elapsed_s >= options_.time_limit;
    if (step_ % options_.eval_interval == 0 || step_ == options_.steps || out_of_time) {
      go_on = evaluate_into(r) && !out_of_time;
      loss_sum = 0.0, losses_counted = 0;
      if (!out.empty()) save(out);
    }
    r.tokens_per_s = static_cast<double>(tokens) / std::max(train_seconds, 1e-9);
    on_step(r);
  }
  restore_best();
}

}  // namespace attn::train
