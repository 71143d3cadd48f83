// Positional encodings: sinusoidal values and gradients.
#include <cmath>

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

}  // namespace
}  // namespace attn::testing
