// The flash forward against the double reference under the 2× error rule.
#include <omp.h>

#include <cmath>
#include <cstring>

#include "attention_problem.h"
#include "attn/core/error.h"
#include "attn/core/simd_target.h"
#include "attn/kernels/attention.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace attn::testing {
namespace {

void expect_matches_reference(const ProblemSpec& spec) {
  Problem problem(spec);
  const std::string why = check_against_reference(problem);
  EXPECT_EQ(why, "");
}

TEST(FlashForward, RandomizedSweepMatchesReference) {
  for (const ProblemSpec& spec : random_sweep(2024, small_test_scale())) {
    SCOPED_TRACE(spec.describe());
    expect_matches_reference(spec);
  }
}

// Each option alone, on a shape with partial tiles on both axes.
class FlashOption : public ::testing::TestWithParam<int> {};

TEST_P(FlashOption, MatchesReference) { expect_matches_reference(option_case(GetParam())); }

INSTANTIATE_TEST_SUITE_P(EachOption, FlashOption, ::testing::Range(0, kOptionCases));

TEST(FlashForward, FullyMaskedRowGivesZeroNotNaN) {
  ProblemSpec s;
  s.q_len = 8;
  s.kv_len = 8;
  s.causal = true;
  s.align = CausalAlign::kTopLeft;
  s.window_left = 0;
  s.window_right = -1;
  s.key_lengths = true;
  s.seed = 3;
  Problem problem(s);
  AttentionParams p = problem.params();
  const int64_t none = 0;
  p.key_lengths = &none;
  p.batch = 1;
  flash_attention_forward(p);
  for (float x : problem.out_bhld()) EXPECT_EQ(x, 0.0f);
  for (int64_t r = 0; r < p.q_heads * p.q_len; ++r) {
    EXPECT_TRUE(std::isinf(problem.lse()[r]) && problem.lse()[r] < 0) << r;
  }
}

TEST(FlashForward, RowsMaskedByBoolMaskGiveZero) {
  ProblemSpec s;
  s.bool_mask = MaskKind::kFull;
  Problem problem(s);
  AttentionParams p = problem.params();
  std::vector<uint8_t> mask(s.batch * s.q_heads * s.q_len * s.kv_len, 1);
  std::fill(mask.begin(), mask.begin() + s.kv_len, 0);  // row 0 of head 0 sees nothing
  p.bool_mask = mask.data();
  flash_attention_forward(p);
  const std::vector<float> out = problem.out_bhld();
  for (int64_t c = 0; c < s.v_head_dim; ++c) EXPECT_EQ(out[c], 0.0f);
  EXPECT_TRUE(std::isinf(problem.lse()[0]));
}

TEST(FlashForward, HugeLogitsDoNotOverflow) {
  ProblemSpec s;
  s.magnitude = 30.0f;  // scores of order 30² · D / sqrt(D) ≈ 2500
  s.head_dim = 8;
  expect_matches_reference(s);
}

std::vector<float> run_with_threads(Problem& problem, int threads) {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  flash_attention_forward(problem.params());
  omp_set_num_threads(saved);
  return problem.out_bhld();
}

TEST(FlashForward, BitwiseIdenticalForOneTwoThreeThreads) {
  ProblemSpec s;
  s.q_heads = 3;
  s.kv_heads = 1;
  s.q_len = 333;
  s.kv_len = 333;
  s.head_dim = 64;
  s.v_head_dim = 64;
  s.causal = true;
  Problem problem(s);
  const std::vector<float> one = run_with_threads(problem, 1);
  for (int threads : {2, 3}) {
    const std::vector<float> many = run_with_threads(problem, threads);
    EXPECT_EQ(std::memcmp(one.data(), many.data(), one.size() * sizeof(float)), 0) << threads;
  }
}

TEST(FlashForward, DropoutBitwiseIdenticalForOneTwoThreeThreads) {
  ProblemSpec s = option_case(17);  // dropout 0.7, causal
  s.q_len = 333;
  s.kv_len = 300;
  Problem problem(s);
  const std::vector<float> one = run_with_threads(problem, 1);
  for (int threads : {2, 3}) {
    const std::vector<float> many = run_with_threads(problem, threads);
    EXPECT_EQ(std::memcmp(one.data(), many.data(), one.size() * sizeof(float)), 0) << threads;
  }
}

// Every compiled SIMD target the CPU supports, forced in turn.
TEST(FlashForward, EverySimdTargetMatchesReference) {
  for (const std::string& target : supported_simd_targets()) {
    SCOPED_TRACE(target);
    force_simd_target(target);
    EXPECT_EQ(active_simd_target(), target);
    for (int which : {0, 1, 5, 6, 9, 13, 16, 17, 18}) expect_matches_reference(option_case(which));
    for (const ProblemSpec& spec : random_sweep(77, true)) {
      if (spec.q_len * spec.kv_len <= 20000) expect_matches_reference(spec);
    }
  }
  force_simd_target("");
}

TEST(FlashForward, RejectsMissingOutput) {
  Problem problem(ProblemSpec{});
  AttentionParams p = problem.params();
  p.out = nullptr;
  EXPECT_THROW(flash_attention_forward(p), Error);
}

TEST(FlashForward, RejectsZeroSizedDimension) {
  Problem problem(ProblemSpec{});
  AttentionParams p = problem.params();
  p.q_len = 0;
  EXPECT_THROW(flash_attention_forward(p), Error);
}

TEST(FlashForward, RejectsNegativeKeyLength) {
  Problem problem(ProblemSpec{});
  AttentionParams p = problem.params();
  const int64_t bad = -1;
  p.key_lengths = &bad;
  EXPECT_THROW(flash_attention_forward(p), Error);
}

}  // namespace
}  // namespace attn::testing
