// NaN and infinity in q, k and v: the flash forward (every SIMD target), the attention weights, the
// double reference and decode reach the outputs the plain formula reaches, and no other
// (docs/DESIGN.md, Numerics). The expectation comes from a small plain computation in double:
//   s_ij = scale · q_i · k_j where key j is visible to query i, else −inf
//   P_i  = softmax(s_i), NaN on the keys above −inf when some s_ij is NaN or +inf
//   o_i  = Σ_{j visible} P_ij v_j
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "attention_problem.h"
#include "attn/core/simd_target.h"
#include "attn/kernels/attention.h"
#include "attn/ref/attention_reference.h"
#include "backward_problem.h"
#include "decode_problem.h"
#include "gtest/gtest.h"

namespace attn::testing {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// One non-finite value written over an input: tensor 'q', 'k' or 'v', row (query or key) and
// column, in head 0 (the only KV head; q heads 0 and 1 share it).
struct Poison {
  char tensor;
  int64_t row, col;
  float value;
};

std::string describe(const Poison& x) {
  return std::string(1, x.tensor) + "[" + std::to_string(x.row) + "][" + std::to_string(x.col) +
         "] = " + std::to_string(x.value);
}

// Causal (top-left), L = 150 queries and keys: several query tiles and key blocks, with key
// blocks both wholly and partly visible. Two query heads share one KV head.
ProblemSpec causal_spec(bool bool_mask) {
  ProblemSpec s;
  s.q_heads = 2;
  s.kv_heads = 1;
  s.q_len = 150;
  s.kv_len = 150;
  s.head_dim = 16;
  s.v_head_dim = 16;
  s.causal = true;
  s.align = CausalAlign::kTopLeft;
  s.bool_mask = bool_mask ? MaskKind::kTwoD : MaskKind::kNone;
  s.seed = 5;
  return s;
}

void write_poison(const AttentionParams& p, const Poison& x) {
  if (x.tensor == 'q') {
    for (int64_t h = 0; h < p.q_heads; ++h) {
      const_cast<float*>(p.q)[p.q_stride.offset(0, h, x.row, x.col)] = x.value;
    }
  } else if (x.tensor == 'k') {
    const_cast<float*>(p.k)[p.k_stride.offset(0, 0, x.row, x.col)] = x.value;
  } else {
    const_cast<float*>(p.v)[p.v_stride.offset(0, 0, x.row, x.col)] = x.value;
  }
}

bool visible(const AttentionParams& p, int64_t h, int64_t i, int64_t j) {
  if (j > i) return false;
  return !p.bool_mask || p.bool_mask[p.bool_mask_stride.offset(0, h, i, j)];
}

// The plain formula above, in double: out [Hq, Lq, Dv] and lse [Hq, Lq].
struct Plain {
  std::vector<double> out, lse;
};

Plain plain_attention(const AttentionParams& p) {
  Plain r{std::vector<double>(p.q_heads * p.q_len * p.v_head_dim, 0.0),
          std::vector<double>(p.q_heads * p.q_len, -kInf)};
  const double scale = p.effective_scale();
  for (int64_t h = 0; h < p.q_heads; ++h) {
    for (int64_t i = 0; i < p.q_len; ++i) {
      std::vector<double> s(p.kv_len, -kInf);
      double max = -kInf;
      bool nan_row = false;
      for (int64_t j = 0; j < p.kv_len; ++j) {
        if (!visible(p, h, i, j)) continue;
        double dot = 0;
        for (int64_t d = 0; d < p.head_dim; ++d) {
          dot += double(p.q[p.q_stride.offset(0, h, i, d)]) * p.k[p.k_stride.offset(0, 0, j, d)];
        }
        s[j] = scale * dot;
        nan_row = nan_row || std::isnan(s[j]) || s[j] == kInf;
        if (s[j] > max) max = s[j];
      }
      if (max == -kInf && !nan_row) continue;  // nothing visible: 0 and −inf
      double sum = 0;
      for (double& x : s) {
        x = x == -kInf ? 0.0 : nan_row ? NAN : std::exp(x - max);
        sum += x;
      }
      const int64_t row = h * p.q_len + i;
      r.lse[row] = max + std::log(sum);
      for (int64_t j = 0; j < p.kv_len; ++j) {
        if (!visible(p, h, i, j)) continue;
        for (int64_t c = 0; c < p.v_head_dim; ++c) {
          r.out[row * p.v_head_dim + c] += s[j] / sum * p.v[p.v_stride.offset(0, 0, j, c)];
        }
      }
    }
  }
  return r;
}

// got and want agree on which entries are finite, and the finite ones are close.
template <typename A, typename B>
void expect_same_finite(const std::vector<A>& got, const std::vector<B>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int reported = 0;
  for (size_t n = 0; n < got.size() && reported < 5; ++n) {
    const double g = got[n], w = want[n];
    const bool ok = std::isfinite(w) ? std::abs(g - w) <= 1e-4 * (1 + std::abs(w))
                                     : !std::isfinite(g) && (std::isnan(w) == std::isnan(g));
    if (!ok) {
      ADD_FAILURE() << what << "[" << n << "] = " << g << ", want " << w;
      ++reported;
    }
  }
}

// Where a NaN or an infinity goes in the cases below: query rows and keys on either side of the
// tile edges, keys seen by every later row and keys seen only by the last rows (a key block that
// is partly visible to the rows of a query tile).
std::vector<Poison> poisons() {
  std::vector<Poison> all;
  for (float value : {kNaN, kInf, -kInf}) {
    all.push_back({'q', 100, 3, value});
    all.push_back({'k', 5, 0, value});
    all.push_back({'k', 140, 7, value});
    all.push_back({'v', 5, 2, value});
    all.push_back({'v', 140, 9, value});
    all.push_back({'v', 149, 0, value});
  }
  return all;
}

void expect_forward_follows_plain_formula(bool bool_mask) {
  for (const Poison& x : poisons()) {
    SCOPED_TRACE(describe(x));
    Problem problem(causal_spec(bool_mask));
    AttentionParams p = problem.params();
    write_poison(p, x);
    const Plain want = plain_attention(p);
    flash_attention_forward(p);
    expect_same_finite(problem.out_bhld(), want.out, "flash out");
    expect_same_finite(problem.lse(), want.lse, "flash lse");
    const ReferenceResult ref = attention_reference(p);
    expect_same_finite(ref.out, want.out, "reference out");
    expect_same_finite(ref.lse, want.lse, "reference lse");
  }
}

TEST(NonFinite, FlashAndReferenceFollowThePlainFormulaOnEveryTarget) {
  for (const std::string& target : supported_simd_targets()) {
    SCOPED_TRACE(target);
    force_simd_target(target);
    expect_forward_follows_plain_formula(false);
  }
  force_simd_target("");
}

TEST(NonFinite, MaskedKeysDoNotContaminateWithBoolMask) {
  expect_forward_follows_plain_formula(true);
}

TEST(NonFinite, NaNRowStillGivesZeroWeightToMaskedKeys) {
  for (const std::string& target : supported_simd_targets()) {
    SCOPED_TRACE(target);
    force_simd_target(target);
    Problem problem(causal_spec(false));
    AttentionParams p = problem.params();
    write_poison(p, {'q', 100, 3, kNaN});
    flash_attention_forward(p);
    std::vector<float> w(p.q_heads * p.q_len * p.kv_len, -1.0f);
    attention_weights(p,
                      {.out = w.data(), .out_stride = bhld_strides(p.q_heads, p.q_len, p.kv_len)});
    const ReferenceResult ref = attention_reference(p, true);
    expect_same_finite(w, ref.weights, "weights");
    for (int64_t j = 0; j < p.kv_len; ++j) {
      const float got = w[100 * p.kv_len + j];
      if (j <= 100) {
        EXPECT_TRUE(std::isnan(got)) << j;
      } else {
        EXPECT_EQ(got, 0.0f) << j;
      }
    }
  }
  force_simd_target("");
}

TEST(NonFinite, FullyMaskedRowStaysZeroBesideNaNValues) {
  Problem problem(causal_spec(true));
  AttentionParams p = problem.params();
  std::vector<uint8_t> mask(p.q_len * p.kv_len, 1);
  std::fill(mask.begin() + 120 * p.kv_len, mask.begin() + 121 * p.kv_len, 0);  // row 120
  p.bool_mask = mask.data();
  p.bool_mask_stride = Strides4{0, 0, p.kv_len, 1};
  write_poison(p, {'v', 110, 0, kNaN});
  flash_attention_forward(p);
  const std::vector<float> out = problem.out_bhld();
  for (int64_t c = 0; c < p.v_head_dim; ++c) EXPECT_EQ(out[120 * p.v_head_dim + c], 0.0f);
  EXPECT_EQ(problem.lse()[120], -kInf);
  EXPECT_TRUE(std::isnan(out[119 * p.v_head_dim]));
}

// The backward of a NaN row: its dq, and dk and dv of every key it sees, are NaN in both plans
// and in the reference; rows that see no NaN keep finite dq.
TEST(NonFinite, BackwardOfNaNRowReachesItsGradients) {
  for (BackwardPlan plan : {BackwardPlan::kSplit, BackwardPlan::kFused}) {
    BackwardProblem problem(causal_spec(false));
    problem.set_plan(plan);
    const AttentionParams p = problem.params();
    write_poison(p, {'q', 100, 3, kNaN});
    const AttentionGrads g = problem.grads();
    const ReferenceGrads ref = attention_reference_backward(p, g.dout, g.dout_stride);
    run_flash_backward(problem);
    const std::vector<float> dq = problem.dq_bhld(), dk = problem.dk_bhld(), dv = problem.dv_bhld();
    for (int64_t h = 0; h < p.q_heads; ++h) {
      for (int64_t i = 0; i < p.q_len; ++i) {
        const int64_t at = (h * p.q_len + i) * p.head_dim;
        EXPECT_EQ(std::isnan(dq[at]), i == 100) << h << " " << i;
        EXPECT_EQ(std::isnan(ref.dq[at]), i == 100) << h << " " << i;
      }
    }
    for (int64_t j = 0; j <= 100; ++j) {
      EXPECT_TRUE(std::isnan(dk[j * p.head_dim]) && std::isnan(ref.dk[j * p.head_dim])) << j;
      EXPECT_TRUE(std::isnan(dv[j * p.v_head_dim]) && std::isnan(ref.dv[j * p.v_head_dim])) << j;
    }
    // The keys the row cannot see get nothing from it, in both plans and the reference.
    for (int64_t j = 101; j < p.kv_len; ++j) {
      EXPECT_TRUE(std::isfinite(ref.dk[j * p.head_dim]) && std::isfinite(ref.dv[j * p.v_head_dim]));
      EXPECT_TRUE(std::isfinite(dk[j * p.head_dim]) && std::isfinite(dv[j * p.v_head_dim])) << j;
    }
  }
}

// The KV cache refuses non-finite keys and values on append, so only the queries can carry one.
TEST(NonFinite, DecodeFollowsTheReference) {
  // Sequence 1 holds 600 tokens: two chunks of keys, merged.
  for (int64_t seq : {0, 1}) {
    for (float value : {kNaN, kInf, -kInf}) {
      SCOPED_TRACE("sequence " + std::to_string(seq) + ": " + std::to_string(value));
      DecodeSpec spec;
      spec.poison = {{seq, 0, 3, value}};
      DecodeProblem problem(spec);
      problem.run();
      const AttentionParams rp = problem.reference_params();
      const ReferenceResult ref = attention_reference(rp);
      expect_same_finite(problem.to_bhld(problem.out(), rp.v_head_dim), ref.out, "decode out");
      expect_same_finite(problem.to_bhld(problem.lse(), 1), ref.lse, "decode lse");
    }
  }
}

// KvCache refuses non-finite values, but the decode kernel also reads views over other memory:
// an f16 infinity stored there reaches exactly the output column it is in, on every target
// (Highway's emulated f16 promotion, on targets without F16C, reads it as a large finite number).
TEST(NonFinite, DecodeReadsF16InfinitiesOfAViewOnEveryTarget) {
  DecodeSpec spec;
  spec.dtype = KvDtype::kF16;
  spec.lengths = {37};
  DecodeProblem problem(spec);
  const KvCacheView view = problem.cache().view();
  constexpr int64_t kToken = 3, kHead = 0, kCol = 2;
  const KvRun run = view.run(view.seqs[0], kHead, kToken, kToken + 1);
  const_cast<uint16_t*>(reinterpret_cast<const uint16_t*>(run.v))[kCol] = 0x7c00;  // +inf
  const int64_t group = spec.q_heads / spec.kv_heads;
  for (const std::string& target : supported_simd_targets()) {
    SCOPED_TRACE(target);
    force_simd_target(target);
    const std::vector<float>& out = problem.run();  // [B, n_q, Hq, Dv]
    for (int64_t h = 0; h < spec.q_heads; ++h) {
      for (int64_t c = 0; c < spec.v_head_dim; ++c) {
        const float x = out[h * spec.v_head_dim + c];
        if (h / group == kHead && c == kCol) {
          EXPECT_EQ(x, kInf) << "head " << h;
        } else {
          EXPECT_TRUE(std::isfinite(x)) << "head " << h << " column " << c;
        }
      }
    }
  }
  force_simd_target("");
}

}  // namespace
}  // namespace attn::testing
