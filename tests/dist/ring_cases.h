// The option cases of the ring tests: one whole problem each, L = 72 so that every P of the
// tests (1 to 4) cuts it into whole chunks for both shardings (chunks of 9 rows at P = 4 zigzag).
#pragma once

#include <random>
#include <vector>

#include "attention_problem.h"

namespace attn::testing {

constexpr int kRingCases = 11;

inline ProblemSpec ring_case(int which) {
  ProblemSpec s;
  s.batch = 2;
  s.q_heads = s.kv_heads = 2;
  s.q_len = s.kv_len = 72;
  s.head_dim = s.v_head_dim = 16;
  s.seed = 10 + which;
  // clang-format off
  switch (which) {
    case 0: break;
    case 1: s.causal = true; break;
    case 2: s.causal = true; s.q_heads = 4; s.blhd = true; break;  // grouped-query
    case 3: s.softcap = 2.0f; s.magnitude = 3.0f; break;
    case 4: s.causal = true; s.alibi = true; break;
    case 5: s.window_left = 20; s.window_right = 5; break;
    case 6: s.causal = true; s.window_left = 10; break;
    case 7: s.causal = true; s.align = CausalAlign::kTopLeft; s.key_lengths = true; break;
    case 8: s.causal = true; s.dropout_p = 0.3f; s.dropout_seed = 5; break;
    case 9: s.q_heads = 4; s.kv_heads = 1; s.head_dim = 24; s.v_head_dim = 8; break;
    case 10:  // everything at once
      s.causal = true; s.align = CausalAlign::kTopLeft; s.window_left = 40; s.softcap = 20.0f;
      s.alibi = true; s.key_lengths = true; s.dropout_p = 0.2f; s.dropout_seed = 9;
      s.q_heads = 4; s.blhd = true;
      break;
  }
  // clang-format on
  return s;
}

// n problems with options drawn at random (the same on every rank for one seed): lengths of 24
// to 96 rows (whole chunks for P ≤ 4), odd head dims, GQA, both layouts, and every supported
// option in random combinations.
inline std::vector<ProblemSpec> ring_sweep(uint64_t seed, int n) {
  std::mt19937_64 rng(seed);
  auto pick = [&](int k) { return static_cast<int>(rng() % k); };
  const int64_t dims[] = {8, 16, 33, 64};
  std::vector<ProblemSpec> specs;
  for (int i = 0; i < n; ++i) {
    ProblemSpec s;
    s.seed = rng();
    s.q_len = s.kv_len = 24 * (1 + pick(4));
    s.head_dim = dims[pick(4)];
    s.v_head_dim = pick(3) == 0 ? dims[pick(4)] : s.head_dim;
    s.kv_heads = 1 + pick(2);
    s.q_heads = s.kv_heads * (1 + pick(3));
    s.batch = 1 + pick(2);
    s.blhd = pick(2);
    s.causal = pick(2);
    s.key_lengths = pick(4) == 0;
    s.align = s.key_lengths || pick(2) ? CausalAlign::kTopLeft : CausalAlign::kBottomRight;
    if (pick(4) == 0) s.window_left = pick(40);
    if (pick(5) == 0) s.window_right = pick(20);
    if (pick(4) == 0) s.softcap = 5.0f + static_cast<float>(pick(30));
    s.alibi = pick(4) == 0;
    if (pick(4) == 0) {
      s.dropout_p = 0.1f * static_cast<float>(1 + pick(5));
      s.dropout_seed = rng();
    }
    if (pick(5) == 0) s.scale = 0.05f + 0.5f * static_cast<float>(pick(4));
    s.magnitude = pick(4) == 0 ? 4.0f : 1.0f;
    specs.push_back(s);
  }
  return specs;
}

}  // namespace attn::testing
