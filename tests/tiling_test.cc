// The visible key ranges and the work items of the flash kernels against brute force.
#include "kernels/tiling.h"

#include <algorithm>

#include "attention_problem.h"
#include "gtest/gtest.h"
#include "kernels/backward_tiling.h"

namespace attn::testing {
namespace {

// The sweep's problems, with extra windows whose rows run past the last key (top-left,
// Lq > Lk): the case where an empty range used to point past Lk.
std::vector<ProblemSpec> tiling_specs() {
  std::vector<ProblemSpec> specs = random_sweep(99, true);
  ProblemSpec s;
  s.q_len = 64;
  s.kv_len = 2;
  s.window_left = 8;
  s.window_right = 16;
  s.align = CausalAlign::kTopLeft;
  specs.push_back(s);
  s.causal = true;
  s.kv_len = 20;
  s.key_lengths = true;
  specs.push_back(s);
  return specs;
}

bool sees_a_key_of(const AttentionParams& p, int64_t b, int64_t i, int64_t k0, int64_t k1) {
  const KeyRange r = visible_keys(p, b, i);
  return std::max(r.begin, k0) < std::min(r.end, k1);
}

TEST(Tiling, VisibleKeysStayWithinTheKeysAndNeverMoveLeft) {
  for (const ProblemSpec& spec : tiling_specs()) {
    SCOPED_TRACE(spec.describe());
    Problem problem(spec);
    const AttentionParams p = problem.params();
    for (int64_t b = 0; b < p.batch; ++b) {
      KeyRange previous{0, 0};
      for (int64_t i = 0; i < p.q_len; ++i) {
        const KeyRange r = visible_keys(p, b, i);
        ASSERT_TRUE(0 <= r.begin && r.begin <= r.end && r.end <= p.keys_of(b)) << i;
        ASSERT_TRUE(r.begin >= previous.begin && r.end >= previous.end) << i;
        previous = r;
      }
    }
  }
}

TEST(Tiling, ForwardWorkItemsReadOnlyRealKeys) {
  for (const ProblemSpec& spec : tiling_specs()) {
    SCOPED_TRACE(spec.describe());
    Problem problem(spec);
    const AttentionParams p = problem.params();
    for (const kernels::WorkItem& w : kernels::make_work_items(p, 64)) {
      ASSERT_TRUE(0 <= w.key_begin && w.key_begin <= w.key_end && w.key_end <= p.kv_len)
          << w.key_begin << " " << w.key_end;
    }
  }
}

TEST(Tiling, KeyWorkItemsHoldExactlyTheRowsThatSeeTheirKeys) {
  for (const ProblemSpec& spec : tiling_specs()) {
    SCOPED_TRACE(spec.describe());
    Problem problem(spec);
    const AttentionParams p = problem.params();
    const std::vector<kernels::KeyWorkItem> items = kernels::make_key_work_items(p, 64);
    ASSERT_EQ(static_cast<int64_t>(items.size()), p.batch * p.kv_heads * ((p.kv_len + 63) / 64));
    for (const kernels::KeyWorkItem& w : items) {
      const int64_t k1 = w.k_begin + w.k_count;
      ASSERT_LE(k1, p.kv_len);
      for (int64_t i = 0; i < p.q_len; ++i) {
        if (sees_a_key_of(p, w.batch, i, w.k_begin, k1)) {
          ASSERT_TRUE(w.q_begin <= i && i < w.q_end)
              << i << " outside " << w.q_begin << ".." << w.q_end;
        }
      }
      if (w.q_begin < w.q_end) {  // tight: the first and the last row do see a key
        EXPECT_TRUE(sees_a_key_of(p, w.batch, w.q_begin, w.k_begin, k1));
        EXPECT_TRUE(sees_a_key_of(p, w.batch, w.q_end - 1, w.k_begin, k1));
      }
    }
  }
}

}  // namespace
}  // namespace attn::testing
