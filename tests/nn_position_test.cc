// Positional encodings: sinusoidal values and gradients.
#include <cmath>

#include "attn/nn/rope.h"
#include "attn/nn/sinusoidal_encoding.h"
#include "attn/nn/tensor_ops.h"
#include "gtest/gtest.h"
#include "nn_grad_check.h"
#include "test_util.h"

namespace attn::testing {
namespace {

TEST(SinusoidalEncoding, TableMatchesTheFormula) {
  const nn::SinusoidalEncoding enc(6, 10000.0);
  const Tensor pe = enc.table(0, 5);
  for (int64_t p = 0; p < 5; ++p) {
    for (int64_t i = 0; i < 3; ++i) {
      const double angle = p / std::pow(10000.0, 2.0 * i / 6.0);
      EXPECT_NEAR(pe.data()[p * 6 + 2 * i], std::sin(angle), 1e-6);
      EXPECT_NEAR(pe.data()[p * 6 + 2 * i + 1], std::cos(angle), 1e-6);
    }
  }
}

TEST(SinusoidalEncoding, StartShiftsThePositions) {
  const nn::SinusoidalEncoding enc(4);
  const Tensor all = enc.table(0, 5);
  EXPECT_EQ(nn::to_vector(enc.table(3, 2)), std::vector<float>(all.data() + 12, all.data() + 20));
}

TEST(SinusoidalEncoding, GradientMatchesFiniteDifferences) {
  const nn::SinusoidalEncoding enc(5);  // odd width: the last channel is a sine
  Tensor x = random_tensor({2, 3, 5}, 1);
  const std::vector<float> r = random_floats(x.size(), 2);
  const Tensor y = enc.forward(x, 1);
  EXPECT_NEAR(y.data()[5] - x.data()[5], std::sin(2.0), 1e-6);  // row t = 1 is position 2
  const Tensor dx = enc.backward(nn::tensor_from(x.shape(), r));
  auto loss = [&] { return weighted_sum(enc.forward(x, 1), r); };
  EXPECT_EQ(check_gradients(loss, {target_of("x", x, dx)}), "");
}

TEST(Rope, RotatesEachPairByItsAngle) {
  nn::Rope rope(4, 100.0);
  // One head, positions 2 and 3 (start = 2); pair 0 turns by p, pair 1 by p/10.
  const Tensor x = nn::tensor_from({1, 2, 1, 4}, {1, 0, 0, 1, 1, 2, 3, 4});
  const Tensor y = rope.forward(x, 2);
  EXPECT_NEAR(y.data()[0], std::cos(2.0), 1e-6);
  EXPECT_NEAR(y.data()[1], std::sin(2.0), 1e-6);
  EXPECT_NEAR(y.data()[2], -std::sin(0.2), 1e-6);
  EXPECT_NEAR(y.data()[3], std::cos(0.2), 1e-6);
  EXPECT_NEAR(y.data()[4], std::cos(3.0) - 2 * std::sin(3.0), 1e-6);
  EXPECT_NEAR(y.data()[7], 3 * std::sin(0.3) + 4 * std::cos(0.3), 1e-6);
}

TEST(Rope, DotProductDependsOnlyOnTheRelativePosition) {
  nn::Rope rope(8);
  const Tensor q = random_tensor({1, 1, 1, 8}, 1);
  const Tensor k = random_tensor({1, 1, 1, 8}, 2);
  auto dot_at = [&](int64_t pq, int64_t pk) {
    const Tensor a = rope.forward(q, pq), b = rope.forward(k, pk);
    double d = 0;
    for (int64_t i = 0; i < 8; ++i) d += a.data()[i] * b.data()[i];
    return d;
  };
  EXPECT_NEAR(dot_at(5, 2), dot_at(13, 10), 1e-5);
}

TEST(Rope, GradientMatchesFiniteDifferences) {
  nn::Rope rope(6);
  Tensor x = random_tensor({2, 4, 3, 6}, 1);
  const std::vector<float> r = random_floats(x.size(), 2);
  rope.forward(x, 1);
  const Tensor dx = rope.backward(nn::tensor_from(x.shape(), r));
  auto loss = [&] { return weighted_sum(rope.forward(x, 1), r); };
  EXPECT_EQ(check_gradients(loss, {target_of("x", x, dx)}), "");
}

TEST(Rope, RotateBackUndoesRotate) {
  const nn::Rope rope(4);
  const Tensor x = random_tensor({2, 3, 5, 4}, 3);  // read as [B, H, L, D]
  Tensor y = nn::clone(x);
  rope.rotate(y.data(), bhld_strides(3, 5, 4), 2, 3, 5, 7);
  rope.rotate_back(y.data(), bhld_strides(3, 5, 4), 2, 3, 5, 7);
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(y.data()[i], x.data()[i], 1e-6);
}

}  // namespace
}  // namespace attn::testing
