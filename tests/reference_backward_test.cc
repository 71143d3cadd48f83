// The reference backward against central finite differences of L = Σ dout ∘ out, computed in
// double: the forward of reference_steps.h runs on double copies of q, k and v, so each
// perturbation can be far below a float's resolution.
#include <cmath>
#include <string>
#include <vector>

#include "attention_problem.h"
#include "attn/core/error.h"
#include "attn/ref/attention_reference.h"
#include "gtest/gtest.h"
#include "ref/reference_steps.h"
#include "test_util.h"

namespace attn::testing {
namespace {

// One input tensor under test: its double copy, its strides and sizes, and its gradient [B, H,
// L, dim] from the reference backward.
struct Input {
  const char* name;
  std::vector<double>* values;
  Strides4 stride;
  int64_t heads, len, dim;
  const std::vector<double>* grad;
};

class FiniteDifferences {
 public:
  explicit FiniteDifferences(const ProblemSpec& spec) : problem_(spec), p_(problem_.params()) {
    const ProblemSpec& s = spec;
    q_.assign(p_.q, p_.q + s.batch * s.q_heads * s.q_len * s.head_dim);
    k_.assign(p_.k, p_.k + s.batch * s.kv_heads * s.kv_len * s.head_dim);
    v_.assign(p_.v, p_.v + s.batch * s.kv_heads * s.kv_len * s.v_head_dim);
    dout_ = random_floats(s.batch * s.q_heads * s.q_len * s.v_head_dim, s.seed + 99);
    dout_stride_ = layout_strides(s, s.q_heads, s.q_len, s.v_head_dim);
    grads_ = attention_reference_backward(p_, dout_.data(), dout_stride_);
  }

  // Expects every entry of q, k and v to have the gradient its central difference gives.
  void expect_gradients_match() {
    const ProblemSpec& s = problem_.spec();
    const Input inputs[] = {
        {"dq", &q_, p_.q_stride, s.q_heads, s.q_len, s.head_dim, &grads_.dq},
        {"dk", &k_, p_.k_stride, s.kv_heads, s.kv_len, s.head_dim, &grads_.dk},
        {"dv", &v_, p_.v_stride, s.kv_heads, s.kv_len, s.v_head_dim, &grads_.dv},
    };
    for (const Input& in : inputs) expect_input_matches(in);
  }

 private:
  // L = Σ dout ∘ out with the current double inputs.
  double loss() const {
    std::vector<double> out;
    ref::attention_rows<double>(p_, ref::QkvView<double>{q_.data(), k_.data(), v_.data()}, out,
                                nullptr, nullptr);
    const ProblemSpec& s = problem_.spec();
    double sum = 0.0;
    size_t n = 0;
    for (int64_t b = 0; b < s.batch; ++b)
      for (int64_t h = 0; h < s.q_heads; ++h)
        for (int64_t i = 0; i < s.q_len; ++i)
          for (int64_t c = 0; c < s.v_head_dim; ++c) {
            sum += double(dout_[dout_stride_.offset(b, h, i, c)]) * out[n++];
          }
    return sum;
  }

  void expect_input_matches(const Input& in) {
    constexpr double kStep = 1e-5;
    size_t n = 0;  // index into the [B, H, L, dim] gradient
    for (int64_t b = 0; b < p_.batch; ++b)
      for (int64_t h = 0; h < in.heads; ++h)
        for (int64_t i = 0; i < in.len; ++i)
          for (int64_t d = 0; d < in.dim; ++d, ++n) {
            double& x = (*in.values)[in.stride.offset(b, h, i, d)];
            const double saved = x;
            x = saved + kStep;
            const double up = loss();
            x = saved - kStep;
            const double down = loss();
            x = saved;
            const double fd = (up - down) / (2 * kStep), grad = (*in.grad)[n];
            ASSERT_NEAR(grad, fd, 1e-7 * (1 + std::abs(fd)))
                << in.name << "[" << b << "," << h << "," << i << "," << d << "] "
                << problem_.spec().describe();
          }
  }

  Problem problem_;
  AttentionParams p_;
  std::vector<double> q_, k_, v_;
  std::vector<float> dout_;
  Strides4 dout_stride_;
  ReferenceGrads grads_;
};

// A small problem (B = 2, GQA 4:2, Lq = 5, Lk = 7, D = 3, Dv = 4) with one option or several.
constexpr int kFdCases = 18;
ProblemSpec fd_case(int which) {
  ProblemSpec s;
  s.batch = 2;
  s.q_heads = 4;
  s.kv_heads = 2;
  s.q_len = 5;
  s.kv_len = 7;
  s.head_dim = 3;
  s.v_head_dim = 4;
  s.magnitude = 1.5f;
  s.seed = 10 + which;
  // clang-format off
  switch (which) {
    case 0: break;
    case 1: s.causal = true; break;
    case 2: s.causal = true; s.align = CausalAlign::kTopLeft; break;
    case 3: s.causal = true; s.q_len = 9; break;  // Lq > Lk: the first rows see no key
    case 4: s.window_left = 2; s.window_right = 1; break;
    case 5: s.softcap = 1.5f; s.magnitude = 3.0f; break;
    case 6: s.alibi = true; break;
    case 7: s.key_lengths = true; break;
    case 8: s.bool_mask = MaskKind::kTwoD; break;
    case 9: s.bool_mask = MaskKind::kFull; break;
    case 10: s.additive_mask = MaskKind::kTwoD; break;
    case 11: s.additive_mask = MaskKind::kFull; break;
    case 12: s.scale = 0.7f; break;
    case 13: s.blhd = true; s.causal = true; break;
    case 14: s.q_heads = 3; s.kv_heads = 1; break;  // multi-query
    case 15: s.head_dim = 5; s.v_head_dim = 2; break;
    case 16: s.dropout_p = 0.4f; s.dropout_seed = 3; break;  // a fixed mask
    case 17:  // everything at once
      s.causal = true; s.window_left = 3; s.softcap = 2.0f; s.alibi = true; s.key_lengths = true;
      s.bool_mask = MaskKind::kTwoD; s.additive_mask = MaskKind::kFull; s.blhd = true;
      s.dropout_p = 0.25f; s.dropout_seed = 4;
      break;
  }
  // clang-format on
  return s;
}

class ReferenceBackwardOption : public ::testing::TestWithParam<int> {};

TEST_P(ReferenceBackwardOption, MatchesFiniteDifferences) {
  FiniteDifferences(fd_case(GetParam())).expect_gradients_match();
}

INSTANTIATE_TEST_SUITE_P(EachOption, ReferenceBackwardOption, ::testing::Range(0, kFdCases));

TEST(ReferenceBackward, FullyMaskedRowsGiveZeroGradients) {
  ProblemSpec s = fd_case(0);
  s.key_lengths = true;
  Problem problem(s);
  AttentionParams p = problem.params();
  const int64_t lengths[2] = {0, 0};  // no batch has a key
  p.key_lengths = lengths;
  const std::vector<float> dout = random_floats(2 * 4 * 5 * 4, 5);
  const ReferenceGrads g = attention_reference_backward(p, dout.data(), bhld_strides(4, 5, 4));
  for (const std::vector<double>* grad : {&g.dq, &g.dk, &g.dv}) {
    for (double x : *grad) ASSERT_EQ(x, 0.0);
  }
}

TEST(ReferenceBackward, PlainFp32AgreesWithDouble) {
  Problem problem(fd_case(kFdCases - 1));
  const AttentionParams p = problem.params();
  const std::vector<float> dout = random_floats(2 * 4 * 5 * 4, 6);
  const Strides4 stride = bhld_strides(4, 5, 4);
  const ReferenceGrads ref = attention_reference_backward(p, dout.data(), stride);
  const NaiveGrads naive = attention_naive_backward_fp32(p, dout.data(), stride);
  EXPECT_LT(max_abs_diff(std::vector<double>(naive.dq.begin(), naive.dq.end()), ref.dq), 1e-5);
  EXPECT_LT(max_abs_diff(std::vector<double>(naive.dk.begin(), naive.dk.end()), ref.dk), 1e-5);
  EXPECT_LT(max_abs_diff(std::vector<double>(naive.dv.begin(), naive.dv.end()), ref.dv), 1e-5);
}

TEST(ReferenceBackward, RejectsMissingDout) {
  Problem problem(fd_case(0));
  EXPECT_THROW(attention_reference_backward(problem.params(), nullptr, Strides4{}), Error);
}

}  // namespace
}  // namespace attn::testing
