// The one training loop, on a task small enough to follow by hand: a single parameter w and the
// loss (w − target)², with an evaluation whose results the test chooses.
#include "attn/train/training_loop.h"

#include <array>
#include <cmath>
#include <filesystem>
#include <span>
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
  train::StepLoss train_step(int64_t step, train::BatchPart) override {
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

// A batch of parts: part p of n has its own target p + 1 and weight 1/n, so that each part's
// gradient differs and the sum of the parts' gradients is the whole batch's.
class PartedQuadratic : public Quadratic {
 public:
  train::StepLoss train_step(int64_t step, train::BatchPart part) override {
    parts_seen.push_back({step, part.index, part.count});
    w_at_step = w_;
    const float d = w_ - static_cast<float>(part.index + 1);
    grad_ += part_gradient(w_, part);
    last_loss = d * d;
    return {last_loss, 10};
  }
  bool splits_batch() const override { return true; }
  static float part_gradient(float w, train::BatchPart part) {
    return 2.0f * (w - static_cast<float>(part.index + 1)) / static_cast<float>(part.count);
  }

  std::vector<std::array<int64_t, 3>> parts_seen;  // step, index, count
  float w_at_step = 0.0f, last_loss = 0.0f;        // of the last call
};

// Worker `rank` of two whose partner computes exactly what it does: the sums double its own,
// the gathered values repeat its own, and the broadcast leaves them as they are.
class MirroredPair : public train::GradientReducer {
 public:
  explicit MirroredPair(int rank) : rank_(rank) {}
  int workers() const override { return 2; }
  int rank() const override { return rank_; }
  void sum_parts(std::span<const float> parts, int64_t k, std::span<float> sum) override {
    std::vector<float> both(parts.begin(), parts.end());
    both.insert(both.end(), parts.begin(), parts.end());
    train::sum_in_order(both, 2 * k, sum);
  }
  void all_gather(std::span<const double> mine, std::span<double> all) override {
    std::copy(mine.begin(), mine.end(), all.begin());
    std::copy(mine.begin(), mine.end(), all.begin() + static_cast<ptrdiff_t>(mine.size()));
  }
  void broadcast(std::span<double>) override { ++broadcasts; }

  int broadcasts = 0;

 private:
  int rank_;
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

TEST(TrainingLoop, MicroBatchesSumThePartsInOrderAndAverageTheirLosses) {
  PartedQuadratic task;
  train::LoopOptions o = options(2, 10);
  o.micro_batches = 3;
  o.clip = 0.0f;
  train::TrainingLoop loop(task, o);
  std::vector<float> losses;
  loop.run("", [&](const train::StepReport& r) { losses.push_back(r.loss); });
  using Seen = std::array<int64_t, 3>;
  EXPECT_EQ(task.parts_seen,
            (std::vector<Seen>{{0, 0, 3}, {0, 1, 3}, {0, 2, 3}, {1, 0, 3}, {1, 1, 3}, {1, 2, 3}}));
  // Step 0 at w = 0: the parts' losses are 1, 4, 9.
  EXPECT_FLOAT_EQ(losses[0], 14.0f / 3.0f);
  // The gradient left by the last step: the parts' gradients added in part order.
  const float w = task.w_at_step;
  float expected = PartedQuadratic::part_gradient(w, {0, 3});
  expected += PartedQuadratic::part_gradient(w, {1, 3});
  expected += PartedQuadratic::part_gradient(w, {2, 3});
  EXPECT_EQ(task.grad_, expected);
}

TEST(TrainingLoop, OneMicroBatchPerWorkerAndOnlyTheLeaderEvaluatesAndSaves) {
  const std::string dir = temp_dir("training_loop_follower");
  PartedQuadratic task;
  MirroredPair follower(1);
  train::TrainingLoop loop(task, options(4, 2), &follower);
  EXPECT_EQ(loop.parts(), 2);
  std::vector<train::StepReport> reports;
  loop.run(dir + "/q.safetensors", [&](const train::StepReport& r) { reports.push_back(r); });
  EXPECT_EQ(task.parts_seen.front(), (std::array<int64_t, 3>{0, 1, 2}));  // its own part only
  EXPECT_EQ(task.parts_seen.size(), 4u);
  EXPECT_EQ(reports.back().loss, task.last_loss);  // the mean of two equal parts
  EXPECT_EQ(task.evaluations, 0u);
  EXPECT_EQ(follower.broadcasts, 2);  // the leader's evaluations at steps 2 and 4
  ASSERT_TRUE(reports[1].eval.has_value());
  EXPECT_FALSE(std::filesystem::exists(dir + "/q.safetensors"));
}

TEST(TrainingLoop, EveryWorkerEvaluatesWhenTheTaskEvaluatesTogether) {
  class Together : public PartedQuadratic {
    bool evaluates_together() const override { return true; }
  } task;
  MirroredPair follower(1);
  train::TrainingLoop loop(task, options(4, 2), &follower);
  loop.run("", [](const train::StepReport&) {});
  EXPECT_EQ(task.evaluations, 2u);
  EXPECT_EQ(follower.broadcasts, 2);
}

TEST(TrainingLoop, MicroBatchesNeedATaskThatSplitsAndDivideAmongWorkers) {
  Quadratic whole;
  train::LoopOptions o = options(2, 1);
  o.micro_batches = 2;
  EXPECT_THROW(train::TrainingLoop(whole, o), Error);
  PartedQuadratic parted;
  MirroredPair worker(0);
  o.micro_batches = 3;
  EXPECT_THROW(train::TrainingLoop(parted, o, &worker), Error);
  o.micro_batches = 4;
  EXPECT_EQ(train::TrainingLoop(parted, o, &worker).parts(), 4);
}

TEST(TrainingLoop, RejectsImpossibleOptions) {
  Quadratic task;
  EXPECT_THROW(train::TrainingLoop(task, options(0, 1)), Error);
  EXPECT_THROW(train::TrainingLoop(task, options(5, 0)), Error);
}

}  // namespace
}  // namespace attn::testing
