// Decode attention against the double reference (2× rule), against itself across layouts,
// threads and SIMD targets (bitwise), and across storage dtypes (within a derived error bound).
#include "attn/kernels/decode.h"

#include <omp.h>

#include <cmath>
#include <cstring>

#include "attn/core/error.h"
#include "attn/core/huge_pages.h"
#include "attn/core/simd_target.h"
#include "attn/kernels/attention.h"
#include "attn/ref/attention_reference.h"
#include "decode_problem.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace attn::testing {
namespace {

void expect_matches_reference(const DecodeSpec& spec) {
  DecodeProblem problem(spec);
  EXPECT_EQ(check_decode_against_reference(problem), "");
}

DecodeSpec shape(int64_t hq, int64_t hkv, int64_t d, int64_t dv, int64_t n_q,
                 std::vector<int64_t> lengths) {
  DecodeSpec s;
  s.q_heads = hq;
  s.kv_heads = hkv;
  s.head_dim = d;
  s.v_head_dim = dv;
  s.q_len = n_q;
  s.lengths = std::move(lengths);
  return s;
}

std::vector<DecodeSpec> reference_cases() {
  std::vector<DecodeSpec> cases = {
      shape(4, 2, 32, 32, 1, {37, 600}),      // GQA, two sequences
      shape(3, 3, 64, 64, 1, {1, 512, 513}),  // MHA; chunk edges
      shape(8, 1, 128, 128, 1, {1500}),       // MQA, three chunks
      shape(6, 2, 64, 64, 3, {5, 1100}),      // three new tokens
      shape(4, 2, 16, 16, 4, {2, 700}),       // fewer kept tokens than queries
      shape(2, 1, 40, 24, 2, {100, 33}),      // padded rows, Dv != D
      shape(2, 2, 1, 3, 1, {70}),             // tiny dims
      shape(4, 4, 256, 256, 1, {300}),        // large head dim
      shape(4, 2, 32, 32, 1, {0, 50}),        // an empty sequence
  };
  DecodeSpec capped = shape(4, 2, 32, 32, 2, {400});
  capped.softcap = 5.0f;
  capped.magnitude = 3.0f;
  cases.push_back(capped);
  DecodeSpec scaled = shape(4, 2, 32, 32, 1, {200, 9});
  scaled.scale = 0.3f;
  cases.push_back(scaled);
  DecodeSpec rotated = shape(4, 2, 64, 64, 2, {800, 17});
  rotated.rope = true;
  cases.push_back(rotated);
  return cases;
}

TEST(Decode, MatchesReferenceUnderTwoXRule) {
  for (DecodeSpec spec : reference_cases()) {
    SCOPED_TRACE(spec.describe());
    expect_matches_reference(spec);
    spec.layout = KvLayout::kPaged;
    expect_matches_reference(spec);
  }
}

// The flash forward on the gathered sequence meets the same rule, and the two agree.
TEST(Decode, AgreesWithFlashForwardOnTheSameSequence) {
  DecodeSpec spec = shape(8, 2, 64, 64, 3, {1200, 40});
  DecodeProblem problem(spec);
  problem.run();
  AttentionParams p = problem.reference_params();
  flash_attention_forward(p);
  const ReferenceResult ref = attention_reference(p);
  const double naive_err = max_abs_diff(attention_naive_fp32(p), ref.out);
  std::vector<float> flash(p.out, p.out + ref.out.size());
  const double flash_err = max_abs_diff(flash, ref.out);
  const double decode_err = max_abs_diff(problem.to_bhld(problem.out(), 64), ref.out);
  EXPECT_LE(flash_err, 2.0 * naive_err + 1e-6);
  EXPECT_LE(decode_err, 2.0 * naive_err + 1e-6);
  std::vector<double> flash_d(flash.begin(), flash.end());
  EXPECT_LE(max_abs_diff(problem.to_bhld(problem.out(), 64), flash_d), 4.0 * naive_err + 1e-6);
}

void expect_paged_equals_contiguous(DecodeSpec spec) {
  spec.layout = KvLayout::kContiguous;
  DecodeProblem contiguous(spec);
  contiguous.run();
  for (int64_t block : {16, 32, 48}) {
    spec.layout = KvLayout::kPaged;
    spec.block_tokens = block;
    DecodeProblem paged(spec);
    paged.run();
    EXPECT_TRUE(bitwise_equal(paged.out(), contiguous.out())) << spec.describe();
    EXPECT_TRUE(bitwise_equal(paged.lse(), contiguous.lse())) << spec.describe();
  }
}

constexpr KvDtype kDtypes[] = {KvDtype::kF32, KvDtype::kF16, KvDtype::kBF16, KvDtype::kQ8};

TEST(Decode, PagedEqualsContiguousBitwise) {
  for (KvDtype dtype : kDtypes) {
    DecodeSpec spec = shape(6, 2, 40, 64, 2, {700, 45, 1030});
    spec.dtype = dtype;
    expect_paged_equals_contiguous(spec);
    DecodeSpec window = shape(4, 2, 32, 32, 1, {1000, 200, 3});
    window.dtype = dtype;
    window.sinks = 5;
    window.window = 300;
    expect_paged_equals_contiguous(window);
  }
}

// A contiguous cache of this size is one block of ≥ 2 MiB, allocated with huge pages; the kernel
// reads it like any other.
TEST(Decode, HugePageCacheMatchesReferenceAndPagedBitwise) {
  for (KvDtype dtype : {KvDtype::kF32, KvDtype::kF16}) {
    DecodeSpec spec = shape(8, 2, 128, 128, 1, {2200, 1500});
    spec.dtype = dtype;
    DecodeProblem contiguous(spec);
    ASSERT_GE(contiguous.cache().allocated_bytes() / 2, static_cast<int64_t>(kHugePageBytes));
    if (dtype == KvDtype::kF32) {
      EXPECT_EQ(check_decode_against_reference(contiguous), "");
    }
    expect_paged_equals_contiguous(spec);
  }
}

std::vector<float> run_with_threads(DecodeProblem& problem, int threads) {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  std::vector<float> out = problem.run();
  out.insert(out.end(), problem.lse().begin(), problem.lse().end());
  omp_set_num_threads(saved);
  return out;
}

TEST(Decode, BitwiseIdenticalForOneTwoThreeThreads) {
  for (KvDtype dtype : {KvDtype::kF32, KvDtype::kF16, KvDtype::kQ8}) {
    DecodeSpec spec = shape(6, 2, 64, 64, 2, {1300, 2100});
    spec.dtype = dtype;
    DecodeProblem problem(spec);
    const std::vector<float> one = run_with_threads(problem, 1);
    for (int threads : {2, 3}) {
      EXPECT_TRUE(bitwise_equal(one, run_with_threads(problem, threads))) << threads;
    }
  }
}

// Bound on |decode(stored) − decode(f32)| from the values the cache stores (KvCache::read, the
// scalar twin of the kernel's in-register dequantisation; its error against the formats is held
// by kv_cache_test). If every score moves by at most Δ, each softmax weight moves by a factor
// within e^{±2Δ}, so the output moves by at most (e^{2Δ} − 1) · max|ṽ| + max|ṽ − v|, and the
// lse by at most Δ. Returns {output bound, lse bound}, each with 2e-5 for fp32 rounding.
std::pair<double, double> quantisation_bound(DecodeProblem& problem) {
  const DecodeSpec& s = problem.spec();
  const double scale = s.scale ? *s.scale : 1.0 / std::sqrt(static_cast<double>(s.head_dim));
  const int64_t G = s.q_heads / s.kv_heads, D = s.head_dim, Dv = s.v_head_dim;
  double delta = 0.0, v_err = 0.0, v_max = 0.0;
  std::vector<float> k(D), v(Dv);
  for (size_t b = 0; b < s.lengths.size(); ++b) {
    for (int64_t t = 0; t < s.lengths[b]; ++t) {
      for (int64_t h = 0; h < s.kv_heads; ++h) {
        problem.cache().read(b, t, h, k.data(), v.data());
        const float* raw_k = problem.raw_k(b).data() + (t * s.kv_heads + h) * D;
        const float* raw_v = problem.raw_v(b).data() + (t * s.kv_heads + h) * Dv;
        for (int64_t row = 0; row < s.q_len * G; ++row) {
          const int64_t i = row / G, head = h * G + row % G;
          const float* q = problem.queries().data() + ((b * s.q_len + i) * s.q_heads + head) * D;
          double ds = 0.0;
          for (int64_t d = 0; d < D; ++d) ds += static_cast<double>(q[d]) * (k[d] - raw_k[d]);
          delta = std::max(delta, scale * std::abs(ds));
        }
        for (int64_t c = 0; c < Dv; ++c) {
          v_err = std::max<double>(v_err, std::abs(v[c] - raw_v[c]));
          v_max = std::max<double>(v_max, std::abs(v[c]));
        }
      }
    }
  }
  return {std::expm1(2.0 * delta) * v_max + v_err + 2e-5, delta + 2e-5};
}

void expect_within_quantisation_error(DecodeSpec spec) {
  const KvDtype dtype = spec.dtype;
  spec.dtype = KvDtype::kF32;
  DecodeProblem exact(spec);
  exact.run();
  spec.dtype = dtype;
  DecodeProblem stored(spec);
  stored.run();
  const auto [out_bound, lse_bound] = quantisation_bound(stored);
  std::vector<double> want(exact.out().begin(), exact.out().end());
  EXPECT_LE(max_abs_diff(stored.out(), want), out_bound) << spec.describe();
  std::vector<double> want_lse(exact.lse().begin(), exact.lse().end());
  EXPECT_LE(max_abs_diff(stored.lse(), want_lse), lse_bound) << spec.describe();
}

TEST(Decode, StorageTypesStayWithinTheirQuantisationError) {
  for (KvDtype dtype : {KvDtype::kF16, KvDtype::kBF16, KvDtype::kQ8}) {
    DecodeSpec spec = shape(8, 2, 64, 48, 2, {900, 31});
    spec.dtype = dtype;
    spec.uneven = true;
    expect_within_quantisation_error(spec);
    DecodeSpec odd = shape(2, 1, 40, 72, 1, {130});
    odd.dtype = dtype;
    odd.magnitude = 2.0f;
    expect_within_quantisation_error(odd);
  }
}

// Every compiled SIMD target the CPU supports, forced in turn.
TEST(Decode, EverySimdTargetMatchesReference) {
  for (const std::string& target : supported_simd_targets()) {
    SCOPED_TRACE(target);
    force_simd_target(target);
    for (const DecodeSpec& spec : reference_cases()) {
      if (spec.head_dim <= 64) expect_matches_reference(spec);
    }
    for (KvDtype dtype : {KvDtype::kF16, KvDtype::kBF16, KvDtype::kQ8}) {
      DecodeSpec spec = shape(4, 2, 64, 32, 2, {600, 20});
      spec.dtype = dtype;
      spec.uneven = true;
      expect_within_quantisation_error(spec);
      expect_paged_equals_contiguous(spec);
    }
  }
  force_simd_target("");
}

TEST(Decode, SlidingWindowWithSinksMatchesReferenceOverKeptTokens) {
  for (KvLayout layout : {KvLayout::kContiguous, KvLayout::kPaged}) {
    for (int64_t n_q : {1, 3}) {
      DecodeSpec spec = shape(4, 2, 32, 32, n_q, {500, 30, 68, 1000});
      spec.layout = layout;
      spec.sinks = 4;
      spec.window = 64;
      spec.rope = n_q == 3;
      SCOPED_TRACE(spec.describe());
      DecodeProblem problem(spec);
      for (int64_t b = 0; b < 4; ++b) {
        EXPECT_EQ(problem.cache().kept(b), std::min<int64_t>(spec.lengths[b], 68));
        EXPECT_EQ(problem.cache().length(b), spec.lengths[b]);
      }
      EXPECT_EQ(check_decode_against_reference(problem), "");
    }
  }
}

TEST(Decode, GenerationPastTheWindowKeepsMemoryBounded) {
  DecodeSpec spec = shape(2, 1, 32, 32, 1, {0});
  spec.layout = KvLayout::kPaged;
  spec.sinks = 2;
  spec.window = 46;                                      // 48 slots: three blocks of 16
  const int64_t steps = small_test_scale() ? 203 : 601;  // the ring does not start at slot 0
  std::vector<float> k = random_floats(steps * 32, 5), v = random_floats(steps * 32, 6);
  DecodeProblem empty(spec);
  KvCache& cache = empty.cache();
  int64_t bytes_when_full = 0;
  for (int64_t t = 0; t < steps; ++t) {
    cache.append(0, 1, k.data() + t * 32, v.data() + t * 32);
    if (t + 1 == 48) bytes_when_full = cache.allocated_bytes();
  }
  EXPECT_EQ(cache.blocks_in_use(), 3);
  EXPECT_EQ(cache.allocated_bytes(), bytes_when_full);
  EXPECT_EQ(cache.kept(0), 48);
  EXPECT_EQ(cache.position(0, 1), 1);  // a sink
  EXPECT_EQ(cache.position(0, 2), steps - 46);
  EXPECT_EQ(cache.position(0, 47), steps - 1);
  // The kept tokens are the sinks and the last 46 appended ones, oldest first.
  std::vector<float> kr(32), vr(32);
  for (int64_t i = 0; i < 48; ++i) {
    const int64_t pos = cache.position(0, i);
    cache.read(0, i, 0, kr.data(), vr.data());
    EXPECT_EQ(std::memcmp(kr.data(), k.data() + pos * 32, 32 * sizeof(float)), 0) << i;
    EXPECT_EQ(std::memcmp(vr.data(), v.data() + pos * 32, 32 * sizeof(float)), 0) << i;
  }
}

TEST(Decode, WindowDecodeAtEveryStepMatchesReference) {
  DecodeSpec spec = shape(4, 2, 16, 16, 1, {0});
  spec.layout = KvLayout::kPaged;
  spec.sinks = 3;
  spec.window = 29;
  for (int64_t length : {1, 20, 32, 33, 50, 77, 200}) {
    spec.lengths = {length};
    DecodeProblem problem(spec);
    EXPECT_EQ(check_decode_against_reference(problem), "") << length;
  }
}

TEST(Decode, EmptySequenceGivesZeroAndNegativeInfinityLse) {
  DecodeProblem problem(shape(4, 2, 32, 32, 2, {0, 3}));
  problem.run();
  for (int64_t x = 0; x < 2 * 4 * 32; ++x) EXPECT_EQ(problem.out()[x], 0.0f) << x;
  for (int64_t x = 0; x < 2 * 4; ++x) EXPECT_EQ(problem.lse()[x], -INFINITY) << x;
  EXPECT_TRUE(std::isfinite(problem.lse()[2 * 4]));
}

TEST(Decode, RejectsBadInput) {
  DecodeProblem problem(shape(4, 2, 32, 32, 1, {10}));
  DecodeParams p = problem.params();
  p.q_heads = 3;
  EXPECT_THROW(decode_attention(p), Error);
  p = problem.params();
  p.q = nullptr;
  EXPECT_THROW(decode_attention(p), Error);
  p = problem.params();
  p.out = nullptr;
  EXPECT_THROW(decode_attention(p), Error);
  p = problem.params();
  p.q_len = 0;
  EXPECT_THROW(decode_attention(p), Error);
  p = problem.params();
  p.scale = INFINITY;
  EXPECT_THROW(decode_attention(p), Error);
  p = problem.params();
  p.softcap = -1.0f;
  EXPECT_THROW(decode_attention(p), Error);
  p = problem.params();
  p.cache.seqs = nullptr;
  EXPECT_THROW(decode_attention(p), Error);
}

}  // namespace
}  // namespace attn::testing
