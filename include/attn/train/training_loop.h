// TrainingLoop — the one loop every training task runs: steps with AdamW, global-norm clipping
// and a warm-up + cosine learning rate; evaluation every `eval_interval` steps and at the end;
// early stopping (keep the best evaluation's parameters, stop after `patience` evaluations without
// a better one); a time limit; atomic checkpoints after each evaluation and at the end; bit-exact
// resume; tokens per second.
//
// The task supplies the model's side: its parameters, the forward and backward of the batch of a
// step, the evaluation, and the checkpoint's metadata. Every source of randomness of a task must
// be a pure function of (seed, step) — the batch, the dropout masks — so that a run resumed at
// step N produces the same losses as an uninterrupted one.
//
// Micro-batches and data parallelism: a step's batch may be cut into equal parts whose gradients
// are computed one after the other and summed in part order; with a GradientReducer the parts are
// shared among workers (processes), each computing its own, and summed across them in the same
// order, so W workers give bitwise the parameters and losses of one process computing the same W
// parts. Only the leading worker evaluates (the others take its result) and writes checkpoints.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "attn/io/safetensors.h"
#include "attn/nn/parameter.h"
#include "attn/train/adamw.h"
#include "attn/train/gradient_reducer.h"

namespace attn::train {

// What a task's step did.
struct StepLoss {
  float loss = 0.0f;   // the batch's (or the part's) mean loss
  int64_t tokens = 0;  // tokens trained on (for tokens per second)
};

// A task's evaluation. Better means: higher accuracy when there is one (ties: lower loss), else
// lower loss.
struct Evaluation {
  double loss = 0.0;
  std::optional<double> accuracy;
  bool better_than(const Evaluation& other) const;
};

// The 1-based epoch of the 1-based step `step` when an epoch has `steps_per_epoch` steps.
inline int64_t epoch_of(int64_t step, int64_t steps_per_epoch) {
  return (step + steps_per_epoch - 1) / steps_per_epoch;
}

// Part `index` of a step's batch cut into `count` equal parts.
struct BatchPart {
  int64_t index = 0;
  int64_t count = 1;
};

class TrainingTask {
 public:
  virtual ~TrainingTask() = default;
  virtual std::vector<nn::Parameter> parameters() = 0;
  // Forward and backward of part `part` of the batch of `step` (0-based): the gradients are
  // accumulated into the parameters (zeroed by the loop before), scaled so that the parts'
  // gradients sum to the whole batch's; returns the part's own mean loss. A task whose
  // splits_batch() is false is only ever asked for the whole batch.
  virtual StepLoss train_step(int64_t step, BatchPart part) = 0;
  // Whether train_step can compute a part of the batch.
  virtual bool splits_batch() const { return false; }
  // Whether evaluate() is collective, every worker taking part (e.g. a sequence-parallel
  // forward); otherwise the leader alone evaluates. Every worker gets the leader's result.
  virtual bool evaluates_together() const { return false; }
  virtual Evaluation evaluate() = 0;
  // The checkpoint's metadata: "kind", "config" and whatever the task needs to load the model
  // (the loop adds "step" and the optimizer's state).
  virtual Metadata checkpoint_metadata() = 0;
  // Called by TrainingLoop::resume before anything is loaded: throws attn::Error if the
  // checkpoint belongs to another model, and restores the task's own state (e.g. its seed).
  virtual void restore(const SafetensorsFile& file, const std::string& path) = 0;
};

struct LoopOptions {
  int64_t steps = 1000;         // total steps (also when resuming)
  float lr = 1e-3f;             // peak learning rate
  float min_lr = 1e-4f;         // at the end of the cosine
  int64_t warmup = 50;          // linear warm-up steps
  float clip = 1.0f;            // global gradient norm; ≤ 0 disables
  AdamWConfig adamw;            // betas, eps, weight decay
  int64_t eval_interval = 100;  // steps between evaluations (and checkpoints)
  double time_limit = 0.0;      // seconds; > 0 stops early (evaluates and saves)
  bool keep_best = false;       // end with the parameters of the best evaluation
  int64_t patience = 0;         // > 0: stop after this many evaluations without a better one
  int64_t micro_batches = 0;    // parts of each step's batch; 0: one per worker
};

// What the loop reports after each step.
struct StepReport {
  int64_t step = 0;        // 1-based: the number of steps done
  float loss = 0.0f;       // of this step
  double mean_loss = 0.0;  // mean training loss since the previous evaluation
  float lr = 0.0f;
  std::optional<Evaluation> eval;  // at evaluation steps
  bool best = false;               // this evaluation is the best so far
  double tokens_per_s = 0.0;       // training tokens per second of training steps, this run
  double elapsed_s = 0.0;          // this run so far
};

class TrainingLoop {
 public:
  // `task` and `reducer` must outlive the loop. Without a reducer the loop is its only worker.
  // Throws attn::Error unless the micro-batches divide among the workers, and, when there is
  // more than one, the task splits its batch.
  TrainingLoop(TrainingTask& task, const LoopOptions& options, GradientReducer* reducer = nullptr);

  // Loads parameters, optimizer state and step from a checkpoint written by save().
  void resume(const std::string& path);
  // Trains up to options.steps (or the time limit, or early stopping), reporting every step (on
  // every worker); the leader saves to `out` (when not empty) after each evaluation and at the end.
  void run(const std::string& out, const std::function<void(const StepReport&)>& on_step);
  // Writes the parameters, the AdamW moments, the task's metadata and the step, atomically.
  void save(const std::string& path);

  int64_t step() const { return step_; }
  // The parts each step's batch is cut into (LoopOptions::micro_batches, resolved).
  int64_t parts() const { return parts_; }
  // The report of the best evaluation so far, if any.
  const std::optional<StepReport>& best() const { return best_; }

 private:
  float learning_rate(int64_t step) const;
  StepLoss train_step();
  StepLoss train_parts();  // this worker's parts, then the sum over all workers
  Evaluation agreed_evaluation();
  bool agreed_out_of_time(double elapsed_s);
  bool evaluate_into(StepReport& r);  // returns false when early stopping ends the run
  void restore_best();

  TrainingTask& task_;
  LoopOptions options_;
  std::unique_ptr<GradientReducer> own_reducer_;  // the single worker, when none was given
  GradientReducer& reducer_;
  int64_t parts_ = 1;              // of each batch, over all workers
  std::vector<float> part_grads_;  // [parts_ / workers, parameters]: this worker's parts
  std::vector<float> grad_sum_;    // [parameters]
  AdamW optimizer_;
  int64_t step_ = 0;  // steps done
  std::optional<StepReport> best_;
  std::vector<std::vector<float>> best_params_;
  int64_t evals_since_best_ = 0;
};

}  // namespace attn::train
