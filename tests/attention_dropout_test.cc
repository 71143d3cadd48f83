// Attention dropout: the mask function's statistics, the kernels' mask against it on every SIMD
// target, and the option's validation. (The forward and backward against the reference with
// dropout are option cases of flash_forward_test and flash_backward_test.)
#include <cmath>
#include <cstring>
#include <vector>

#include "attention_problem.h"
#include "attn/core/dropout_mask.h"
#include "attn/core/error.h"
#include "attn/core/simd_target.h"
#include "attn/kernels/attention.h"
#include "attn/ref/attention_reference.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace attn::testing {
namespace {

// The keep bits of a (b, h) block of rows × cols, from the mask function.
std::vector<uint8_t> mask_block(uint64_t seed, uint64_t offset, int64_t b, int64_t h, float p,
                                int64_t rows, int64_t cols) {
  const DropoutKeys keys = dropout_keys(seed, offset, b, h);
  const uint32_t t = dropout_threshold(p);
  std::vector<uint8_t> m(static_cast<size_t>(rows * cols));
  for (int64_t i = 0; i < rows; ++i) {
    const uint32_t r = dropout_row_hash(keys, i);
    for (int64_t j = 0; j < cols; ++j) {
      m[i * cols + j] = dropout_keeps(r, dropout_col_hash(keys, j), t);
    }
  }
  return m;
}

double kept_fraction(const std::vector<uint8_t>& m) {
  double kept = 0;
  for (uint8_t x : m) kept += x;
  return kept / static_cast<double>(m.size());
}

// Fraction of positions where both masks keep.
double both_kept(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  double n = 0;
  for (size_t k = 0; k < a.size(); ++k) n += a[k] & b[k];
  return n / static_cast<double>(a.size());
}

// |observed − expected| within 5 standard deviations of a fraction of n Bernoulli(expected).
void expect_fraction(double observed, double expected, double n, const char* what) {
  const double sigma = std::sqrt(expected * (1 - expected) / n);
  EXPECT_NEAR(observed, expected, 5 * sigma + 1e-12) << what;
}

TEST(AttentionDropout, KeepFractionIsOneMinusP) {
  for (float p : {0.05f, 0.3f, 0.5f, 0.9f}) {
    SCOPED_TRACE(p);
    const std::vector<uint8_t> m = mask_block(11, 0, 0, 0, p, 1024, 1024);
    expect_fraction(kept_fraction(m), 1.0 - p, static_cast<double>(m.size()), "whole block");
    // Every row and every column on its own: within 6 sigma of a row's count.
    const double sigma_row = std::sqrt(p * (1.0 - p) / 1024);
    for (int64_t i = 0; i < 1024; ++i) {
      double row = 0, col = 0;
      for (int64_t j = 0; j < 1024; ++j) {
        row += m[i * 1024 + j];
        col += m[j * 1024 + i];
      }
      ASSERT_NEAR(row / 1024, 1.0 - p, 6 * sigma_row) << "row " << i;
      ASSERT_NEAR(col / 1024, 1.0 - p, 6 * sigma_row) << "column " << i;
    }
  }
}

// Two masks that should be independent keep together (1 − p)² of the time: neighbouring rows,
// neighbouring columns, other heads, batches, seeds and offsets.
TEST(AttentionDropout, MasksAreUncorrelatedAcrossRowsHeadsBatchesSeeds) {
  const float p = 0.5f;
  const int64_t n = 512;
  const std::vector<uint8_t> base = mask_block(5, 0, 1, 2, p, n, n);
  const double expected = (1 - p) * (1 - p);
  const double count = static_cast<double>(n * n);
  expect_fraction(both_kept(base, mask_block(5, 0, 1, 3, p, n, n)), expected, count, "head");
  expect_fraction(both_kept(base, mask_block(5, 0, 0, 2, p, n, n)), expected, count, "batch");
  expect_fraction(both_kept(base, mask_block(6, 0, 1, 2, p, n, n)), expected, count, "seed");
  expect_fraction(both_kept(base, mask_block(5, 1, 1, 2, p, n, n)), expected, count, "offset");
  std::vector<uint8_t> next_row(base.size()), next_col(base.size());
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      next_row[i * n + j] = base[((i + 1) % n) * n + j];
      next_col[i * n + j] = base[i * n + (j + 1) % n];
    }
  }
  expect_fraction(both_kept(base, next_row), expected, count, "next row");
  expect_fraction(both_kept(base, next_col), expected, count, "next column");
  EXPECT_EQ(base, mask_block(5, 0, 1, 2, p, n, n)) << "a mask is a pure function";
}

// With Q = 0 every visible weight is 1/Lk, and with V = the identity (Dv = Lk) the output is the
// mask itself: out[i][j] = M_ij / ((1 − p) Lk). The kernel's mask must be the mask function's,
// on every SIMD target, for both layouts of the tiles.
TEST(AttentionDropout, KernelMaskIsTheMaskFunctionOnEveryTarget) {
  const int64_t B = 2, H = 3, L = 200;
  const float p = 0.4f;
  std::vector<float> q(B * H * L * 8, 0.0f), k(B * H * L * 8, 0.5f), v(B * H * L * L, 0.0f);
  for (int64_t bh = 0; bh < B * H; ++bh) {
    for (int64_t j = 0; j < L; ++j) v[(bh * L + j) * L + j] = 1.0f;
  }
  std::vector<float> out(B * H * L * L), lse(B * H * L);
  AttentionParams a = attention_params(TensorView4::bhld(q.data(), B, H, L, 8),
                                       TensorView4::bhld(k.data(), B, H, L, 8),
                                       TensorView4::bhld(v.data(), B, H, L, L),
                                       TensorView4::bhld(out.data(), B, H, L, L), lse.data());
  a.dropout_p = p;
  a.dropout_seed = 99;
  a.dropout_offset = 3;
  const float unit = 1.0f / ((1.0f - p) * static_cast<float>(L));
  for (const std::string& target : supported_simd_targets()) {
    SCOPED_TRACE(target);
    force_simd_target(target);
    flash_attention_forward(a);
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t h = 0; h < H; ++h) {
        const std::vector<uint8_t> m = mask_block(99, 3, b, h, p, L, L);
        const float* o = out.data() + (b * H + h) * L * L;
        for (int64_t n = 0; n < L * L; ++n) {
          ASSERT_NEAR(o[n], m[n] ? unit : 0.0f, 1e-3f * unit) << b << " " << h << " " << n;
        }
      }
    }
  }
  force_simd_target("");
}

TEST(AttentionDropout, ZeroProbabilityIsBitwiseNoDropout) {
  ProblemSpec s = option_case(1);
  Problem plain(s);
  flash_attention_forward(plain.params());
  s.dropout_seed = 1234;  // p stays 0: the seed must not matter
  Problem seeded(s);
  flash_attention_forward(seeded.params());
  const std::vector<float> a = plain.out_bhld(), b = seeded.out_bhld();
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
}

TEST(AttentionDropout, SeedAndOffsetChangeTheOutput) {
  ProblemSpec s = option_case(16);
  Problem problem(s);
  AttentionParams p = problem.params();
  flash_attention_forward(p);
  const std::vector<float> first = problem.out_bhld();
  flash_attention_forward(p);
  EXPECT_EQ(first, problem.out_bhld());
  p.dropout_offset = 1;
  flash_attention_forward(p);
  EXPECT_NE(first, problem.out_bhld());
  p.dropout_offset = 0;
  p.dropout_seed += 1;
  flash_attention_forward(p);
  EXPECT_NE(first, problem.out_bhld());
}

// The reference's weights are the softmax before dropout, as attention_weights returns them.
TEST(AttentionDropout, ReferenceWeightsAreTheUndroppedSoftmax) {
  ProblemSpec s = option_case(0);
  s.q_len = 9;
  s.kv_len = 11;
  Problem problem(s);
  AttentionParams p = problem.params();
  const ReferenceResult plain = attention_reference(p, true);
  p.dropout_p = 0.5f;
  p.dropout_seed = 2;
  const ReferenceResult dropped = attention_reference(p, true);
  EXPECT_EQ(plain.weights, dropped.weights);
  EXPECT_EQ(plain.lse, dropped.lse);
  EXPECT_NE(plain.out, dropped.out);
}

// attention_weights returns the undropped softmax, whatever the dropout fields say; the lse of
// a forward with dropout is that of the undropped scores.
TEST(AttentionDropout, AttentionWeightsAreTheUndroppedSoftmax) {
  ProblemSpec s = option_case(16);
  s.q_len = 20;
  s.kv_len = 30;
  Problem problem(s);
  AttentionParams p = problem.params();
  flash_attention_forward(p);
  const ReferenceResult ref = attention_reference(p, true);
  std::vector<float> w(ref.weights.size());
  WeightsRequest r;
  r.out = w.data();
  r.out_stride = bhld_strides(s.q_heads, s.q_len, s.kv_len);
  attention_weights(p, r);
  EXPECT_LT(max_abs_diff(w, ref.weights), 1e-5);
  for (size_t i = 0; i < ref.lse.size(); ++i) {
    EXPECT_NEAR(problem.lse()[i], ref.lse[i], 1e-5 * (1 + std::abs(ref.lse[i]))) << i;
  }
}

TEST(AttentionDropout, RejectsProbabilityOutsideZeroOne) {
  Problem problem(ProblemSpec{});
  for (float bad : {-0.1f, 1.0f, 1.5f, std::nanf("")}) {
    SCOPED_TRACE(bad);
    AttentionParams p = problem.params();
    p.dropout_p = bad;
    EXPECT_THROW(validate(p), Error);
    EXPECT_THROW(flash_attention_forward(p), Error);
    EXPECT_THROW(attention_reference(p), Error);
    try {
      validate(p);
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("dropout_p must be in [0, 1)"), std::string::npos)
          << e.what();
    }
  }
}

}  // namespace
}  // namespace attn::testing
