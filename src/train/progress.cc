#include "attn/train/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace attn::train {

std::string duration_text(double seconds) {
  const long s = std::lround(std::max(0.0, seconds));
  char text[32];
  std::snprintf(text, sizeof text, "%ldm%02lds", s / 60, s % 60);
  return text;
}

ProgressPrinter::ProgressPrinter(ProgressOptions options)
    : options_(std::move(options)), tty_(!options_.json && ::isatty(STDERR_FILENO)) {}

void ProgressPrinter::operator()(const StepReport& r) {
  if (r.eval) last_eval_ = r.eval;
  last_ = r;
  if (options_.json) {
    if (options_.json_every_step || r.eval) print_json(r);
  } else if (tty_) {
    draw_bar(r);
  } else if (r.eval || r.step == options_.total_steps) {
    print_line(r);
  }
}

void ProgressPrinter::finish() {
  if (bar_drawn_) std::fprintf(stderr, "\n");
  bar_drawn_ = false;
}

void ProgressPrinter::print_json(const StepReport& r) const {
  nlohmann::ordered_json j;
  if (options_.steps_per_epoch > 0) {
    j["epoch"] = epoch_of(r.step, options_.steps_per_epoch);
  }
  j["step"] = r.step;
  j["loss"] = r.loss;
  j["lr"] = r.lr;
  if (r.eval) {
    j["val_loss"] = r.eval->loss;
    if (r.eval->accuracy) j["val_accuracy"] = *r.eval->accuracy;
    j["mean_loss"] = r.mean_loss;
    j["best"] = r.best;
    j["tokens_per_s"] = r.tokens_per_s;
    j["elapsed_s"] = r.elapsed_s;
  }
  std::printf("%s\n", j.dump().c_str());
  std::fflush(stdout);
}

void ProgressPrinter::draw_bar(const StepReport& r) {
  const int64_t total = std::max<int64_t>(1, options_.total_steps);
  const double eta = r.elapsed_s / double(std::max<int64_t>(1, r.step)) * double(total - r.step);
  char val[32] = "-";
  if (last_eval_) std::snprintf(val, sizeof val, "%.3f", last_eval_->loss);
  const int width = 24, done = static_cast<int>(width * std::min(r.step, total) / total);
  std::fprintf(stderr, "\r step %lld/%lld [%s%s] loss %.3f  val %s  %.0f %s/s  ETA %s ",
               static_cast<long long>(r.step), static_cast<long long>(total),
               std::string(done, '#').c_str(), std::string(width - done, '.').c_str(), r.loss, val,
               r.tokens_per_s, options_.tokens_name.c_str(), duration_text(eta).c_str());
  std::fflush(stderr);
  bar_drawn_ = true;
}

void ProgressPrinter::print_line(const StepReport& r) const {
  std::string epoch, val = "-", accuracy;
  if (options_.steps_per_epoch > 0) {
    epoch = "epoch " + std::to_string(epoch_of(r.step, options_.steps_per_epoch)) + "  ";
  }
  if (last_eval_) {
    char text[64];
    std::snprintf(text, sizeof text, "%.4f", last_eval_->loss);
    val = text;
    if (last_eval_->accuracy) {
      std::snprintf(text, sizeof text, "  val_accuracy %.4f", *last_eval_->accuracy);
      accuracy = text;
    }
  }
  std::fprintf(stderr, "%sstep %lld/%lld  loss %.4f  val_loss %s%s  %s/s %.0f  elapsed %s%s\n",
               epoch.c_str(), static_cast<long long>(r.step),
               static_cast<long long>(options_.total_steps), r.loss, val.c_str(), accuracy.c_str(),
               options_.tokens_name.c_str(), r.tokens_per_s, duration_text(r.elapsed_s).c_str(),
               r.best && r.eval ? "  best" : "");
}

}  // namespace attn::train
