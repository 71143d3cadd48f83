// Mixed precision: the fp32 → bf16 conversion, Linear with bf16 products against fp32, and
// MultiHeadAttention with bf16 attention against fp32 attention on the rounded inputs.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <tuple>

#include "attn/core/element_type.h"
#include "attn/core/error.h"
#include "attn/core/simd_target.h"
#include "attn/kernels/attention.h"
#include "attn/kernels/bf16_convert.h"
#include "attn/nn/attention_precision.h"
#include "attn/nn/linear.h"
#include "attn/nn/matmul_precision.h"
#include "attn/nn/multi_head_attention.h"
#include "attn/nn/rope.h"
#include "attn/nn/tensor_ops.h"
#include "attn/ref/attention_reference.h"
#include "gtest/gtest.h"
#include "nn_grad_check.h"
#include "test_util.h"

namespace attn::testing {
namespace {

uint32_t bits_of(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}

float from_bits(uint32_t u) {
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

// Round to nearest even, written out case by case.
uint16_t expected_bf16(float x) {
  const uint32_t u = bits_of(x);
  if (std::isnan(x)) return static_cast<uint16_t>((u >> 16) | 0x40);
  const uint32_t kept = u >> 16, rest = u & 0xffff;
  if (rest > 0x8000 || (rest == 0x8000 && (kept & 1))) return static_cast<uint16_t>(kept + 1);
  return static_cast<uint16_t>(kept);
}

std::vector<float> conversion_cases() {
  std::vector<float> x = {1.0f,
                          from_bits(0x3f808000),  // a tie, kept part even: down
                          from_bits(0x3f818000),  // a tie, kept part odd: up
                          from_bits(0x3f808001),  // just above a tie: up
                          -from_bits(0x3f817fff),
                          std::numeric_limits<float>::max(),  // rounds up to inf
                          std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity(),
                          std::numeric_limits<float>::quiet_NaN(),
                          from_bits(0x7f800001),  // a signalling NaN
                          std::numeric_limits<float>::denorm_min(),
                          0.0f,
                          -0.0f};
  const std::vector<float> r = random_floats(61, 5);  // odd: the vector tail is used too
  x.insert(x.end(), r.begin(), r.end());
  return x;
}

TEST(Bf16, ConversionRoundsToNearestEvenOnEveryTarget) {
  const std::vector<float> x = conversion_cases();
  for (const std::string& target : supported_simd_targets()) {
    force_simd_target(target);
    std::vector<uint16_t> out(x.size());
    to_bf16(x.data(), out.data(), static_cast<int64_t>(x.size()));
    for (size_t i = 0; i < x.size(); ++i) {
      EXPECT_EQ(out[i], expected_bf16(x[i])) << target << " element " << i << " = " << x[i];
    }
    EXPECT_TRUE(std::isnan(from_bits(uint32_t{out[8]} << 16))) << target;
    EXPECT_TRUE(std::isnan(from_bits(uint32_t{out[9]} << 16))) << target;
  }
  force_simd_target("");
}

TEST(Bf16, PrecisionNamesParseAndBadNameIsAnError) {
  EXPECT_EQ(nn::parse_matmul_precision("bf16"), nn::MatmulPrecision::kBf16);
  EXPECT_EQ(nn::to_string(nn::parse_matmul_precision("fp32")), "fp32");
  EXPECT_THROW(nn::parse_matmul_precision("fp16"), Error);
}

TEST(Bf16, PrecisionInEffectIsFp32UnlessSupported) {
  nn::set_matmul_precision(nn::MatmulPrecision::kBf16);
  EXPECT_EQ(nn::matmul_precision(),
            nn::bf16_matmul_supported() ? nn::MatmulPrecision::kBf16 : nn::MatmulPrecision::kFp32);
  nn::set_matmul_precision(nn::MatmulPrecision::kFp32);
  EXPECT_EQ(nn::matmul_precision(), nn::MatmulPrecision::kFp32);
}

// Largest |a − b|; infinity where a difference is NaN.
double max_abs_diff(const Tensor& a, const Tensor& b) {
  double err = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    const double d = std::fabs(double(a.data()[i]) - double(b.data()[i]));
    if (std::isnan(d)) return INFINITY;
    err = std::max(err, d);
  }
  return err;
}

// Largest |a − b| over the largest |b|; infinity where a difference is NaN.
double relative_error(const Tensor& a, const Tensor& b) {
  double scale = 0;
  for (size_t i = 0; i < b.size(); ++i) scale = std::max(scale, double(std::fabs(b.data()[i])));
  return max_abs_diff(a, b) / scale;
}

// Output, input gradient and weight and bias gradients of one forward and backward pass.
struct LinearResult {
  Tensor y, dx, dw, db;
};

LinearResult run_linear(nn::MatmulPrecision precision, const Tensor& x, const Tensor& dy) {
  nn::set_matmul_precision(precision);
  nn::Linear layer(96, 80, /*bias=*/true, /*seed=*/3);
  randomize_parameters(layer.parameters(), 11);
  LinearResult r;
  r.y = layer.forward(x);
  r.dx = layer.backward(dy);
  r.dw = nn::clone(layer.weight_grad());
  r.db = nn::clone(layer.bias_grad());
  nn::set_matmul_precision(nn::MatmulPrecision::kFp32);
  return r;
}

TEST(Bf16, LinearProductsTrackFp32WithinBf16Rounding) {
  if (!nn::bf16_matmul_supported()) GTEST_SKIP() << "no bf16 instructions on this CPU";
  const Tensor x = random_tensor({3, 37, 96}, 12);
  const Tensor dy = random_tensor({3, 37, 80}, 13);
  const LinearResult ref = run_linear(nn::MatmulPrecision::kFp32, x, dy);
  const LinearResult got = run_linear(nn::MatmulPrecision::kBf16, x, dy);
  // Inputs rounded to 8 significant bits (relative 2⁻⁹ each): sums of 96 or 111 random-sign
  // products land well within 1% of the largest output; identical results would mean bf16 was
  // never used.
  const std::tuple<const char*, const Tensor*, const Tensor*> outputs[] = {
      {"y", &got.y, &ref.y}, {"dx", &got.dx, &ref.dx}, {"dw", &got.dw, &ref.dw}};
  for (const auto& [name, a, b] : outputs) {
    const double err = relative_error(*a, *b);
    EXPECT_LT(err, 1e-2) << name;
    EXPECT_GT(err, 0.0) << name;
  }
  EXPECT_LT(relative_error(got.db, ref.db), 1e-6);  // the bias gradient stays fp32
}

// ---- bf16 attention of MultiHeadAttention

// Sets the attention precision for a scope, back to fp32 after it.
class AttentionPrecisionScope {
 public:
  explicit AttentionPrecisionScope(nn::AttentionPrecision p) { nn::set_attention_precision(p); }
  ~AttentionPrecisionScope() { nn::set_attention_precision(nn::AttentionPrecision::kFp32); }
};

std::vector<float> values(const Tensor& t) { return {t.data(), t.data() + t.size()}; }

bool is_bf16(float x) { return round_to(x, ElementType::kBF16) == x; }

TEST(Bf16Attention, PrecisionIsFp32ByDefaultAndHasNames) {
  EXPECT_EQ(nn::attention_precision(), nn::AttentionPrecision::kFp32);
  EXPECT_EQ(nn::to_string(nn::AttentionPrecision::kBf16), "bf16");
  EXPECT_EQ(nn::to_string(nn::AttentionPrecision::kFp32), "fp32");
  // Not tied to the bf16 instructions of the matrix products: it runs on every CPU.
  const AttentionPrecisionScope bf16(nn::AttentionPrecision::kBf16);
  EXPECT_EQ(nn::attention_precision(), nn::AttentionPrecision::kBf16);
}

// The layer with bf16 attention against the same steps wired by hand: projections with the
// layer's own weights, RoPE, q, k, v rounded to bf16, attention_reference (double) on them, the
// output projection. FlashAttention's rule: the error is at most twice that of the plain fp32
// implementation on the same rounded inputs (attention_naive_fp32). And the rounding shows: the
// output differs from the fp32 attention's.
TEST(Bf16Attention, ForwardIsTheAttentionOfTheRoundedInputs) {
  constexpr int64_t B = 2, T = 23, C = 16, Hq = 4, Hkv = 2, dk = 8, dv = 6;
  nn::MultiHeadAttentionConfig c;
  c.d_model = C, c.n_heads = Hq, c.n_kv_heads = Hkv, c.head_dim = dk, c.v_head_dim = dv;
  c.rope = true, c.causal = true, c.seed = 3;
  nn::MultiHeadAttention mha(c);
  randomize_parameters(mha.parameters(), 1);
  const Tensor x = random_tensor({B, T, C}, 2);
  const Tensor y_fp32 = mha.forward(x);
  Tensor y_bf16;
  {
    const AttentionPrecisionScope bf16(nn::AttentionPrecision::kBf16);
    y_bf16 = mha.forward(x);
  }
  EXPECT_EQ(values(mha.forward(x)), values(y_fp32));  // back to fp32: bitwise as before

  const std::vector<nn::Parameter> p = mha.parameters();  // wq, wk, wv, wo (weight, bias)
  auto linear = [&](size_t w, int64_t in, int64_t out) {
    nn::Linear lin(in, out, true, 0);
    std::copy(p[w].value, p[w].value + p[w].size, lin.weight().data());
    std::copy(p[w + 1].value, p[w + 1].value + p[w + 1].size, lin.bias().data());
    return lin;
  };
  auto rounded = [](Tensor t) {
    for (size_t i = 0; i < t.size(); ++i) t.data()[i] = round_to(t.data()[i], ElementType::kBF16);
    return t;
  };
  nn::Rope rope(dk);
  const Tensor q =
      rounded(rope.forward(nn::reshaped(linear(0, C, Hq * dk).forward(x), {B, T, Hq, dk})));
  const Tensor k =
      rounded(rope.forward(nn::reshaped(linear(2, C, Hkv * dk).forward(x), {B, T, Hkv, dk})));
  const Tensor v = rounded(linear(4, C, Hkv * dv).forward(x));
  AttentionParams ap = attention_params(ConstTensorView4::blhd(q.data(), B, Hq, T, dk),
                                        ConstTensorView4::blhd(k.data(), B, Hkv, T, dk),
                                        ConstTensorView4::blhd(v.data(), B, Hkv, T, dv),
                                        TensorView4::bhld(nullptr, B, Hq, T, dv));
  ap.causal = true;
  const ReferenceResult ref = attention_reference(ap);        // [B, Hq, T, dv], double
  const std::vector<float> naive = attention_naive_fp32(ap);  // [B, Hq, T, dv], fp32
  // o [B, T, Hq·dv] from a [B, Hq, T, dv] result, then y = o·Woᵀ + bo.
  nn::Linear wo = linear(6, Hq * dv, C);
  auto project_out = [&](auto&& bhld) {
    Tensor o({B, T, Hq * dv});
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < Hq; ++h)
        for (int64_t t = 0; t < T; ++t)
          for (int64_t e = 0; e < dv; ++e)
            o.data()[(b * T + t) * Hq * dv + h * dv + e] =
                static_cast<float>(bhld[((b * Hq + h) * T + t) * dv + e]);
    return wo.forward(o);
  };
  const Tensor y_ref = project_out(ref.out);
  const Tensor y_naive = project_out(naive);
  const double err = max_abs_diff(y_bf16, y_ref);
  const double naive_err = max_abs_diff(y_naive, y_ref);
  EXPECT_LE(err, 2 * naive_err + 1e-6) << "plain fp32 on the rounded inputs: " << naive_err;
  // bf16 q, k, v (8 significant bits) move the output by ~1e-3 of its size; identical results
  // would mean the inputs were never rounded.
  const double scale = max_abs_diff(y_fp32, Tensor(y_fp32.shape()));
  const double moved = max_abs_diff(y_bf16, y_fp32) / scale;
  EXPECT_GT(moved, 1e-4);
  EXPECT_LT(moved, 2e-2);
}

// Runs the fp32 flash kernels after checking that q, k, v (and in the backward dO) hold only
// bf16 values: the plain fp32 attention of the rounded problem.
class Bf16CheckingRunner : public nn::AttentionRunner {
 public:
  explicit Bf16CheckingRunner(int64_t batch) : batch_(batch) {}
  void forward(const AttentionParams& p) override {
    EXPECT_EQ(p.input_type, ElementType::kF32);
    check(p.q, p.q_stride, p.q_heads, p.q_len, p.head_dim, "q");
    check(p.k, p.k_stride, p.kv_heads, p.kv_len, p.head_dim, "k");
    check(p.v, p.v_stride, p.kv_heads, p.kv_len, p.v_head_dim, "v");
    flash_attention_forward(p);
  }
  void backward(const AttentionParams& p, const AttentionGrads& g) override {
    check(g.dout, g.dout_stride, p.q_heads, p.q_len, p.v_head_dim, "dout");
    flash_attention_backward(p, g);
  }
  int64_t checked = 0;  // values checked

 private:
  void check(const float* x, const Strides4& s, int64_t heads, int64_t len, int64_t dim,
             const char* name) {
    for (int64_t b = 0; b < batch_; ++b)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < len; ++i)
          for (int64_t d = 0; d < dim; ++d) {
            const float value = x[s.offset(b, h, i, d)];
            ASSERT_TRUE(is_bf16(value)) << name << " " << value;
            ++checked;
          }
  }
  int64_t batch_;
};

struct Bf16Result {
  Tensor y, dx, dmemory;
  std::vector<Tensor> grads;  // of every parameter
};

Bf16Result run_mha(const nn::MultiHeadAttentionConfig& c, nn::AttentionPrecision precision,
                   nn::AttentionRunner* runner, const std::vector<int64_t>& key_lengths = {}) {
  const AttentionPrecisionScope scope(precision);
  nn::MultiHeadAttention mha(c);
  randomize_parameters(mha.parameters(), 4);
  const Tensor x = random_tensor({3, 19, c.d_model}, 5);
  const Tensor memory = random_tensor({3, 13, c.memory_dim ? c.memory_dim : c.d_model}, 6);
  nn::AttentionInputs in;
  in.runner = runner;
  in.key_lengths = key_lengths;
  if (c.cross_attention) in.memory = &memory;
  Bf16Result r;
  r.y = mha.forward(x, in);
  r.dx = mha.backward(random_tensor(r.y.shape(), 7), &r.dmemory);
  for (const nn::Parameter& p : mha.parameters()) {
    r.grads.push_back(nn::tensor_from({static_cast<int64_t>(p.size)},
                                      std::vector<float>(p.grad, p.grad + p.size)));
  }
  return r;
}

// With a runner the layer hands it q, k, v and dO rounded in place (ring attention reads fp32):
// the fp32 attention of the rounded problem, which the bf16 kernels must match.
TEST(Bf16Attention, KernelsMatchTheFp32AttentionOfTheRoundedProblem) {
  nn::MultiHeadAttentionConfig c;
  c.d_model = 16, c.n_heads = 4, c.n_kv_heads = 2, c.causal = true, c.fused_qkv = true;
  c.seed = 8;
  Bf16CheckingRunner runner(3);
  const Bf16Result via_runner = run_mha(c, nn::AttentionPrecision::kBf16, &runner);
  EXPECT_GT(runner.checked, 0);
  const Bf16Result kernels = run_mha(c, nn::AttentionPrecision::kBf16, nullptr);
  const Bf16Result fp32 = run_mha(c, nn::AttentionPrecision::kFp32, nullptr);
  EXPECT_LT(relative_error(kernels.y, via_runner.y), 1e-6);
  EXPECT_LT(relative_error(kernels.dx, via_runner.dx), 1e-6);
  for (size_t i = 0; i < fp32.grads.size(); ++i) {
    EXPECT_LT(relative_error(kernels.grads[i], via_runner.grads[i]), 1e-6) << "parameter " << i;
  }
  EXPECT_GT(relative_error(kernels.dx, fp32.dx), 1e-5);  // the rounding shows
}

// Gradients of the bf16 attention against fp32 for several layouts: within bf16's rounding of
// q, k, v and dO, and not equal to them.
TEST(Bf16Attention, GradientsTrackFp32) {
  struct Case {
    const char* name;
    nn::MultiHeadAttentionConfig config;
    std::vector<int64_t> key_lengths;
  };
  nn::MultiHeadAttentionConfig base;
  base.d_model = 16, base.n_heads = 4, base.seed = 9;
  std::vector<Case> cases;
  cases.push_back({"separate_rope_causal", base, {}});
  cases.back().config.rope = true, cases.back().config.causal = true;
  cases.push_back({"fused_gqa_dk_ne_dv", base, {}});
  cases.back().config.fused_qkv = true, cases.back().config.n_kv_heads = 2;
  cases.back().config.head_dim = 4, cases.back().config.v_head_dim = 6;
  cases.push_back({"cross_padded", base, {13, 5, 9}});
  cases.back().config.cross_attention = true, cases.back().config.memory_dim = 12;
  for (const Case& k : cases) {
    const Bf16Result fp32 =
        run_mha(k.config, nn::AttentionPrecision::kFp32, nullptr, k.key_lengths);
    const Bf16Result bf16 =
        run_mha(k.config, nn::AttentionPrecision::kBf16, nullptr, k.key_lengths);
    EXPECT_LT(relative_error(bf16.y, fp32.y), 1e-2) << k.name;
    const double dx_err = relative_error(bf16.dx, fp32.dx);
    EXPECT_LT(dx_err, 2e-2) << k.name;
    EXPECT_GT(dx_err, 0.0) << k.name;
    if (k.config.cross_attention) {
      EXPECT_LT(relative_error(bf16.dmemory, fp32.dmemory), 2e-2) << k.name;
    }
    for (size_t i = 0; i < fp32.grads.size(); ++i) {
      // The bias of k gets no gradient without RoPE (the softmax cancels it): compared absolutely.
      const double scale = max_abs_diff(fp32.grads[i], Tensor(fp32.grads[i].shape()));
      if (scale < 1e-4) {
        EXPECT_LT(max_abs_diff(bf16.grads[i], fp32.grads[i]), 1e-4) << k.name << " " << i;
        continue;
      }
      EXPECT_LT(relative_error(bf16.grads[i], fp32.grads[i]), 2e-2) << k.name << " parameter " << i;
    }
  }
}

// A forward in bf16 followed by one in fp32 (the setting changed in between): the fp32 results
// are bitwise those of a layer that never saw bf16, the backward following its own forward.
TEST(Bf16Attention, Fp32AfterBf16IsBitwiseUnchanged) {
  nn::MultiHeadAttentionConfig c;
  c.d_model = 16, c.n_heads = 4, c.fused_qkv = true, c.causal = true, c.seed = 10;
  const Bf16Result plain = run_mha(c, nn::AttentionPrecision::kFp32, nullptr);
  nn::MultiHeadAttention mha(c);
  randomize_parameters(mha.parameters(), 4);
  const Tensor x = random_tensor({3, 19, 16}, 5);
  {
    const AttentionPrecisionScope bf16(nn::AttentionPrecision::kBf16);
    mha.forward(x);
  }
  const Tensor y = mha.forward(x);
  const Tensor dx = mha.backward(random_tensor(y.shape(), 7));
  EXPECT_EQ(values(y), values(plain.y));
  EXPECT_EQ(values(dx), values(plain.dx));
}

}  // namespace
}  // namespace attn::testing
