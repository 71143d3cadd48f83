// Linear: forward against a hand computation, gradients against finite differences.
#include "attn/core/error.h"
#include "attn/nn/linear.h"
#include "attn/nn/tensor_ops.h"
#include "gtest/gtest.h"
#include "nn_grad_check.h"
#include "test_util.h"

namespace attn::testing {
namespace {

TEST(Linear, ForwardMatchesHandComputation) {
  nn::Linear layer(2, 3, /*bias=*/true, /*seed=*/1);
  const std::vector<float> w = {1, 2, 3, 4, 5, 6};  // [3, 2]
  std::copy(w.begin(), w.end(), layer.weight().data());
  const std::vector<float> b = {0.5f, -1, 2};
  std::copy(b.begin(), b.end(), layer.bias().data());
  const Tensor y = layer.forward(nn::tensor_from({1, 2}, {1, -1}));
  // y_o = Σ_i W[o, i] x_i + b_o
  EXPECT_EQ(nn::to_vector(y), (std::vector<float>{-0.5f, -2.0f, 1.0f}));
}

void check_linear(bool bias) {
  nn::Linear layer(7, 5, bias, /*seed=*/3);
  randomize_parameters(layer.parameters(), 11);
  Tensor x = random_tensor({2, 3, 7}, 12);
  const std::vector<float> r = random_floats(30, 13);
  EXPECT_EQ(layer.forward(x).shape(), (std::vector<int64_t>{2, 3, 5}));
  const Tensor dx = layer.backward(nn::tensor_from({2, 3, 5}, r));
  std::vector<GradTarget> targets = targets_of(layer.parameters());
  targets.push_back(target_of("x", x, dx));
  auto loss = [&] { return weighted_sum(layer.forward(x), r); };
  EXPECT_EQ(check_gradients(loss, targets), "");
}

TEST(Linear, GradientsMatchFiniteDifferences) { check_linear(true); }
TEST(Linear, GradientsMatchFiniteDifferencesWithoutBias) { check_linear(false); }

TEST(Linear, BackwardAccumulatesParameterGradients) {
  nn::Linear layer(4, 3, true, 5);
  const Tensor x = random_tensor({6, 4}, 1);
  const Tensor dy = random_tensor({6, 3}, 2);
  layer.forward(x);
  layer.backward(dy);
  const std::vector<float> once = nn::to_vector(layer.weight_grad());
  const std::vector<float> bias_once = nn::to_vector(layer.bias_grad());
  layer.backward(dy);
  for (size_t i = 0; i < once.size(); ++i)
    EXPECT_FLOAT_EQ(layer.weight_grad().data()[i], 2 * once[i]);
  for (size_t i = 0; i < bias_once.size(); ++i) {
    EXPECT_FLOAT_EQ(layer.bias_grad().data()[i], 2 * bias_once[i]);
  }
}

TEST(Linear, ParametersAreNamedAndMarkedForDecay) {
  nn::Linear layer(4, 3, true, 5);
  const std::vector<nn::Parameter> params = layer.parameters();
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0].name, "weight");
  EXPECT_TRUE(params[0].decay);
  EXPECT_EQ(params[0].shape, (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(params[1].name, "bias");
  EXPECT_FALSE(params[1].decay);
}

TEST(Linear, WrongInputWidthThrows) {
  nn::Linear layer(4, 3, true, 5);
  EXPECT_THROW(layer.forward(Tensor({2, 5})), Error);
}

// The harness itself must reject a gradient that is wrong by a few percent.
TEST(GradCheck, RejectsAGradientWrongByFivePercent) {
  nn::Linear layer(6, 4, true, 7);
  randomize_parameters(layer.parameters(), 3);
  Tensor x = random_tensor({5, 6}, 4);
  const std::vector<float> r = random_floats(20, 5);
  layer.forward(x);
  Tensor dx = layer.backward(nn::tensor_from({5, 4}, r));
  for (size_t i = 0; i < dx.size(); ++i) dx.data()[i] *= 1.05f;
  auto loss = [&] { return weighted_sum(layer.forward(x), r); };
  EXPECT_NE(check_gradients(loss, {target_of("x", x, dx)}), "");
}

}  // namespace
}  // namespace attn::testing
