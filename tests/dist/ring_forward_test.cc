// The ring forward against the reference of the whole problem, its schedule, and its
// determinism.
#include <omp.h>

#include <vector>

#include "attn/core/error.h"
#include "gtest/gtest.h"
#include "ring_cases.h"
#include "ring_problem.h"

namespace attn::testing {
namespace {

using dist::Sharding;

class RingForward : public ::testing::TestWithParam<Sharding> {};

TEST_P(RingForward, MatchesTheWholeProblemForEveryOption) {
  for (int c = 0; c < kRingCases; ++c) {
    EXPECT_EQ(check_ring_forward(ring_case(c), GetParam()), "") << "case " << c;
  }
}

INSTANTIATE_TEST_SUITE_P(Shardings, RingForward,
                         ::testing::Values(Sharding::kContiguous, Sharding::kZigzag),
                         [](const auto& info) { return dist::sharding_name(info.param); });

TEST(RingSchedule, ZigzagBalancesCausalBlocks) {
  BackwardProblem whole(ring_case(1));
  RingShard shard(whole, Sharding::kZigzag);
  const dist::RingStats stats = shard.forward();
  const int ranks = world_size();
  EXPECT_EQ(stats.steps, ranks);
  // Two full pairs at every step but the first, which has one full pair and two diagonal ones.
  EXPECT_EQ(stats.blocks, 2 * ranks + 1);
}

TEST(RingSchedule, ContiguousCausalSkipsFutureBlocks) {
  BackwardProblem whole(ring_case(1));
  RingShard shard(whole, Sharding::kContiguous);
  EXPECT_EQ(shard.forward().blocks, world_rank() + 1);
}

TEST(RingSchedule, ShortWindowEndsTheRingEarly) {
  // L/P ≥ 18 rows and a window of 10 keys: only the block of the previous rank is needed.
  BackwardProblem whole(ring_case(6));
  RingShard shard(whole, Sharding::kContiguous);
  EXPECT_EQ(shard.forward().steps, std::min(world_size(), 2));
}

TEST(RingDeterminism, BitwiseEqualRunToRunAndForAnyThreadCount) {
  ProblemSpec spec = ring_case(10);
  BackwardProblem whole(spec);
  RingShard shard(whole, Sharding::kZigzag);
  std::vector<std::vector<float>> results;
  for (int threads : {1, 2, 1, 3}) {
    omp_set_num_threads(threads);
    shard.forward();
    shard.backward();
    results.push_back(shard.local_results());
  }
  omp_set_num_threads(1);
  for (size_t i = 1; i < results.size(); ++i) {
    EXPECT_TRUE(results[i] == results[0]) << "run " << i << " differs from run 0";
  }
}

TEST(RingValidation, RanksThatDisagreeAllThrow) {
  BackwardProblem whole(ring_case(0));
  RingShard shard(whole, Sharding::kZigzag);
  AttentionParams p = shard.params();
  p.causal = world_rank() == world_size() - 1;  // differs from the others when P > 1
  if (world_size() > 1) {
    EXPECT_THROW(dist::ring_attention_forward(p, {MPI_COMM_WORLD, Sharding::kZigzag}), Error);
  }
}

TEST(RingValidation, MasksAreRejectedOnEveryRank) {
  ProblemSpec spec = ring_case(0);
  spec.bool_mask = MaskKind::kTwoD;
  BackwardProblem whole(spec);
  RingShard shard(whole, Sharding::kContiguous);
  EXPECT_THROW(shard.forward(), Error);
}

}  // namespace
}  // namespace attn::testing
