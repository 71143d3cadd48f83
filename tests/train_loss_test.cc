// CrossEntropyLoss: hand-computed values, ignored rows, fused softmax gradient.
#include <cmath>

#include "attn/core/error.h"
#include "attn/nn/tensor_ops.h"
#include "attn/train/cross_entropy.h"
#include "gtest/gtest.h"
#include "nn_grad_check.h"

namespace attn::testing {
namespace {

TEST(CrossEntropy, MatchesHandComputation) {
  train::CrossEntropyLoss ce;
  const Tensor logits = nn::tensor_from({2, 3}, {1, 2, 3, 1, 1, 1});
  const std::vector<int32_t> targets = {2, 0};
  // row 0: log(e + e² + e³) − 3;  row 1: (1 + log 3) − 1 = log 3
  const double expected = (std::log(std::exp(1) + std::exp(2) + std::exp(3)) - 3 + std::log(3)) / 2;
  EXPECT_NEAR(ce.forward(logits, targets), expected, 1e-6);
  EXPECT_EQ(ce.counted(), 2);
  // dlogits = (softmax − onehot) / 2; row 1: softmax = 1/3 each
  const Tensor d = ce.backward(logits);
  EXPECT_NEAR(d.data()[3], (1.0 / 3 - 1) / 2, 1e-6);
  EXPECT_NEAR(d.data()[4], (1.0 / 3) / 2, 1e-6);
  const double z = std::exp(1) + std::exp(2) + std::exp(3);
  EXPECT_NEAR(d.data()[2], (std::exp(3) / z - 1) / 2, 1e-6);
}

TEST(CrossEntropy, IgnoredRowsAddNothing) {
  train::CrossEntropyLoss ce(-1);
  const Tensor logits = nn::tensor_from({3, 2}, {0.5f, -1, 7, 3, 2, 2});
  const std::vector<int32_t> targets = {1, -1, 0};
  const float loss = ce.forward(logits, targets);
  EXPECT_EQ(ce.counted(), 2);
  const Tensor d = ce.backward(logits, 2.0f);
  EXPECT_EQ(d.data()[2], 0.0f);
  EXPECT_EQ(d.data()[3], 0.0f);
  train::CrossEntropyLoss without;
  const std::vector<int32_t> kept = {1, 0};
  EXPECT_FLOAT_EQ(loss, without.forward(nn::tensor_from({2, 2}, {0.5f, -1, 2, 2}), kept));
}

TEST(CrossEntropy, AllRowsIgnoredGivesZeroNotNaN) {
  train::CrossEntropyLoss ce;
  const Tensor logits = nn::tensor_from({1, 2}, {1, 2});
  const std::vector<int32_t> targets = {-100};
  EXPECT_EQ(ce.forward(logits, targets), 0.0f);
  EXPECT_EQ(nn::to_vector(ce.backward(logits)), (std::vector<float>{0, 0}));
}

TEST(CrossEntropy, GradientMatchesFiniteDifferences) {
  train::CrossEntropyLoss ce;
  Tensor logits = random_tensor({2, 3, 7}, 1, -3.0f, 3.0f);
  const std::vector<int32_t> targets = {0, 6, -100, 3, 3, 1};
  ce.forward(logits, targets);
  const float dloss = 1.7f;
  const Tensor d = ce.backward(logits, dloss);
  auto loss = [&] { return dloss * double(ce.forward(logits, targets)); };
  EXPECT_EQ(check_gradients(loss, {target_of("logits", logits, d)}), "");
  Tensor in_place = nn::clone(logits);
  ce.forward(in_place, targets);
  ce.backward_in_place(in_place, dloss);
  EXPECT_EQ(nn::to_vector(in_place), nn::to_vector(d));
}

TEST(CrossEntropy, LargeLogitsStayFinite) {
  train::CrossEntropyLoss ce;
  const Tensor logits = nn::tensor_from({1, 3}, {1000, 0, -1000});
  const std::vector<int32_t> targets = {1};
  EXPECT_NEAR(ce.forward(logits, targets), 1000.0f, 1e-3);
  const Tensor d = ce.backward(logits);
  EXPECT_NEAR(d.data()[0], 1.0f, 1e-6);
  EXPECT_NEAR(d.data()[1], -1.0f, 1e-6);
}

TEST(CrossEntropy, TargetOutOfRangeThrows) {
  train::CrossEntropyLoss ce;
  const std::vector<int32_t> targets = {3};
  EXPECT_THROW(ce.forward(Tensor({1, 3}), targets), Error);
}

}  // namespace
}  // namespace attn::testing
