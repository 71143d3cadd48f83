// Packed sequences of different lengths (AttentionParams' cu_seqlens_q / cu_seqlens_k): the
// kernels against the reference, which masks the packed problem block by block, and against
// each sequence run alone as an ordinary problem (the same bits); validation; the work
// partition.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "attention_problem.h"
#include "attn/core/error.h"
#include "attn/core/simd_target.h"
#include "attn/kernels/attention.h"
#include "attn/ref/attention_reference.h"
#include "backward_problem.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/tiling.h"
#include "test_util.h"

namespace attn::testing {
namespace {

TEST(AttentionVarlen, ForwardMatchesReferenceForEveryOptionOnEveryTarget) {
  for (const std::string& target : supported_simd_targets()) {
    force_simd_target(target);
    for (int c = 0; c < kPackedCases; ++c) {
      Problem problem(packed_case(c));
      EXPECT_EQ(check_against_reference(problem), "") << target << " case " << c;
    }
  }
  force_simd_target("");
}

TEST(AttentionVarlen, ForwardIsEachSequenceRunAloneBitForBit) {
  for (int c = 0; c < kPackedCases; ++c) {
    Problem problem(packed_case(c));
    const AttentionParams p = problem.params();
    flash_attention_forward(p);
    const std::vector<float> packed_out = problem.out_bhld(), packed_lse = problem.lse();
    for (int64_t s = 0; s < p.sequences; ++s) {
      const AttentionParams alone = sequence_params(p, s);
      if (alone.q_len > 0 && alone.kv_len > 0) flash_attention_forward(alone);
    }
    EXPECT_TRUE(bitwise_equal(problem.out_bhld(), packed_out)) << "case " << c;
    EXPECT_TRUE(bitwise_equal(problem.lse(), packed_lse)) << "case " << c;
  }
}

TEST(AttentionVarlen, SequenceWithoutKeysGivesZeroAndMinusInfinity) {
  Problem problem(packed_case(0));
  const AttentionParams p = problem.params();
  flash_attention_forward(p);
  // Sequence 5 has 9 queries and no key: rows 204 .. 212 of every head.
  const std::vector<float> out = problem.out_bhld();
  for (int64_t h = 0; h < p.q_heads; ++h) {
    for (int64_t i = 204; i < 213; ++i) {
      EXPECT_EQ(problem.lse()[h * p.q_len + i], -INFINITY);
      for (int64_t c = 0; c < p.v_head_dim; ++c) {
        EXPECT_EQ(out[(h * p.q_len + i) * p.v_head_dim + c], 0.0f);
      }
    }
  }
}

TEST(AttentionVarlen, BackwardMatchesReferenceForEveryOptionAndPlan) {
  for (int c = 0; c < kPackedCases; ++c) {
    for (BackwardPlan plan : {BackwardPlan::kSplit, BackwardPlan::kFused}) {
      BackwardProblem problem(packed_case(c));
      problem.set_plan(plan);
      EXPECT_EQ(check_backward_against_reference(problem), "")
          << "case " << c << " plan " << static_cast<int>(plan);
    }
  }
}

TEST(AttentionVarlen, BackwardIsEachSequenceRunAloneBitForBit) {
  for (int c : {0, 1, 6, 9, 11}) {
    for (BackwardPlan plan : {BackwardPlan::kSplit, BackwardPlan::kFused}) {
      BackwardProblem problem(packed_case(c));
      problem.set_plan(plan);
      run_flash_backward(problem);
      const std::vector<float> dq = problem.dq_bhld(), dk = problem.dk_bhld(),
                               dv = problem.dv_bhld();
      const AttentionParams p = problem.params();
      const AttentionGrads g = problem.grads();
      for (int64_t s = 0; s < p.sequences; ++s) {
        const AttentionParams alone = sequence_params(p, s);
        if (alone.q_len > 0 && alone.kv_len > 0) {
          flash_attention_backward(alone, sequence_grads(p, g, s));
        }
      }
      const std::string where =
          "case " + std::to_string(c) + " plan " + std::to_string(static_cast<int>(plan));
      EXPECT_TRUE(bitwise_equal(problem.dq_bhld(), dq)) << where;
      EXPECT_TRUE(bitwise_equal(problem.dk_bhld(), dk)) << where;
      EXPECT_TRUE(bitwise_equal(problem.dv_bhld(), dv)) << where;
    }
  }
}

TEST(AttentionVarlen, SameBitsOnOneTwoAndThreeThreads) {
  const int saved = omp_get_max_threads();
  for (BackwardPlan plan : {BackwardPlan::kSplit, BackwardPlan::kFused}) {
    std::vector<float> first;
    for (int threads : {1, 2, 3}) {
      omp_set_num_threads(threads);
      BackwardProblem problem(packed_case(11));
      problem.set_plan(plan);
      run_flash_backward(problem);
      std::vector<float> all = problem.problem().out_bhld();
      for (const auto& x : {problem.dq_bhld(), problem.dk_bhld(), problem.dv_bhld()}) {
        all.insert(all.end(), x.begin(), x.end());
      }
      if (first.empty()) first = all;
      EXPECT_TRUE(bitwise_equal(all, first)) << threads << " threads";
    }
  }
  omp_set_num_threads(saved);
}

TEST(AttentionVarlen, WeightsMatchReferenceAndAreZeroAcrossSequences) {
  for (int c : {0, 1, 6, 11}) {
    Problem problem(packed_case(c));
    const AttentionParams p = problem.params();
    flash_attention_forward(p);
    const ReferenceResult ref = attention_reference(p, true);
    const int64_t rows = 150;  // rows 30 .. 180: parts of three sequences
    std::vector<float> w(p.q_heads * rows * p.kv_len, NAN);
    attention_weights(p, {.row_begin = 30,
                          .row_end = 30 + rows,
                          .out = w.data(),
                          .out_stride = bhld_strides(p.q_heads, rows, p.kv_len)});
    double worst = 0.0;
    for (int64_t h = 0; h < p.q_heads; ++h) {
      for (int64_t i = 0; i < rows; ++i) {
        for (int64_t j = 0; j < p.kv_len; ++j) {
          const double want = ref.weights[(h * p.q_len + 30 + i) * p.kv_len + j];
          const float got = w[(h * rows + i) * p.kv_len + j];
          if (want == 0.0 && p.dropout_p == 0.0f && !p.bool_mask) {
            ASSERT_EQ(got, 0.0f) << "case " << c << " h " << h << " row " << 30 + i << " key " << j;
          }
          worst = std::max(worst, std::abs(got - want));
        }
      }
    }
    EXPECT_LT(worst, 1e-5) << "case " << c;
    // The mean over the heads, zero between sequences as well.
    std::vector<float> mean(rows * p.kv_len, NAN);
    attention_weights(p, {.row_begin = 30,
                          .row_end = 30 + rows,
                          .average_heads = true,
                          .out = mean.data(),
                          .out_stride = bhld_strides(1, rows, p.kv_len)});
    for (int64_t e = 0; e < rows * p.kv_len; ++e) {
      double sum = 0.0;
      for (int64_t h = 0; h < p.q_heads; ++h) sum += w[h * rows * p.kv_len + e];
      ASSERT_NEAR(mean[e], sum / static_cast<double>(p.q_heads), 1e-6) << "case " << c;
    }
  }
}

TEST(AttentionVarlen, ReferenceOfPackedSequencesIsEachSequenceAlone) {
  Problem problem(packed_case(11));
  const AttentionParams p = problem.params();
  const ReferenceResult packed = attention_reference(p);
  for (int64_t s = 0; s < p.sequences; ++s) {
    const AttentionParams alone = sequence_params(p, s);
    if (alone.q_len == 0 || alone.kv_len == 0) continue;
    const ReferenceResult one = attention_reference(alone);
    for (int64_t h = 0; h < p.q_heads; ++h) {
      for (int64_t i = 0; i < alone.q_len; ++i) {
        for (int64_t c = 0; c < p.v_head_dim; ++c) {
          const double want = one.out[(h * alone.q_len + i) * p.v_head_dim + c];
          const double got = packed.out[(h * p.q_len + p.cu_seqlens_q[s] + i) * p.v_head_dim + c];
          ASSERT_EQ(got, want) << "sequence " << s << " head " << h << " row " << i;
        }
      }
    }
  }
}

// Each broken rule gives an attn::Error whose message names it.
TEST(AttentionVarlen, BadOffsetsAreOneLineErrors) {
  const auto message_of = [](auto change) {
    ProblemSpec spec = packed_case(0);
    Problem problem(spec);
    AttentionParams p = problem.params();
    std::vector<int32_t> cu_q = spec.cu_seqlens_q, cu_k = spec.cu_seqlens_k;
    p.cu_seqlens_q = cu_q.data();
    p.cu_seqlens_k = cu_k.data();
    std::vector<int64_t> key_lengths{5};
    change(p, cu_q, cu_k, key_lengths);
    try {
      flash_attention_forward(p);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  using P = AttentionParams&;
  using V = std::vector<int32_t>&;
  using L = std::vector<int64_t>&;
  EXPECT_THAT(message_of([](P, V q, V, L) { q[0] = 1; }),
              ::testing::HasSubstr("cu_seqlens_q[0] must be 0"));
  EXPECT_THAT(message_of([](P, V q, V, L) { q[2] = 1; }),
              ::testing::HasSubstr("cu_seqlens_q decreases at 2"));
  EXPECT_THAT(message_of([](P, V, V k, L) { k.back() += 1; }),
              ::testing::HasSubstr("must equal total keys Lk=248"));
  EXPECT_THAT(message_of([](P p, V, V, L) { p.cu_seqlens_k = nullptr; }),
              ::testing::HasSubstr("must be given together"));
  EXPECT_THAT(message_of([](P p, V, V, L l) { p.key_lengths = l.data(); }),
              ::testing::HasSubstr("key_lengths cannot be combined with cu_seqlens"));
  EXPECT_THAT(message_of([](P p, V, V, L) { p.max_seqlen_q = 100; }),
              ::testing::HasSubstr("cu_seqlens_q is 100 but a sequence has 120"));
  EXPECT_THAT(message_of([](P p, V, V, L) { p.batch = 2; }),
              ::testing::HasSubstr("need a batch of one"));
  EXPECT_EQ(message_of([](P p, V, V, L) { p.max_seqlen_q = 120, p.max_seqlen_k = 150; }),
            "no error");
}

// One 4,000-token sequence beside sixty short ones: the long sequence's items come first, the
// short ones last, so the threads finish together; and with two KV heads the fused backward
// plan (one item per (sequence, KV head)) is not chosen, since two items would hold nearly all
// the work.
TEST(AttentionVarlen, LongSequenceBesideShortOnesIsSplitAndStartsFirst) {
  std::vector<int32_t> lengths(60, 40);
  lengths.insert(lengths.begin() + 30, 4000);
  ProblemSpec spec;
  spec.q_heads = 8;
  spec.kv_heads = 2;
  spec.head_dim = spec.v_head_dim = 16;
  spec.causal = true;
  spec.cu_seqlens_q = spec.cu_seqlens_k = offsets_of(lengths);
  spec.q_len = spec.kv_len = spec.cu_seqlens_q.back();
  Problem problem(spec);
  const AttentionParams p = problem.params();
  const std::vector<AttentionParams> parts = kernels::problem_parts(p);
  const std::vector<kernels::WorkItem> items = kernels::make_work_items(parts, 64);
  ASSERT_FALSE(items.empty());
  EXPECT_EQ(items.front().part, 30);
  EXPECT_NE(items.back().part, 30);
  int64_t long_items = 0;
  for (const kernels::WorkItem& w : items) long_items += w.part == 30;
  EXPECT_EQ(long_items, 8 * ((4000 + 63) / 64));
  // Handed out in this order to whichever of two threads is free first (OpenMP's dynamic
  // schedule), the items' costs (rows × visible keys) leave the busier thread within 1% of an
  // even split.
  int64_t busy[2] = {0, 0}, total = 0;
  for (const kernels::WorkItem& w : items) {
    const int64_t cost = w.q_count * (w.key_end - w.key_begin);
    *std::min_element(busy, busy + 2) += cost;
    total += cost;
  }
  EXPECT_LE(static_cast<double>(std::max(busy[0], busy[1])), 1.01 * static_cast<double>(total) / 2);
  EXPECT_EQ(resolve_backward_plan(p, BackwardPlan::kAuto), BackwardPlan::kSplit);
  // With eight KV heads the long sequence alone makes eight items of an eighth of the work
  // each: the fused plan, as for a batch of eight (B·Hkv ≥ kFusedBackwardMinItems).
  ProblemSpec eight = spec;
  eight.kv_heads = 8;
  Problem eight_problem(eight);
  EXPECT_EQ(resolve_backward_plan(eight_problem.params(), BackwardPlan::kAuto),
            BackwardPlan::kFused);
  // Sixty equal sequences on 2 KV heads: the fused plan, as for a batch of sixty.
  ProblemSpec equal = spec;
  equal.cu_seqlens_q = equal.cu_seqlens_k = offsets_of(std::vector<int32_t>(60, 40));
  equal.q_len = equal.kv_len = equal.cu_seqlens_q.back();
  Problem equal_problem(equal);
  EXPECT_EQ(resolve_backward_plan(equal_problem.params(), BackwardPlan::kAuto),
            BackwardPlan::kFused);
}

}  // namespace
}  // namespace attn::testing
