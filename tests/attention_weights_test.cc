// Attention weights recomputed from the flash forward's log-sum-exp against the reference's.
#include <cmath>

#include "attention_problem.h"
#include "attn/core/error.h"
#include "attn/kernels/attention.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace attn::testing {
namespace {

ProblemSpec weights_case() {
  ProblemSpec s;
  s.batch = 2;
  s.q_heads = 4;
  s.kv_heads = 2;
  s.q_len = 90;
  s.kv_len = 140;
  s.head_dim = 16;
  s.v_head_dim = 16;
  s.causal = true;
  s.window_left = 60;
  s.key_lengths = true;
  s.alibi = true;
  return s;
}

TEST(AttentionWeights, RowRangeMatchesReference) {
  Problem problem(weights_case());
  AttentionParams p = problem.params();
  flash_attention_forward(p);
  const ReferenceResult ref = attention_reference(p, true);
  const int64_t begin = 10, end = 75, rows = end - begin;
  std::vector<float> w(p.batch * p.q_heads * rows * p.kv_len, NAN);
  WeightsRequest r;
  r.row_begin = begin;
  r.row_end = end;
  r.out = w.data();
  r.out_stride = bhld_strides(p.q_heads, rows, p.kv_len);
  attention_weights(p, r);
  double worst = 0;
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t h = 0; h < p.q_heads; ++h)
      for (int64_t i = begin; i < end; ++i)
        for (int64_t j = 0; j < p.kv_len; ++j) {
          const double want = ref.weights[((b * p.q_heads + h) * p.q_len + i) * p.kv_len + j];
          const double got = w[r.out_stride.offset(b, h, i - begin, j)];
          worst = std::max(worst, std::abs(got - want));
        }
  EXPECT_LT(worst, 1e-5);
}

TEST(AttentionWeights, AveragedOverHeadsMatchesReferenceMean) {
  Problem problem(weights_case());
  AttentionParams p = problem.params();
  flash_attention_forward(p);
  const ReferenceResult ref = attention_reference(p, true);
  std::vector<float> w(p.batch * p.q_len * p.kv_len, NAN);
  WeightsRequest r;
  r.average_heads = true;
  r.out = w.data();
  r.out_stride = bhld_strides(1, p.q_len, p.kv_len);
  attention_weights(p, r);
  double worst = 0;
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t i = 0; i < p.q_len; ++i)
      for (int64_t j = 0; j < p.kv_len; ++j) {
        double mean = 0;
        for (int64_t h = 0; h < p.q_heads; ++h) {
          mean += ref.weights[((b * p.q_heads + h) * p.q_len + i) * p.kv_len + j];
        }
        mean /= p.q_heads;
        worst = std::max(worst, std::abs(w[r.out_stride.offset(b, 0, i, j)] - mean));
      }
  EXPECT_LT(worst, 1e-5);
}

TEST(AttentionWeights, RejectsMissingLse) {
  Problem problem(weights_case());
  AttentionParams p = problem.params();
  p.lse = nullptr;
  std::vector<float> w(p.batch * p.q_heads * p.q_len * p.kv_len);
  WeightsRequest r;
  r.out = w.data();
  EXPECT_THROW(attention_weights(p, r), Error);
}

TEST(AttentionWeights, RejectsRowRangeOutsideQueries) {
  Problem problem(weights_case());
  AttentionParams p = problem.params();
  std::vector<float> w(16);
  WeightsRequest r;
  r.row_begin = 50;
  r.row_end = 500;
  r.out = w.data();
  EXPECT_THROW(attention_weights(p, r), Error);
}

}  // namespace
}  // namespace attn::testing
