// LayerNorm, RMSNorm and the Norm wrapper: normalised outputs, gradients.
#include <cmath>

#include "attn/nn/layer_norm.h"
#include "attn/nn/norm.h"
#include "attn/nn/rms_norm.h"
#include "attn/nn/tensor_ops.h"
#include "gtest/gtest.h"
#include "nn_grad_check.h"
#include "test_util.h"

namespace attn::testing {
namespace {

TEST(LayerNorm, RowsHaveZeroMeanAndUnitVariance) {
  nn::LayerNorm norm(16);
  const Tensor x = random_tensor({3, 16}, 1, -3.0f, 5.0f);
  const Tensor y = norm.forward(x);
  for (int64_t r = 0; r < 3; ++r) {
    double mean = 0, var = 0;
    for (int64_t c = 0; c < 16; ++c) mean += y.data()[r * 16 + c] / 16.0;
    for (int64_t c = 0; c < 16; ++c) var += std::pow(y.data()[r * 16 + c] - mean, 2) / 16.0;
    EXPECT_NEAR(mean, 0.0, 1e-6);
    EXPECT_NEAR(var, 1.0, 1e-3);  // eps shifts it slightly
  }
}

template <typename Layer>
void check_norm_gradients(Layer& norm) {
  randomize_parameters(norm.parameters(), 7, 0.5f, 1.5f);
  Tensor x = random_tensor({2, 3, 8}, 8, -2.0f, 2.0f);
  const std::vector<float> r = random_floats(x.size(), 9);
  norm.forward(x);
  const Tensor dx = norm.backward(nn::tensor_from(x.shape(), r));
  std::vector<GradTarget> targets = targets_of(norm.parameters());
  targets.push_back(target_of("x", x, dx));
  auto loss = [&] { return weighted_sum(norm.forward(x), r); };
  EXPECT_EQ(check_gradients(loss, targets), "");
}

TEST(LayerNorm, GradientsMatchFiniteDifferences) {
  nn::LayerNorm norm(8);
  check_norm_gradients(norm);
}

TEST(LayerNorm, GradientsMatchFiniteDifferencesWithoutBias) {
  nn::LayerNorm norm(8, 1e-5f, /*bias=*/false);
  ASSERT_EQ(norm.parameters().size(), 1u);
  check_norm_gradients(norm);
}

TEST(RMSNorm, RowsHaveUnitRootMeanSquare) {
  nn::RMSNorm norm(16, 1e-6f);
  const Tensor y = norm.forward(random_tensor({3, 16}, 1, -3.0f, 5.0f));
  for (int64_t r = 0; r < 3; ++r) {
    double sq = 0;
    for (int64_t c = 0; c < 16; ++c) sq += std::pow(y.data()[r * 16 + c], 2) / 16.0;
    EXPECT_NEAR(sq, 1.0, 1e-5);
  }
}

TEST(RMSNorm, GradientsMatchFiniteDifferences) {
  nn::RMSNorm norm(8);
  check_norm_gradients(norm);
}

TEST(RMSNorm, EpsilonEntersTheDenominator) {
  nn::RMSNorm norm(2, 0.5f);
  const Tensor y = norm.forward(nn::tensor_from({1, 2}, {1.0f, 1.0f}));
  EXPECT_NEAR(y.data()[0], 1.0 / std::sqrt(1.5), 1e-6);  // 1/√(mean(x²) + eps)
}

TEST(Norm, WrapsTheChosenKind) {
  nn::Norm layer(nn::NormKind::kLayerNorm, 8);
  nn::Norm rms(nn::NormKind::kRMSNorm, 8);
  EXPECT_EQ(layer.kind(), nn::NormKind::kLayerNorm);
  EXPECT_EQ(rms.kind(), nn::NormKind::kRMSNorm);
  EXPECT_EQ(layer.parameters().size(), 2u);
  EXPECT_EQ(rms.parameters().size(), 1u);
  check_norm_gradients(rms);
}

}  // namespace
}  // namespace attn::testing
