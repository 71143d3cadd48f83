// The reference against hand-computed cases: it is the definition everything else is held to.
#include <cmath>

#include "attention_problem.h"
#include "attn/core/error.h"
#include "attn/ref/attention_reference.h"
#include "gtest/gtest.h"

namespace attn::testing {
namespace {

// One query, two keys, D = 1: every number can be checked by hand.
struct TinyProblem {
  float q[1] = {1.0f};
  float k[2] = {1.0f, 2.0f};
  float v[2] = {10.0f, 20.0f};
  AttentionParams params() const {
    // The reference returns its outputs: out is not written.
    AttentionParams p = attention_params(
        ConstTensorView4::bhld(q, 1, 1, 1, 1), ConstTensorView4::bhld(k, 1, 1, 2, 1),
        ConstTensorView4::bhld(v, 1, 1, 2, 1), TensorView4::bhld(nullptr, 1, 1, 1, 1));
    p.scale = 1.0f;
    return p;
  }
};

TEST(Reference, SoftmaxOfTwoScoresByHand) {
  TinyProblem t;
  const ReferenceResult r = attention_reference(t.params(), true);
  const double w0 = 1.0 / (1.0 + std::exp(1.0));  // scores 1 and 2
  EXPECT_NEAR(r.weights[0], w0, 1e-12);
  EXPECT_NEAR(r.weights[1], 1.0 - w0, 1e-12);
  EXPECT_NEAR(r.out[0], 10.0 * w0 + 20.0 * (1.0 - w0), 1e-10);
  EXPECT_NEAR(r.lse[0], std::log(std::exp(1.0) + std::exp(2.0)), 1e-12);
}

TEST(Reference, SoftcapThenAlibi) {
  TinyProblem t;
  AttentionParams p = t.params();
  const float slope = 0.5f;
  p.softcap = 1.5f;
  p.alibi_slopes = &slope;
  const ReferenceResult r = attention_reference(p, true);
  // Query 0 sits at position 1 (bottom-right): distances 1 and 0.
  const double s0 = 1.5 * std::tanh(1.0 / 1.5) - 0.5, s1 = 1.5 * std::tanh(2.0 / 1.5);
  EXPECT_NEAR(r.weights[0], std::exp(s0) / (std::exp(s0) + std::exp(s1)), 1e-7);
}

TEST(Reference, CausalTopLeftSeesOnlyFirstKey) {
  TinyProblem t;
  AttentionParams p = t.params();
  p.causal = true;
  p.causal_align = CausalAlign::kTopLeft;
  const ReferenceResult r = attention_reference(p, true);
  EXPECT_EQ(r.weights[1], 0.0);
  EXPECT_NEAR(r.out[0], 10.0, 1e-12);
}

TEST(Reference, FullyMaskedRowGivesZeroAndMinusInfLse) {
  TinyProblem t;
  AttentionParams p = t.params();
  const int64_t no_keys = 0;
  p.key_lengths = &no_keys;
  const ReferenceResult r = attention_reference(p, true);
  EXPECT_EQ(r.out[0], 0.0);
  EXPECT_TRUE(std::isinf(r.lse[0]) && r.lse[0] < 0);
  EXPECT_EQ(r.weights[0], 0.0);
}

TEST(Reference, HugeLogitsDoNotOverflow) {
  TinyProblem t;
  t.q[0] = 1e3f;  // scores 1000 and 2000: exp would overflow without the max subtraction
  const ReferenceResult r = attention_reference(t.params(), true);
  EXPECT_NEAR(r.out[0], 20.0, 1e-9);
  EXPECT_NEAR(r.lse[0], 2000.0, 1e-9);
}

TEST(Reference, RejectsHqNotMultipleOfHkv) {
  ProblemSpec s;
  s.q_heads = 3;
  s.kv_heads = 2;
  Problem problem(s);
  EXPECT_THROW(attention_reference(problem.params()), Error);
}

TEST(Reference, RejectsNonFiniteScale) {
  TinyProblem t;
  AttentionParams p = t.params();
  p.scale = NAN;
  EXPECT_THROW(attention_reference(p), Error);
}

TEST(Reference, NaiveFp32AgreesWithDoubleOnSmallProblem) {
  Problem problem(ProblemSpec{});
  AttentionParams p = problem.params();
  const ReferenceResult r = attention_reference(p);
  const std::vector<float> naive = attention_naive_fp32(p);
  ASSERT_EQ(naive.size(), r.out.size());
  for (size_t i = 0; i < naive.size(); ++i) EXPECT_NEAR(naive[i], r.out[i], 1e-5);
}

}  // namespace
}  // namespace attn::testing
