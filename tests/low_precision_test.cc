// bf16 and f16 attention: the element conversions, and the flash forward and backward on 16-bit
// inputs held to FlashAttention's rule against the float64 computation on the same rounded
// inputs: the error is at most 2× (output) and 3× (gradients) that of the plain implementation
// in the input precision (attention_naive_fp32 / attention_naive_backward_fp32 on the rounded
// inputs: fp32 accumulation, its output rounded to the output type).
#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "attention_problem.h"
#include "attn/core/element_type.h"
#include "attn/core/error.h"
#include "attn/core/simd_target.h"
#include "attn/kernels/attention.h"
#include "attn/kernels/bf16_convert.h"
#include "attn/ref/attention_reference.h"
#include "gtest/gtest.h"
#include "kernels/widened_inputs.h"
#include "test_util.h"

namespace attn::testing {
namespace {

constexpr ElementType kTypes[] = {ElementType::kBF16, ElementType::kF16};

TEST(ElementType, EveryFiniteValueRoundTrips) {
  for (ElementType t : kTypes) {
    for (uint32_t bits = 0; bits <= 0xffff; ++bits) {
      const float x = to_float(static_cast<uint16_t>(bits), t);
      if (std::isnan(x)) {
        EXPECT_TRUE(std::isnan(to_float(from_float(x, t), t))) << bits;
      } else {
        EXPECT_EQ(from_float(x, t), bits) << element_type_name(t) << " " << bits;
      }
    }
  }
}

TEST(ElementType, RoundsToNearestEven) {
  const ElementType h = ElementType::kF16, b = ElementType::kBF16;
  EXPECT_EQ(round_to(1.0f + 0x1p-11f, h), 1.0f);                // tie, to even
  EXPECT_EQ(round_to(1.0f + 3 * 0x1p-11f, h), 1.0f + 0x1p-9f);  // tie, to even
  EXPECT_EQ(round_to(1.0f + 0x1p-11f + 0x1p-20f, h), 1.0f + 0x1p-10f);
  EXPECT_EQ(round_to(65519.0f, h), 65504.0f);
  EXPECT_TRUE(std::isinf(round_to(65520.0f, h)));
  EXPECT_EQ(round_to(0x1p-25f, h), 0.0f);  // subnormal tie, to even
  EXPECT_EQ(round_to(3 * 0x1p-25f, h), 0x1p-23f);
  EXPECT_EQ(round_to(-0x1p-24f, h), -0x1p-24f);
  EXPECT_EQ(round_to(1.0f + 0x1p-8f, b), 1.0f);  // tie, to even
  EXPECT_EQ(round_to(1.0f + 3 * 0x1p-8f, b), 1.0f + 0x1p-6f);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  for (ElementType t : kTypes) {
    EXPECT_TRUE(std::isnan(round_to(nan, t)));
    EXPECT_EQ(round_to(-inf, t), -inf);
  }
}

// The scalar bf16 rounding of core agrees with the vectorised to_bf16 of the kernels.
TEST(ElementType, Bf16RoundingAgreesWithToBf16OnEveryTarget) {
  std::vector<float> x;
  for (uint32_t u = 0; u < (1u << 16); ++u) {  // every kept part, with ties and near-ties
    for (uint32_t rest : {0x0000u, 0x7fffu, 0x8000u, 0x8001u, 0xffffu}) {
      x.push_back(std::bit_cast<float>((u << 16) | rest));
    }
  }
  for (const std::string& target : supported_simd_targets()) {
    force_simd_target(target);
    std::vector<uint16_t> vec(x.size());
    to_bf16(x.data(), vec.data(), static_cast<int64_t>(x.size()));
    for (size_t i = 0; i < x.size(); ++i) {
      ASSERT_EQ(vec[i], from_float(x[i], ElementType::kBF16)) << target << " " << x[i];
    }
  }
  force_simd_target("");
}

// The vectorised widening of every target gives exactly the scalar to_float, for every pattern,
// through unit and non-unit column strides.
TEST(ElementType, WideningIsExactOnEveryTarget) {
  std::vector<uint16_t> all(1 << 16);
  for (uint32_t i = 0; i < all.size(); ++i) all[i] = static_cast<uint16_t>(i);
  for (const std::string& target : supported_simd_targets()) {
    force_simd_target(target);
    for (ElementType t : kTypes) {
      const Strides4 dense{0, 0, 1 << 8, 1};
      const Strides4 transposed{0, 0, 1, 1 << 8};
      for (const Strides4& s : {dense, transposed}) {
        const std::vector<float> wide = widen_tensor(all.data(), s, t, 1, 1, 1 << 8, 1 << 8);
        for (int64_t r = 0; r < 256; ++r) {
          for (int64_t c = 0; c < 256; ++c) {
            const uint16_t bits = all[s.offset(0, 0, r, c)];
            const float want = to_float(bits, t);
            const float got = wide[r * 256 + c];
            ASSERT_EQ(std::bit_cast<uint32_t>(got), std::bit_cast<uint32_t>(want))
                << target << " " << element_type_name(t) << " pattern " << bits;
          }
        }
      }
    }
  }
  force_simd_target("");
}

// A Problem's inputs rounded to type t, at the problem's own strides, and the 16-bit params.
class RoundedProblem {
 public:
  RoundedProblem(const ProblemSpec& spec, ElementType in, ElementType out)
      : problem_(spec), in_(in), out_type_(out) {
    const AttentionParams f = problem_.params();
    q_ = round_view(f.q, f.q_stride, f.q_heads, f.q_len, f.head_dim);
    k_ = round_view(f.k, f.k_stride, f.kv_heads, f.kv_len, f.head_dim);
    v_ = round_view(f.v, f.v_stride, f.kv_heads, f.kv_len, f.v_head_dim);
    out16_.assign(q_.size() / f.head_dim * f.v_head_dim, 0);
    const std::vector<float> dout = random_floats(out16_.size(), spec.seed + 17);
    for (float x : dout) dout16_.push_back(from_float(x, in));
    dq_.assign(q_.size(), 0.0f);
    dk_.assign(k_.size(), 0.0f);
    dv_.assign(v_.size(), 0.0f);
  }

  AttentionParams params() {
    AttentionParams p = problem_.params();
    p.input_type = in_;
    p.output_type = out_type_;
    p.q16 = q_.data();
    p.k16 = k_.data();
    p.v16 = v_.data();
    p.q = p.k = p.v = nullptr;
    if (out_type_ != ElementType::kF32) {
      p.out16 = out16_.data();
      p.out = nullptr;
    }
    return p;
  }
  AttentionGrads grads(BackwardPlan plan) {
    AttentionGrads g;
    g.dout16 = dout16_.data();
    g.dout_stride = dense(spec().v_head_dim, spec().q_heads, spec().q_len);
    g.dq = dq_.data();
    g.dq_stride = dense(spec().head_dim, spec().q_heads, spec().q_len);
    g.dk = dk_.data();
    g.dk_stride = dense(spec().head_dim, spec().kv_heads, spec().kv_len);
    g.dv = dv_.data();
    g.dv_stride = dense(spec().v_head_dim, spec().kv_heads, spec().kv_len);
    g.plan = plan;
    return g;
  }
  // The widened dout [B, Hq, Lq, Dv] for the references.
  std::vector<float> dout() const {
    std::vector<float> d;
    for (uint16_t x : dout16_) d.push_back(to_float(x, in_));
    return d;
  }
  // The kernel's output as floats, [B, Hq, Lq, Dv].
  std::vector<float> out_bhld() {
    if (out_type_ == ElementType::kF32) return problem_.out_bhld();
    const AttentionParams p = params();
    const std::vector<float> wide =
        widen_tensor(p.out16, p.out_stride, out_type_, p.batch, p.q_heads, p.q_len, p.v_head_dim);
    return wide;
  }
  const ProblemSpec& spec() const { return problem_.spec(); }
  ElementType out_type() const { return out_type_; }
  const std::vector<float>& dq() const { return dq_; }
  const std::vector<float>& dk() const { return dk_; }
  const std::vector<float>& dv() const { return dv_; }

 private:
  static Strides4 dense(int64_t dim, int64_t heads, int64_t len) {
    return bhld_strides(heads, len, dim);
  }
  std::vector<uint16_t> round_view(const float* x, const Strides4& s, int64_t heads, int64_t len,
                                   int64_t dim) const {
    std::vector<uint16_t> r(static_cast<size_t>(spec().batch * heads * len * dim));
    for (int64_t b = 0; b < spec().batch; ++b)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t l = 0; l < len; ++l)
          for (int64_t d = 0; d < dim; ++d)
            r[s.offset(b, h, l, d)] = from_float(x[s.offset(b, h, l, d)], in_);
    return r;
  }

  Problem problem_;
  ElementType in_, out_type_;
  std::vector<uint16_t> q_, k_, v_, out16_, dout16_;
  std::vector<float> dq_, dk_, dv_;
};

// "" when |error| ≤ factor × |plain error| + 1e-7 × (1 + max |exact|), else why not.
std::string check_rule(const char* name, double error, double plain, double factor,
                       const std::vector<double>& exact) {
  const double floor = 1e-7 * (1.0 + max_abs(exact));
  if (error <= factor * plain + floor) return "";
  std::ostringstream why;
  why << name << ": error " << error << " > " << factor << " x plain " << plain;
  return why.str();
}

std::string check_forward(RoundedProblem& r, const ReferenceResult& exact,
                          const std::vector<float>& plain) {
  flash_attention_forward(r.params());
  return check_rule("out", max_abs_diff(r.out_bhld(), exact.out), max_abs_diff(plain, exact.out),
                    2.0, exact.out);
}

std::string check_backward(RoundedProblem& r, BackwardPlan plan, const ReferenceGrads& exact,
                           const NaiveGrads& plain) {
  flash_attention_forward(r.params());
  flash_attention_backward(r.params(), r.grads(plan));
  std::string why = check_rule("dq", max_abs_diff(r.dq(), exact.dq),
                               max_abs_diff(plain.dq, exact.dq), 3.0, exact.dq);
  why += check_rule("dk", max_abs_diff(r.dk(), exact.dk), max_abs_diff(plain.dk, exact.dk), 3.0,
                    exact.dk);
  why += check_rule("dv", max_abs_diff(r.dv(), exact.dv), max_abs_diff(plain.dv, exact.dv), 3.0,
                    exact.dv);
  return why;
}

// Each option case (and a few shapes of the sweep), each input type, both output types, on
// every SIMD target this machine runs.
std::vector<ProblemSpec> cases() {
  std::vector<ProblemSpec> specs;
  for (int c = 0; c < kOptionCases; ++c) specs.push_back(option_case(c));
  return specs;
}

// Calls check(r) for every spec, input type and output type (f32 or the input type), with the
// case in the trace of any failure.
template <typename Check>
void for_each_rounded(const std::vector<ProblemSpec>& specs, Check check) {
  for (const ProblemSpec& spec : specs) {
    for (ElementType in : kTypes) {
      for (ElementType out : {ElementType::kF32, in}) {
        SCOPED_TRACE(spec.describe() + " " + std::string(element_type_name(in)) + " -> " +
                     std::string(element_type_name(out)));
        RoundedProblem r(spec, in, out);
        check(r);
      }
    }
  }
}

TEST(LowPrecision, ForwardHoldsTwiceThePlainErrorOnEveryTarget) {
  for_each_rounded(cases(), [](RoundedProblem& r) {
    const AttentionParams p = r.params();
    const ReferenceResult exact = attention_reference(p);
    std::vector<float> plain = attention_naive_fp32(p);
    for (float& x : plain) x = round_to(x, r.out_type());
    for (const std::string& target : supported_simd_targets()) {
      force_simd_target(target);
      EXPECT_EQ(check_forward(r, exact, plain), "") << target;
    }
    force_simd_target("");
  });
}

TEST(LowPrecision, BackwardHoldsThreeTimesThePlainErrorOnEveryTarget) {
  for_each_rounded(cases(), [](RoundedProblem& r) {
    const AttentionParams p = r.params();
    const std::vector<float> dout = r.dout();
    const Strides4 ds = bhld_strides(p.q_heads, p.q_len, p.v_head_dim);
    const ReferenceGrads exact = attention_reference_backward(p, dout.data(), ds);
    const NaiveGrads plain = attention_naive_backward_fp32(p, dout.data(), ds);
    for (const std::string& target : supported_simd_targets()) {
      force_simd_target(target);
      for (BackwardPlan plan : {BackwardPlan::kSplit, BackwardPlan::kFused}) {
        EXPECT_EQ(check_backward(r, plan, exact, plain), "")
            << target << (plan == BackwardPlan::kFused ? " fused" : " split");
      }
    }
    force_simd_target("");
  });
}

TEST(LowPrecision, BitwiseIdenticalForAnyThreadCount) {
  const ProblemSpec spec = option_case(kOptionCases - 1);
  for (ElementType in : kTypes) {
    RoundedProblem r(spec, in, in);
    std::vector<std::vector<float>> outs, dqs, dks;
    for (int threads : {1, 2, 3}) {
      omp_set_num_threads(threads);
      flash_attention_forward(r.params());
      flash_attention_backward(r.params(), r.grads(BackwardPlan::kAuto));
      outs.push_back(r.out_bhld());
      dqs.push_back(r.dq());
      dks.push_back(r.dk());
    }
    omp_set_num_threads(omp_get_num_procs());
    for (size_t i = 1; i < outs.size(); ++i) {
      EXPECT_EQ(outs[i], outs[0]);
      EXPECT_EQ(dqs[i], dqs[0]);
      EXPECT_EQ(dks[i], dks[0]);
    }
  }
}

// The kernels widen 16-bit inputs one tile at a time. Their results must be those of the fp32
// kernels on whole widened copies of the inputs (widen_problem), bit for bit: the option cases
// and packed sequences, both output types, forward, weights and both backward plans.
std::vector<ProblemSpec> twin_cases() {
  std::vector<ProblemSpec> specs = cases();
  ProblemSpec packed = packed_case(6);  // ALiBi, causal
  packed.blhd = true;
  specs.push_back(packed);
  return specs;
}

TEST(LowPrecision, TileWideningEqualsTheWidenedCopies) {
  for_each_rounded(twin_cases(), [](RoundedProblem& r) {
    const AttentionParams p = r.params();
    const ElementType out = r.out_type();
    flash_attention_forward(p);
    const std::vector<float> got_out = r.out_bhld();
    const std::vector<float> got_lse(p.lse, p.lse + p.batch * p.q_heads * p.q_len);
    // The twin writes p.lse, and p.out with an fp32 output, after they were read above.
    const WidenedProblem twin = widen_problem(p, /*read_out=*/false);
    flash_attention_forward(twin.params);
    std::vector<float> want_out =
        out == ElementType::kF32 ? r.out_bhld() : twin.out;  // twin.out: dense [B, H, L, Dv]
    for (float& x : want_out) x = round_to(x, out);
    EXPECT_TRUE(bitwise_equal(got_out, want_out));
    EXPECT_TRUE(bitwise_equal(std::vector<float>(p.lse, p.lse + got_lse.size()), got_lse));

    // The weights, from the same lse.
    const int64_t n = p.batch * p.q_heads * p.q_len * p.kv_len;
    std::vector<float> got_weights(n), want_weights(n);
    WeightsRequest request;
    request.out_stride = bhld_strides(p.q_heads, p.q_len, p.kv_len);
    request.out = got_weights.data();
    attention_weights(p, request);
    request.out = want_weights.data();
    attention_weights(twin.params, request);
    EXPECT_TRUE(bitwise_equal(got_weights, want_weights));

    // The backward of the 16-bit forward's output; the twin reads that output widened.
    flash_attention_forward(p);
    const WidenedProblem backward_twin = widen_problem(p, /*read_out=*/true);
    const std::vector<float> dout = r.dout();
    for (BackwardPlan plan : {BackwardPlan::kSplit, BackwardPlan::kFused}) {
      SCOPED_TRACE(plan == BackwardPlan::kFused ? "fused" : "split");
      flash_attention_backward(p, r.grads(plan));
      const std::vector<float> dq = r.dq(), dk = r.dk(), dv = r.dv();
      AttentionGrads g = r.grads(plan);
      g.dout16 = nullptr;
      g.dout = dout.data();
      flash_attention_backward(backward_twin.params, g);
      EXPECT_TRUE(bitwise_equal(dq, r.dq()));
      EXPECT_TRUE(bitwise_equal(dk, r.dk()));
      EXPECT_TRUE(bitwise_equal(dv, r.dv()));
    }
  });
}

TEST(LowPrecision, ValidateNamesMixedPointers) {
  RoundedProblem r(option_case(0), ElementType::kBF16, ElementType::kBF16);
  AttentionParams p = r.params();
  p.q = reinterpret_cast<const float*>(p.q16);  // both sets of pointers
  EXPECT_THROW(validate(p), Error);
  p = r.params();
  p.k16 = nullptr;
  EXPECT_THROW(validate(p), Error);
  p = r.params();
  p.output_type = ElementType::kF16;
  EXPECT_THROW(validate(p), Error);
  p = r.params();
  p.input_type = ElementType::kF32;
  EXPECT_THROW(validate(p), Error);
  EXPECT_NO_THROW(validate(r.params()));
}

}  // namespace
}  // namespace attn::testing
