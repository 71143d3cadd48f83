// The one training loop, on a task small enough to follow by hand: a single parameter w and the
// loss (w − target)², with an evaluation whose results the test chooses.
#include "attn/train/training_loop.h"

#include <cmath>
#include <filesystem>
#include <vector>

#include "attn/core/error.h"
#include "attn/io/checkpoint.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace attn::testing {
namespace {

class Quadratic : public train::TrainingTask {
 public:
  explicit Quadratic(std::vector<double> eval_losses = {}) : eval_losses_(std::move(eval_losses)) {}

  std::vector<nn::Parameter> parameters() override {
    return {{.name = "w", .value = &w_, .grad = &grad_, .shape = {1}, .size = 1, .decay = false}};
  }
  train::StepLoss train_step(int64_t step) override {
    steps_seen.push_back(step);
    const float d = w_ - 3.0f;
    grad_ += 2.0f * d;
    return {d * d, 10};
  }
  train::Evaluation evaluate() override {
    const size_t k = evaluations++;
    return {k < eval_losses_.size() ? eval_losses_[k] : double((w_ - 3.0f) * (w_ - 3.0f)), {}};
  }
  Metadata checkpoint_metadata() override { return {{"kind", "quadratic"}}; }
  void restore(const SafetensorsFile& file, const std::string& path) override {
    expect_kind(file, "quadratic", path);
  }

  float w_ = 0.0f, grad_ = 0.0f;
  std::vector<int64_t> steps_seen;
  size_t evaluations = 0;

 private:
  std::vector<double> eval_losses_;
};

train::LoopOptions options(int64_t steps, int64_t eval_interval) {
  train::LoopOptions o;
  o.steps = steps, o.eval_interval = eval_interval, o.lr = 0.1f, o.min_lr = 0.01f, o.warmup = 0;
  return o;
}

TEST(TrainingLoop, StepsEvaluatesOnScheduleAndLearns) {
  Quadratic task;
  train::TrainingLoop loop(task, options(20, 5));
  std::vector<train::StepReport> reports;
  loop.run("", [&](const train::StepReport& r) { reports.push_back(r); });
  ASSERT_EQ(reports.size(), 20u);
  EXPECT_EQ(task.steps_seen.front(), 0);
  EXPECT_EQ(task.steps_seen.back(), 19);
  EXPECT_EQ(task.evaluations, 4u);  // steps 5, 10, 15, 20
  EXPECT_TRUE(reports[4].eval.has_value());
  EXPECT_FALSE(reports[5].eval.has_value());
  EXPECT_LT(reports.back().loss, reports.front().loss);
  EXPECT_GT(reports.back().tokens_per_s, 0.0);
}

TEST(TrainingLoop, KeepBestEndsWithTheBestEvaluationsParameters) {
  Quadratic task({5.0, 1.0, 2.0, 3.0});  // the second evaluation (step 4) is the best
  train::LoopOptions o = options(8, 2);
  o.keep_best = true;
  train::TrainingLoop loop(task, o);
  float w_at_best = 0.0f;
  loop.run("", [&](const train::StepReport& r) {
    if (r.step == 4) w_at_best = task.w_;
  });
  ASSERT_TRUE(loop.best().has_value());
  EXPECT_EQ(loop.best()->step, 4);
  EXPECT_EQ(task.w_, w_at_best);
}

TEST(TrainingLoop, MarksOnlyImprovingEvaluationsAsBest) {
  Quadratic task({3.0, 1.0, 2.0});
  train::TrainingLoop loop(task, options(3, 1));
  std::vector<bool> best;
  loop.run("", [&](const train::StepReport& r) { best.push_back(r.best); });
  EXPECT_EQ(best, (std::vector<bool>{true, true, false}));
  ASSERT_TRUE(loop.best().has_value());
  EXPECT_EQ(loop.best()->step, 2);
}

TEST(TrainingLoop, PatienceStopsAfterEvaluationsWithoutProgress) {
  Quadratic task({1.0, 2.0, 3.0, 4.0, 5.0});
  train::LoopOptions o = options(100, 1);
  o.patience = 2;
  train::TrainingLoop loop(task, o);
  loop.run("", [](const train::StepReport&) {});
  EXPECT_EQ(loop.step(), 3);  // best at step 1, then two worse evaluations
}

TEST(TrainingLoop, ResumedRunIsBitExact) {
  const std::string dir = temp_dir("training_loop");
  Quadratic straight_task;
  train::TrainingLoop straight(straight_task, options(10, 3));
  std::vector<float> straight_losses;
  straight.run("", [&](const train::StepReport& r) { straight_losses.push_back(r.loss); });

  // Interrupted (like a killed process) right after the checkpoint of step 6.
  struct Interrupted {};
  Quadratic first_task;
  train::TrainingLoop first(first_task, options(10, 3));
  try {
    first.run(dir + "/q.safetensors", [](const train::StepReport& r) {
      if (r.step == 6) throw Interrupted{};
    });
  } catch (const Interrupted&) {
  }
  Quadratic rest_task;
  train::TrainingLoop rest(rest_task, options(10, 3));
  rest.resume(dir + "/q.safetensors");
  EXPECT_EQ(rest.step(), 6);
  std::vector<float> rest_losses;
  rest.run("", [&](const train::StepReport& r) { rest_losses.push_back(r.loss); });
  ASSERT_EQ(rest_losses.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(rest_losses[i], straight_losses[6 + i]) << i;
}

TEST(TrainingLoop, ResumeRefusesACheckpointOfAnotherKind) {
  const std::string dir = temp_dir("training_loop_kind");
  Quadratic task;
  train::TrainingLoop loop(task, options(2, 1));
  loop.save(dir + "/q.safetensors");
  class Other : public Quadratic {
    void restore(const SafetensorsFile& file, const std::string& path) override {
      expect_kind(file, "other", path);
    }
  } other;
  train::TrainingLoop other_loop(other, options(2, 1));
  EXPECT_THROW(other_loop.resume(dir + "/q.safetensors"), Error);
}

TEST(TrainingLoop, RejectsImpossibleOptions) {
  Quadratic task;
  EXPECT_THROW(train::TrainingLoop(task, options(0, 1)), Error);
  EXPECT_THROW(train::TrainingLoop(task, options(5, 0)), Error);
}

}  // namespace
}  // namespace attn::testing
