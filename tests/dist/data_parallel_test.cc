// Data-parallel training: the gradient sum across ranks in part order, and a TrainingLoop over
// the ranks against one process computing the same parts.
#include "attn/dist/data_parallel.h"

#include <cmath>
#include <vector>

#include "attn/train/training_loop.h"
#include "gtest/gtest.h"

namespace attn::testing {
namespace {

struct Comm {
  int rank = 0, size = 1;
  Comm() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
  }
};

// Part p of a gradient of n values: magnitudes from 1e-3 to 1e3, so that sums in another order
// round differently.
std::vector<float> part_values(int64_t p, int64_t n) {
  std::vector<float> g(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    g[i] = static_cast<float>(std::sin(1.7 * double(i) + 0.9 * double(p)) *
                              std::pow(10.0, double((i + p) % 7) - 3.0));
  }
  return g;
}

TEST(DataParallel, SumOfPartsIsBitwiseTheSumInPartOrder) {
  const Comm c;
  dist::MpiGradientReducer reducer(MPI_COMM_WORLD);
  EXPECT_EQ(reducer.workers(), c.size);
  for (int64_t k : {1, 2}) {
    for (int64_t n : {1, 3, 1001}) {  // fewer values than ranks, too
      std::vector<float> mine, every;
      for (int64_t p = 0; p < k * c.size; ++p) {
        const std::vector<float> g = part_values(p, n);
        every.insert(every.end(), g.begin(), g.end());
        if (p / k == c.rank) mine.insert(mine.end(), g.begin(), g.end());
      }
      std::vector<float> expected(static_cast<size_t>(n)), sum(static_cast<size_t>(n));
      train::sum_in_order(every, k * c.size, expected);
      reducer.sum_parts(mine, k, sum);
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(sum[i], expected[i]) << "k " << k << ", i " << i;
    }
  }
}

TEST(DataParallel, GatherIsInRankOrderAndBroadcastIsTheLeaders) {
  const Comm c;
  dist::MpiGradientReducer reducer(MPI_COMM_WORLD);
  const std::vector<double> mine = {double(c.rank), 10.0 + c.rank};
  std::vector<double> all(2 * static_cast<size_t>(c.size));
  reducer.all_gather(mine, all);
  for (int r = 0; r < c.size; ++r) {
    EXPECT_EQ(all[2 * r], r);
    EXPECT_EQ(all[2 * r + 1], 10.0 + r);
  }
  std::vector<double> values = {1.5 + c.rank};
  reducer.broadcast(values);
  EXPECT_EQ(values[0], 1.5);
}

// A batch of parts over a vector w: part p pulls w towards its own target, with the weight
// 1/count of a part of the batch's mean loss.
class PartedTargets : public train::TrainingTask {
 public:
  static constexpr int64_t kSize = 5;
  std::vector<nn::Parameter> parameters() override {
    return {{.name = "w",
             .value = w_.data(),
             .grad = grad_.data(),
             .shape = {kSize},
             .size = kSize,
             .decay = false}};
  }
  train::StepLoss train_step(int64_t step, train::BatchPart part) override {
    double loss = 0.0;
    for (int64_t i = 0; i < kSize; ++i) {
      const float target = 0.37f * float((part.index + 1) * (i + 1)) + 0.01f * float(step);
      const float d = w_[i] - target;
      grad_[i] += 2.0f * d / float(kSize * part.count);
      loss += double(d) * d / kSize;
    }
    return {static_cast<float>(loss), kSize};
  }
  bool splits_batch() const override { return true; }
  train::Evaluation evaluate() override { return {double(w_[0]), {}}; }
  Metadata checkpoint_metadata() override { return {{"kind", "parted"}}; }
  void restore(const SafetensorsFile&, const std::string&) override {}

  std::vector<float> w_ = std::vector<float>(kSize, 0.0f);
  std::vector<float> grad_ = std::vector<float>(kSize, 0.0f);
};

struct LoopRun {
  std::vector<float> losses;
  std::vector<double> evals;
  std::vector<float> w;
};

LoopRun train_parts(int64_t micro_batches, train::GradientReducer* reducer) {
  PartedTargets task;
  train::LoopOptions o;
  o.steps = 12, o.eval_interval = 4, o.lr = 0.05f, o.warmup = 2, o.clip = 0.5f;
  o.micro_batches = micro_batches;
  train::TrainingLoop loop(task, o, reducer);
  LoopRun r;
  loop.run("", [&](const train::StepReport& s) {
    r.losses.push_back(s.loss);
    if (s.eval) r.evals.push_back(s.eval->loss);
  });
  r.w = task.w_;
  return r;
}

TEST(DataParallel, LoopOverTheRanksIsBitwiseOneProcessWithAsManyMicroBatches) {
  const Comm c;
  dist::MpiGradientReducer reducer(MPI_COMM_WORLD);
  for (int64_t per_rank : {1, 2}) {
    const LoopRun ranks = train_parts(per_rank * c.size, &reducer);
    const LoopRun single = train_parts(per_rank * c.size, nullptr);
    EXPECT_EQ(ranks.losses, single.losses) << per_rank << " parts per rank";
    EXPECT_EQ(ranks.evals, single.evals);
    EXPECT_EQ(ranks.w, single.w);
  }
}

}  // namespace
}  // namespace attn::testing
