// TransformerBlock: gradients of every parameter and of x for pre- and post-norm blocks with
// each norm, each activation, GQA, fused QKV, RoPE, key padding and dropout.
#include "attn/nn/tensor_ops.h"
#include "attn/nn/transformer_block.h"
#include "gtest/gtest.h"
#include "nn_grad_check.h"
#include "test_util.h"

namespace attn::testing {
namespace {

struct BlockCase {
  const char* name;
  nn::TransformerBlockConfig config;
  std::vector<int64_t> key_lengths;
  bool training = false;
};

void PrintTo(const BlockCase& c, std::ostream* os) { *os << c.name; }

std::vector<BlockCase> block_cases() {
  std::vector<BlockCase> cases;
  auto add = [&](const char* name, auto edit, std::vector<int64_t> lengths = {},
                 bool training = false) {
    nn::TransformerBlockConfig c;
    c.d_model = 8, c.n_heads = 2, c.d_ff = 12, c.seed = 5;
    edit(c);
    cases.push_back({name, c, lengths, training});
  };
  add("pre_layernorm_gelu", [](auto&) {});
  add("post_rmsnorm_swiglu", [](auto& c) {
    c.pre_norm = false, c.norm = nn::NormKind::kRMSNorm, c.activation = nn::Activation::kSwiGLU;
    c.causal = false, c.bias = false;
  });
  add(
      "llama_like_padded_dropout",
      [](auto& c) {
        c.n_heads = 4, c.n_kv_heads = 2, c.norm = nn::NormKind::kRMSNorm;
        c.activation = nn::Activation::kSwiGLU, c.rope = true, c.fused_qkv = true;
        c.dropout = 0.2f;
      },
      {4, 6}, true);
  add(
      "post_layernorm_dropout", [](auto& c) { c.pre_norm = false, c.dropout = 0.3f; }, {}, true);
  return cases;
}

class BlockGradients : public ::testing::TestWithParam<BlockCase> {};

TEST_P(BlockGradients, MatchFiniteDifferences) {
  const BlockCase& bc = GetParam();
  nn::TransformerBlock block(bc.config);
  randomize_parameters(block.parameters(), 21);
  Tensor x = random_tensor({2, 6, 8}, 22);
  nn::BlockInputs inputs;
  inputs.key_lengths = bc.key_lengths;
  inputs.training = bc.training;
  inputs.step = 9;
  const std::vector<float> r = random_floats(x.size(), 23);
  block.forward(x, inputs);
  const Tensor dx = block.backward(nn::tensor_from(x.shape(), r));
  std::vector<GradTarget> targets = targets_of(block.parameters());
  for (GradTarget& t : targets) {
    t.expect_zero = t.name == "attn.wk.bias" && !bc.config.rope;  // cancelled by the softmax
  }
  targets.push_back(target_of("x", x, dx));
  auto loss = [&] { return weighted_sum(block.forward(x, inputs), r); };
  EXPECT_EQ(check_gradients(loss, targets), "");
}

INSTANTIATE_TEST_SUITE_P(Configs, BlockGradients, ::testing::ValuesIn(block_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(TransformerBlock, DropoutActsOnlyWhenTraining) {
  nn::TransformerBlockConfig c;
  c.d_model = 8, c.n_heads = 2, c.dropout = 0.5f;
  nn::TransformerBlock block(c);
  const Tensor x = random_tensor({1, 4, 8}, 1);
  const std::vector<float> eval1 = nn::to_vector(block.forward(x));
  EXPECT_EQ(eval1, nn::to_vector(block.forward(x)));
  nn::BlockInputs train;
  train.training = true;
  train.step = 1;
  const std::vector<float> step1 = nn::to_vector(block.forward(x, train));
  EXPECT_NE(step1, eval1);
  EXPECT_EQ(step1, nn::to_vector(block.forward(x, train)));
  train.step = 2;
  EXPECT_NE(step1, nn::to_vector(block.forward(x, train)));
}

TEST(TransformerBlock, ListsEveryParameterOnce) {
  nn::TransformerBlockConfig c;
  c.d_model = 8, c.n_heads = 2;
  nn::TransformerBlock block(c);
  const std::vector<nn::Parameter> p = block.parameters();
  // norm1 (2) + attn wq, wk, wv, wo (8) + norm2 (2) + ffn w1, w2 (4)
  ASSERT_EQ(p.size(), 16u);
  EXPECT_EQ(p.front().name, "norm1.weight");
  EXPECT_EQ(p[2].name, "attn.wq.weight");
  EXPECT_EQ(p.back().name, "ffn.w2.bias");
  EXPECT_EQ(nn::count_elements(p), 2 * 16 + 4 * (64 + 8) + 2 * 32 * 8 + 32 + 8);
}

}  // namespace
}  // namespace attn::testing
