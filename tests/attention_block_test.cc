// A block of a longer sequence (AttentionParams' query_start and key_start): the kernels against
// the reference on a block, and the blocks of a whole problem merged by their log-sum-exp against
// the whole problem run at once.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "attention_problem.h"
#include "attn/core/simd_target.h"
#include "attn/kernels/attention.h"
#include "backward_problem.h"
#include "gtest/gtest.h"

namespace attn::testing {
namespace {

// Block options: positions (causal, windows, ALiBi) and the dropout mask all follow the starts.
ProblemSpec block_case(int which) {
  ProblemSpec s;
  s.batch = 2;
  s.q_heads = 4;
  s.kv_heads = 2;
  s.q_len = 37;
  s.kv_len = 45;
  s.head_dim = 24;
  s.v_head_dim = 16;
  s.query_start = 100;
  s.key_start = 70;
  s.causal = true;
  s.align = CausalAlign::kTopLeft;
  // clang-format off
  switch (which) {
    case 0: break;
    case 1: s.window_left = 40; break;
    case 2: s.causal = false; s.window_left = 50; s.window_right = 3; break;
    case 3: s.alibi = true; break;
    case 4: s.dropout_p = 0.3f; s.dropout_seed = 5; break;
    case 5: s.key_start = 120; s.blhd = true; break;  // keys partly after the queries
    case 6: s.alibi = true; s.dropout_p = 0.2f; s.dropout_seed = 3; s.softcap = 10.0f;
            s.window_left = 44; s.key_lengths = true; break;
  }
  // clang-format on
  return s;
}
constexpr int kBlockCases = 7;

TEST(AttentionBlock, ForwardMatchesReferenceOnABlockOnEveryTarget) {
  for (const std::string& target : supported_simd_targets()) {
    force_simd_target(target);
    for (int c = 0; c < kBlockCases; ++c) {
      Problem problem(block_case(c));
      EXPECT_EQ(check_against_reference(problem), "") << target << " case " << c;
    }
  }
  force_simd_target("");
}

TEST(AttentionBlock, BackwardMatchesReferenceOnABlockOnEveryTarget) {
  for (const std::string& target : supported_simd_targets()) {
    force_simd_target(target);
    for (int c = 0; c < kBlockCases; ++c) {
      for (BackwardPlan plan : {BackwardPlan::kSplit, BackwardPlan::kFused}) {
        BackwardProblem problem(block_case(c));
        problem.set_plan(plan);
        EXPECT_EQ(check_backward_against_reference(problem), "") << target << " case " << c;
      }
    }
  }
  force_simd_target("");
}

// o, l ← the softmax merge of (o, l) and (o2, l2), row by row ([rows, dv] and [rows]).
void merge(std::vector<double>& o, std::vector<double>& l, const std::vector<float>& o2,
           const std::vector<float>& l2, int64_t dv) {
  for (size_t r = 0; r < l.size(); ++r) {
    if (std::isinf(l2[r])) continue;
    const double m = std::max<double>(l[r], l2[r]);
    const double a = std::exp(l[r] - m), b = std::exp(l2[r] - m);
    for (int64_t c = 0; c < dv; ++c)
      o[r * dv + c] = (a * o[r * dv + c] + b * o2[r * dv + c]) / (a + b);
    l[r] = m + std::log(a + b);
  }
}

// One (batch, head) of a whole causal problem with ALiBi and dropout cut into query and key
// blocks: each block run alone at its starts, the blocks merged, equal the whole.
TEST(AttentionBlock, BlocksMergeToTheWhole) {
  const int64_t len = 96, d = 16;
  ProblemSpec spec;
  spec.batch = 1;
  spec.q_heads = spec.kv_heads = 1;
  spec.q_len = spec.kv_len = len;
  spec.head_dim = spec.v_head_dim = d;
  spec.causal = true;
  spec.alibi = true;
  spec.window_left = 70;
  spec.dropout_p = 0.25f;
  spec.dropout_seed = 4;
  Problem whole(spec);
  AttentionParams p = whole.params();
  flash_attention_forward(p);
  const std::vector<float> want = whole.out_bhld();
  const std::vector<int64_t> cuts = {0, 32, 48, 96};
  for (size_t qb = 0; qb + 1 < cuts.size(); ++qb) {
    const int64_t q0 = cuts[qb], qn = cuts[qb + 1] - q0;
    std::vector<double> o(qn * d, 0.0), l(qn, -std::numeric_limits<double>::infinity());
    for (size_t kb = 0; kb + 1 < cuts.size(); ++kb) {
      const int64_t k0 = cuts[kb], kn = cuts[kb + 1] - k0;
      std::vector<float> o2(qn * d), l2(qn);
      AttentionParams blk = p;
      blk.q = p.q + q0 * d;
      blk.k = p.k + k0 * d;
      blk.v = p.v + k0 * d;
      blk.q_len = qn;
      blk.kv_len = kn;
      blk.causal_align = CausalAlign::kTopLeft;
      blk.query_start = q0;
      blk.key_start = k0;
      blk.out = o2.data();
      blk.out_stride = bhld_strides(1, qn, d);
      blk.lse = l2.data();
      blk.lse_stride = {qn, qn, 1, 0};
      flash_attention_forward(blk);
      merge(o, l, o2, l2, d);
    }
    for (int64_t r = 0; r < qn; ++r) {
      EXPECT_NEAR(l[r], whole.lse()[q0 + r], 1e-5) << "row " << q0 + r;
      for (int64_t c = 0; c < d; ++c) {
        EXPECT_NEAR(o[r * d + c], want[(q0 + r) * d + c], 1e-5) << "row " << q0 + r;
      }
    }
  }
}

// The same problem's backward cut into key blocks (partial_keys, the whole's out and lse): dq
// summed over the blocks, and each block's dk and dv, equal the whole backward's.
TEST(AttentionBlock, PartialKeyGradientsSumToTheWhole) {
  const int64_t len = 96, d = 16;
  ProblemSpec spec;
  spec.batch = 1;
  spec.q_heads = spec.kv_heads = 1;
  spec.q_len = spec.kv_len = len;
  spec.head_dim = spec.v_head_dim = d;
  spec.causal = true;
  spec.alibi = true;
  spec.dropout_p = 0.25f;
  spec.dropout_seed = 4;
  for (BackwardPlan plan : {BackwardPlan::kSplit, BackwardPlan::kFused}) {
    BackwardProblem whole(spec);
    whole.set_plan(plan);
    run_flash_backward(whole);
    const std::vector<float> dq = whole.dq_bhld(), dk = whole.dk_bhld(), dv = whole.dv_bhld();
    const AttentionParams p = whole.params();
    const AttentionGrads g = whole.grads();
    std::vector<float> dq_sum(len * d, 0.0f);
    const std::vector<int64_t> cuts = {0, 40, 96};
    for (size_t kb = 0; kb + 1 < cuts.size(); ++kb) {
      const int64_t k0 = cuts[kb], kn = cuts[kb + 1] - k0;
      std::vector<float> dq_part(len * d), dk_part(kn * d), dv_part(kn * d);
      AttentionParams blk = p;
      blk.k = p.k + k0 * d;
      blk.v = p.v + k0 * d;
      blk.kv_len = kn;
      blk.causal_align = CausalAlign::kTopLeft;
      blk.key_start = k0;
      AttentionGrads gb = g;
      gb.dq = dq_part.data();
      gb.dk = dk_part.data();
      gb.dv = dv_part.data();
      gb.dk_stride = gb.dv_stride = bhld_strides(1, kn, d);
      gb.partial_keys = true;
      flash_attention_backward(blk, gb);
      for (size_t i = 0; i < dq_sum.size(); ++i) dq_sum[i] += dq_part[i];
      for (int64_t i = 0; i < kn * d; ++i) {
        EXPECT_NEAR(dk_part[i], dk[k0 * d + i], 1e-5) << "dk " << k0 * d + i;
        EXPECT_NEAR(dv_part[i], dv[k0 * d + i], 1e-5) << "dv " << k0 * d + i;
      }
    }
    for (size_t i = 0; i < dq_sum.size(); ++i) EXPECT_NEAR(dq_sum[i], dq[i], 1e-5) << "dq " << i;
  }
}

}  // namespace
}  // namespace attn::testing
