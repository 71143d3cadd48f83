// The ring backward against the reference gradients of the whole problem, and a random sweep
// of options through both passes.
#include "gtest/gtest.h"
#include "ring_cases.h"
#include "ring_problem.h"

namespace attn::testing {
namespace {

using dist::Sharding;

class RingBackward : public ::testing::TestWithParam<Sharding> {};

TEST_P(RingBackward, MatchesTheWholeProblemForEveryOption) {
  for (int c = 0; c < kRingCases; ++c) {
    EXPECT_EQ(check_ring_backward(ring_case(c), GetParam()), "") << "case " << c;
  }
}

TEST_P(RingBackward, RandomOptionSweepMatchesForwardAndBackward) {
  for (const ProblemSpec& spec : ring_sweep(2024, 12)) {
    EXPECT_EQ(check_ring_forward(spec, GetParam()), "");
    EXPECT_EQ(check_ring_backward(spec, GetParam()), "");
  }
}

INSTANTIATE_TEST_SUITE_P(Shardings, RingBackward,
                         ::testing::Values(Sharding::kContiguous, Sharding::kZigzag),
                         [](const auto& info) { return dist::sharding_name(info.param); });

}  // namespace
}  // namespace attn::testing
