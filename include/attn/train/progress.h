// How a training run shows its progress, for every task of the TrainingLoop: JSON lines on
// stdout (machine-readable results), or a redrawn progress bar on stderr when stderr is a
// terminal, else a plain line on stderr at each evaluation.
//
//   {"step": 20, "loss": 2.31, "lr": 0.001, "val_loss": 2.35, "mean_loss": 2.4, "best": true,
//    "tokens_per_s": 11000.0, "elapsed_s": 12.5}            (epoch and val_accuracy when known)
//    step 20/600 [#.......] loss 2.310  val 2.350  11000 tokens/s  ETA 6m05s
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "attn/train/training_loop.h"

namespace attn::train {

struct ProgressOptions {
  int64_t total_steps = 0;
  bool json = false;                   // JSON lines on stdout
  bool json_every_step = true;         // false: JSON lines at evaluations only
  int64_t steps_per_epoch = 0;         // > 0: reports name the epoch (1-based)
  std::string tokens_name = "tokens";  // what tokens/s counts: "tokens", "phonemes", "words"
};

// "1m05s".
std::string duration_text(double seconds);

class ProgressPrinter {
 public:
  explicit ProgressPrinter(ProgressOptions options);
  void operator()(const StepReport& r);
  // Ends the progress bar's line, if one was drawn.
  void finish();

  // The last evaluation seen, and the last report.
  const std::optional<Evaluation>& last_eval() const { return last_eval_; }
  const StepReport& last() const { return last_; }

 private:
  void print_json(const StepReport& r) const;
  void draw_bar(const StepReport& r);
  void print_line(const StepReport& r) const;

  ProgressOptions options_;
  bool tty_;
  bool bar_drawn_ = false;
  std::optional<Evaluation> last_eval_;
  StepReport last_;
};

}  // namespace attn::train
