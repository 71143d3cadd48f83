#include "attn/train/training_loop.h"

#include <algorithm>
#include <array>
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

namespace {

std::unique_ptr<GradientReducer> single_worker_unless(const GradientReducer* reducer) {
  if (reducer != nullptr) return nullptr;
  return std::make_unique<SingleWorker>();
}

}  // namespace

TrainingLoop::TrainingLoop(TrainingTask& task, const LoopOptions& options, GradientReducer* reducer)
    : task_(task),
      options_(options),
      own_reducer_(single_worker_unless(reducer)),
      reducer_(reducer != nullptr ? *reducer : *own_reducer_),
      optimizer_(task.parameters(), options.adamw) {
  ATTN_CHECK(options.steps > 0, "training: steps must be at least 1, got ", options.steps);
  ATTN_CHECK(options.eval_interval > 0, "training: eval_interval must be at least 1, got ",
             options.eval_interval);
  ATTN_CHECK(options.warmup >= 0 && options.patience >= 0 && options.micro_batches >= 0,
             "training: warmup, patience and micro_batches must not be negative");
  const int64_t workers = reducer_.workers();
  parts_ = options.micro_batches > 0 ? options.micro_batches : workers;
  ATTN_CHECK(parts_ % workers == 0, "training: ", parts_, " micro-batches do not divide among ",
             workers, " workers");
  ATTN_CHECK(parts_ == 1 || task.splits_batch(), "training: the task cannot cut its batch into ",
             parts_, " micro-batches");
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

StepLoss TrainingLoop::train_parts() {
  const std::vector<nn::Parameter> params = task_.parameters();
  const size_t n = nn::count_elements(params);
  const int64_t k = parts_ / reducer_.workers(), first = reducer_.rank() * k;
  part_grads_.resize(static_cast<size_t>(k) * n);
  grad_sum_.resize(n);
  std::vector<double> mine(static_cast<size_t>(k) + 1, 0.0);  // the parts' losses, then tokens
  for (int64_t j = 0; j < k; ++j) {
    optimizer_.zero_grad();
    const StepLoss s = task_.train_step(step_, {first + j, parts_});
    mine[static_cast<size_t>(j)] = s.loss;
    mine.back() += static_cast<double>(s.tokens);
    float* to = part_grads_.data() + static_cast<size_t>(j) * n;
    for (const nn::Parameter& p : params) to = std::copy(p.grad, p.grad + p.size, to);
  }
  reducer_.sum_parts(part_grads_, k, grad_sum_);
  const float* from = grad_sum_.data();
  for (const nn::Parameter& p : params) {
    std::copy(from, from + p.size, p.grad);
    from += p.size;
  }
  std::vector<double> all(static_cast<size_t>(reducer_.workers()) * mine.size());
  reducer_.all_gather(mine, all);
  double loss = 0.0, tokens = 0.0;  // summed in part order, whatever the workers
  for (int w = 0; w < reducer_.workers(); ++w) {
    for (int64_t j = 0; j < k; ++j) loss += all[static_cast<size_t>(w) * mine.size() + j];
    tokens += all[static_cast<size_t>(w + 1) * mine.size() - 1];
  }
  return {static_cast<float>(loss / static_cast<double>(parts_)), static_cast<int64_t>(tokens)};
}

StepLoss TrainingLoop::train_step() {
  StepLoss result;
  if (parts_ == 1) {
    optimizer_.zero_grad();
    result = task_.train_step(step_, {});
  } else {
    result = train_parts();
  }
  if (options_.clip > 0) clip_grad_norm(task_.parameters(), options_.clip);
  optimizer_.step(learning_rate(step_));
  ++step_;
  return result;
}

Evaluation TrainingLoop::agreed_evaluation() {
  if (reducer_.workers() == 1) return task_.evaluate();
  std::array<double, 3> shared{};  // loss, whether there is an accuracy, the accuracy
  if (reducer_.leads() || task_.evaluates_together()) {
    const Evaluation e = task_.evaluate();
    shared = {e.loss, e.accuracy ? 1.0 : 0.0, e.accuracy.value_or(0.0)};
  }
  reducer_.broadcast(shared);
  Evaluation e{shared[0], {}};
  if (shared[1] != 0.0) e.accuracy = shared[2];
  return e;
}

bool TrainingLoop::agreed_out_of_time(double elapsed_s) {
  if (options_.time_limit <= 0) return false;
  if (reducer_.workers() == 1) return elapsed_s >= options_.time_limit;
  std::array<double, 1> leader{elapsed_s};
  reducer_.broadcast(leader);  // the leader's clock decides for all
  return leader[0] >= options_.time_limit;
}

bool TrainingLoop::evaluate_into(StepReport& r) {
  r.eval = agreed_evaluation();
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
    const bool out_of_time = agreed_out_of_time(r.elapsed_s);
    if (step_ % options_.eval_interval == 0 || step_ == options_.steps || out_of_time) {
      go_on = evaluate_into(r) && !out_of_time;
      loss_sum = 0.0, losses_counted = 0;
      if (!out.empty() && reducer_.leads()) save(out);
    }
    r.tokens_per_s = static_cast<double>(tokens) / std::max(train_seconds, 1e-9);
    on_step(r);
  }
  restore_best();
}

}  // namespace attn::train
