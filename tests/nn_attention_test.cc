// MultiHeadAttention: gradients of every projection and of the inputs for each configuration
// (separate or fused projections, GQA, dk ≠ dv, RoPE, causal, key padding, cross-attention),
// and the forward against a hand-wired reference.
#include <algorithm>
#include <cmath>

#include "attn/core/error.h"
#include "attn/kernels/attention.h"
#include "attn/nn/multi_head_attention.h"
#include "attn/nn/rope.h"
#include "attn/nn/tensor_ops.h"
#include "attn/ref/attention_reference.h"
#include "gtest/gtest.h"
#include "nn_grad_check.h"
#include "test_util.h"

namespace attn::testing {
namespace {

struct MhaCase {
  const char* name;
  nn::MultiHeadAttentionConfig config;
  std::vector<int64_t> key_lengths;
  int64_t kv_len = 0;     // S for cross-attention
  bool training = false;  // attention dropout on (at step 7)
};

nn::MultiHeadAttentionConfig base_config() {
  nn::MultiHeadAttentionConfig c;
  c.d_model = 8;
  c.n_heads = 2;
  c.seed = 3;
  return c;
}

std::vector<MhaCase> mha_cases() {
  std::vector<MhaCase> cases;
  auto add = [&](const char* name, auto edit, std::vector<int64_t> lengths = {}, int64_t s = 0) {
    nn::MultiHeadAttentionConfig c = base_config();
    edit(c);
    cases.push_back({name, c, lengths, s, c.attention_dropout > 0});
  };
  add("separate", [](auto&) {});
  add("fused_causal", [](auto& c) { c.fused_qkv = true, c.causal = true; });
  add("gqa_dk_ne_dv_no_bias", [](auto& c) {
    c.n_heads = 4, c.n_kv_heads = 2, c.head_dim = 6, c.v_head_dim = 4, c.bias = false;
  });
  add("mqa_rope_causal", [](auto& c) { c.n_heads = 4, c.n_kv_heads = 1, c.rope = true; });
  add("fused_gqa_rope", [](auto& c) {
    c.n_heads = 4, c.n_kv_heads = 2, c.head_dim = 4, c.v_head_dim = 6, c.fused_qkv = true;
    c.rope = true, c.causal = true;
  });
  add("key_padding", [](auto& c) { c.scale = 0.7f; }, {3, 5});
  add(
      "cross", [](auto& c) { c.cross_attention = true, c.memory_dim = 6, c.rope = true; }, {7, 4},
      7);
  add("attention_dropout_gqa_causal", [](auto& c) {
    c.n_heads = 4, c.n_kv_heads = 2, c.causal = true, c.attention_dropout = 0.3f;
  });
  add("attention_dropout_fused_padded",
      [](auto& c) { c.fused_qkv = true, c.attention_dropout = 0.5f; }, {4, 2});
  return cases;
}

void PrintTo(const MhaCase& c, std::ostream* os) { *os << c.name; }

class MhaGradients : public ::testing::TestWithParam<MhaCase> {};

TEST_P(MhaGradients, MatchFiniteDifferences) {
  const MhaCase& mc = GetParam();
  nn::MultiHeadAttention mha(mc.config);
  randomize_parameters(mha.parameters(), 10);
  Tensor x = random_tensor({2, 5, 8}, 11);
  Tensor memory = random_tensor({2, mc.kv_len > 0 ? mc.kv_len : 1, 6}, 12);
  nn::AttentionInputs inputs;
  inputs.memory = mc.config.cross_attention ? &memory : nullptr;
  inputs.key_lengths = mc.key_lengths;
  inputs.training = mc.training;
  inputs.step = 7;
  const std::vector<float> r = random_floats(x.size(), 13);
  mha.forward(x, inputs);
  Tensor dmemory;
  const Tensor dx = mha.backward(nn::tensor_from(x.shape(), r), &dmemory);
  std::vector<GradTarget> targets = targets_of(mha.parameters());
  for (GradTarget& t : targets) {
    // Without RoPE, bk adds q·bk to every score of a row, which the softmax cancels.
    t.expect_zero = t.name == "wk.bias" && !mc.config.rope;
  }
  targets.push_back(target_of("x", x, dx));
  if (mc.config.cross_attention) targets.push_back(target_of("memory", memory, dmemory));
  auto loss = [&] { return weighted_sum(mha.forward(x, inputs), r); };
  EXPECT_EQ(check_gradients(loss, targets), "");
}

INSTANTIATE_TEST_SUITE_P(Configs, MhaGradients, ::testing::ValuesIn(mha_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

// The layer against the same steps wired by hand: projections with the layer's own weights,
// RoPE, attention_reference on contiguous [B, H, L, D] copies, output projection.
TEST(MultiHeadAttention, ForwardMatchesHandWiredReference) {
  nn::MultiHeadAttentionConfig c = base_config();
  c.n_heads = 4, c.n_kv_heads = 2, c.head_dim = 4, c.v_head_dim = 6, c.rope = true;
  c.causal = true;
  nn::MultiHeadAttention mha(c);
  randomize_parameters(mha.parameters(), 1);
  const Tensor x = random_tensor({2, 5, 8}, 2);
  const Tensor y = mha.forward(x);
  const std::vector<nn::Parameter> p = mha.parameters();  // wq, wk, wv, wo (weight, bias)
  auto project = [&](size_t w, int64_t out) {
    nn::Linear lin(8, out, true, 0);
    std::copy(p[w].value, p[w].value + p[w].size, lin.weight().data());
    std::copy(p[w + 1].value, p[w + 1].value + p[w + 1].size, lin.bias().data());
    return lin.forward(x);
  };
  nn::Rope rope(4);
  const Tensor q = rope.forward(nn::reshaped(project(0, 16), {2, 5, 4, 4}));
  const Tensor k = rope.forward(nn::reshaped(project(2, 8), {2, 5, 2, 4}));
  const Tensor v = project(4, 12);
  // The reference returns its output: out is not written.
  AttentionParams ap = attention_params(
      ConstTensorView4::blhd(q.data(), 2, 4, 5, 4), ConstTensorView4::blhd(k.data(), 2, 2, 5, 4),
      ConstTensorView4::blhd(v.data(), 2, 2, 5, 6), TensorView4::bhld(nullptr, 2, 4, 5, 6));
  ap.causal = true;
  const ReferenceResult ref = attention_reference(ap);  // [B, Hq, T, dv]
  Tensor o({2, 5, 24});
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t h = 0; h < 4; ++h)
      for (int64_t t = 0; t < 5; ++t)
        for (int64_t e = 0; e < 6; ++e)
          o.data()[(b * 5 + t) * 24 + h * 6 + e] = ref.out[((b * 4 + h) * 5 + t) * 6 + e];
  nn::Linear wo(24, 8, true, 0);
  std::copy(p[6].value, p[6].value + p[6].size, wo.weight().data());
  std::copy(p[7].value, p[7].value + p[7].size, wo.bias().data());
  const Tensor expected = wo.forward(o);
  for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y.data()[i], expected.data()[i], 1e-4) << i;
}

TEST(MultiHeadAttention, WeightsAreCausalRowsThatSumToOne) {
  nn::MultiHeadAttentionConfig c = base_config();
  c.causal = true;
  nn::MultiHeadAttention mha(c);
  mha.forward(random_tensor({2, 5, 8}, 1));
  const Tensor w = mha.attention_weights();  // [B, Hq, T, T]
  ASSERT_EQ(w.shape(), (std::vector<int64_t>{2, 2, 5, 5}));
  for (int64_t row = 0; row < 2 * 2 * 5; ++row) {
    const int64_t i = row % 5;
    double sum = 0;
    for (int64_t j = 0; j < 5; ++j) {
      sum += w.data()[row * 5 + j];
      if (j > i) {
        EXPECT_EQ(w.data()[row * 5 + j], 0.0f);
      }
    }
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }
  const Tensor mean = mha.attention_weights(/*average_heads=*/true);
  ASSERT_EQ(mean.shape(), (std::vector<int64_t>{2, 1, 5, 5}));
  EXPECT_NEAR(mean.data()[7], 0.5 * (w.data()[7] + w.data()[25 + 7]), 1e-6);
}

// Changing x at the padded positions of batch 0 (t ≥ 3) must not change its outputs at t < 3,
// nor anything in batch 1.
TEST(MultiHeadAttention, PaddedKeysDoNotAffectTheOutput) {
  nn::MultiHeadAttentionConfig c = base_config();
  c.causal = true;
  nn::MultiHeadAttention mha(c);
  const std::vector<int64_t> lengths = {3, 5};
  nn::AttentionInputs inputs;
  inputs.key_lengths = lengths;
  Tensor x = random_tensor({2, 5, 8}, 2);
  const Tensor y = mha.forward(x, inputs);
  for (int64_t i = 3 * 8; i < 5 * 8; ++i) x.data()[i] += 1.0f;
  const Tensor y2 = mha.forward(x, inputs);
  for (int64_t i = 0; i < 3 * 8; ++i) EXPECT_EQ(y.data()[i], y2.data()[i]);
  for (int64_t i = 5 * 8; i < 10 * 8; ++i) EXPECT_EQ(y.data()[i], y2.data()[i]);
}

// Two sequences packed in x [1, 9, C] (cu_seqlens 0, 4, 9) give each sequence's output and dx
// as if it ran alone.
TEST(MultiHeadAttention, PackedSequencesAreEachSequenceAlone) {
  nn::MultiHeadAttentionConfig c = base_config();
  c.causal = true, c.fused_qkv = true;
  nn::MultiHeadAttention mha(c);
  const std::vector<int32_t> offsets = {0, 4, 9};
  nn::AttentionInputs packed;
  packed.cu_seqlens = offsets;
  const Tensor x = random_tensor({1, 9, 8}, 4), dy = random_tensor({1, 9, 8}, 5);
  const Tensor y = mha.forward(x, packed);
  const Tensor dx = mha.backward(dy);
  for (int s = 0; s < 2; ++s) {
    const int64_t first = offsets[s], len = offsets[s + 1] - offsets[s];
    Tensor xs({1, len, 8}), dys({1, len, 8});
    std::copy_n(x.data() + first * 8, len * 8, xs.data());
    std::copy_n(dy.data() + first * 8, len * 8, dys.data());
    const Tensor ys = mha.forward(xs);
    const Tensor dxs = mha.backward(dys);
    for (int64_t i = 0; i < len * 8; ++i) {
      EXPECT_NEAR(y.data()[first * 8 + i], ys.data()[i], 1e-6) << s << " " << i;
      EXPECT_NEAR(dx.data()[first * 8 + i], dxs.data()[i], 1e-6) << s << " " << i;
    }
  }
}

TEST(MultiHeadAttention, PackedSequencesNeedOneBatchOfSelfAttentionWithoutRope) {
  nn::MultiHeadAttentionConfig c = base_config();
  c.rope = true;
  nn::MultiHeadAttention with_rope(c);
  const std::vector<int32_t> offsets = {0, 4, 9};
  nn::AttentionInputs packed;
  packed.cu_seqlens = offsets;
  EXPECT_THROW(with_rope.forward(random_tensor({1, 9, 8}, 4), packed), Error);
  nn::MultiHeadAttention plain(base_config());
  EXPECT_THROW(plain.forward(random_tensor({2, 9, 8}, 4), packed), Error);
  EXPECT_THROW(plain.forward(random_tensor({1, 8, 8}, 4), packed), Error);
}

TEST(MultiHeadAttention, CausalOutputIgnoresLaterTokens) {
  nn::MultiHeadAttentionConfig c = base_config();
  c.causal = true, c.rope = true, c.fused_qkv = true;
  nn::MultiHeadAttention mha(c);
  Tensor x = random_tensor({1, 6, 8}, 3);
  const Tensor y = mha.forward(x);
  for (int64_t i = 4 * 8; i < 6 * 8; ++i) x.data()[i] -= 0.5f;
  const Tensor y2 = mha.forward(x);
  for (int64_t i = 0; i < 4 * 8; ++i) EXPECT_EQ(y.data()[i], y2.data()[i]);
  EXPECT_NE(y.data()[4 * 8], y2.data()[4 * 8]);
}

std::vector<float> values(const Tensor& t) { return {t.data(), t.data() + t.size()}; }

// Attention dropout acts in training only, draws a new mask at each step and the same mask for
// the same step.
TEST(MultiHeadAttention, AttentionDropoutOnlyWhenTrainingAndPerStep) {
  nn::MultiHeadAttentionConfig c = base_config();
  c.causal = true;
  nn::MultiHeadAttention plain(c);
  c.attention_dropout = 0.4f;
  nn::MultiHeadAttention dropped(c);  // same seed: same weights
  const Tensor x = random_tensor({2, 6, 8}, 4);
  nn::AttentionInputs train;
  train.training = true;
  train.step = 3;
  const Tensor eval = dropped.forward(x);
  EXPECT_EQ(values(eval), values(plain.forward(x)));
  EXPECT_EQ(values(plain.forward(x, train)), values(eval));  // p = 0: nothing dropped
  const Tensor step3 = dropped.forward(x, train);
  EXPECT_NE(values(step3), values(eval));
  EXPECT_EQ(values(dropped.forward(x, train)), values(step3));
  train.step = 4;
  EXPECT_NE(values(dropped.forward(x, train)), values(step3));
}

// A runner that runs the flash kernels, doubles their output and counts its calls.
class ScalingRunner : public nn::AttentionRunner {
 public:
  void forward(const AttentionParams& p) override {
    ++forwards;
    flash_attention_forward(p);
    for (int64_t b = 0; b < p.batch; ++b) {
      for (int64_t h = 0; h < p.q_heads; ++h) {
        for (int64_t i = 0; i < p.q_len; ++i) {
          float* row =
              p.out + b * p.out_stride.batch + h * p.out_stride.head + i * p.out_stride.row;
          for (int64_t d = 0; d < p.v_head_dim; ++d) row[d] *= 2.0f;
        }
      }
    }
  }
  void backward(const AttentionParams& p, const AttentionGrads& g) override {
    ++backwards;
    flash_attention_backward(p, g);
  }
  int forwards = 0, backwards = 0;
};

TEST(MultiHeadAttention, RunnerComputesTheAttentionOfForwardAndBackward) {
  nn::MultiHeadAttentionConfig c = base_config();
  c.causal = true, c.fused_qkv = true;
  nn::MultiHeadAttention kernels(c), run(c);  // same seed: same weights
  const Tensor x = random_tensor({2, 5, 8}, 6);
  ScalingRunner runner;
  nn::AttentionInputs inputs;
  inputs.runner = &runner;
  const Tensor y = run.forward(x, inputs);
  const Tensor y_kernels = kernels.forward(x);
  EXPECT_EQ(runner.forwards, 1);
  EXPECT_NE(values(y), values(y_kernels));  // the runner's doubled output went through Wo
  const Tensor dy = random_tensor({2, 5, 8}, 7);
  run.backward(dy);
  EXPECT_EQ(runner.backwards, 1);
  const Tensor y_again = run.forward(x);  // no runner: the kernels again
  EXPECT_EQ(values(y_again), values(y_kernels));
  EXPECT_EQ(runner.forwards, 1);
}

TEST(MultiHeadAttention, RunnerWithRopeIsRejected) {
  nn::MultiHeadAttentionConfig c = base_config();
  c.rope = true;
  nn::MultiHeadAttention mha(c);
  ScalingRunner runner;
  nn::AttentionInputs inputs;
  inputs.runner = &runner;
  EXPECT_THROW(mha.forward(random_tensor({1, 4, 8}, 8), inputs), Error);
}

TEST(MultiHeadAttention, InvalidConfigurationsThrow) {
  nn::MultiHeadAttentionConfig c = base_config();
  c.n_heads = 4, c.n_kv_heads = 3;
  EXPECT_THROW(nn::MultiHeadAttention{c}, Error);
  c = base_config();
  c.fused_qkv = true, c.cross_attention = true;
  EXPECT_THROW(nn::MultiHeadAttention{c}, Error);
  c = base_config();
  c.head_dim = 3, c.rope = true;
  EXPECT_THROW(nn::MultiHeadAttention{c}, Error);
  c = base_config();
  c.attention_dropout = 1.0f;
  EXPECT_THROW(nn::MultiHeadAttention{c}, Error);
}

TEST(MultiHeadAttention, InvalidInputsThrow) {
  nn::MultiHeadAttentionConfig c = base_config();
  c.cross_attention = true;
  nn::MultiHeadAttention cross(c);
  EXPECT_THROW(cross.forward(Tensor({1, 2, 8})), Error);  // no memory
  nn::MultiHeadAttention self(base_config());
  const std::vector<int64_t> too_long = {9};
  nn::AttentionInputs inputs;
  inputs.key_lengths = too_long;
  EXPECT_THROW(self.forward(Tensor({1, 2, 8}), inputs), Error);
  EXPECT_THROW(self.backward(Tensor({1, 2, 8})), Error);  // before any forward
}

TEST(MultiHeadAttention, ParameterNamesFollowTheProjections) {
  nn::MultiHeadAttentionConfig c = base_config();
  c.fused_qkv = true, c.bias = false;
  nn::MultiHeadAttention mha(c);
  const std::vector<nn::Parameter> p = mha.parameters();
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].name, "wqkv.weight");
  EXPECT_EQ(p[0].shape, (std::vector<int64_t>{24, 8}));
  EXPECT_EQ(p[1].name, "wo.weight");
}

}  // namespace
}  // namespace attn::testing
