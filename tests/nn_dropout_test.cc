// Dropout: reproducible masks, the same mask in backward, inverted scaling; residual add.
#include <omp.h>

#include "attn/core/error.h"
#include "attn/nn/dropout.h"
#include "attn/nn/residual.h"
#include "attn/nn/tensor_ops.h"
#include "gtest/gtest.h"
#include "nn_grad_check.h"
#include "test_util.h"

namespace attn::testing {
namespace {

TEST(Dropout, MaskIsReproducibleFromSeedAndStep) {
  const Tensor x = random_tensor({4, 100}, 1);
  nn::Dropout a(0.3f, 42), b(0.3f, 42), other_seed(0.3f, 43);
  const std::vector<float> ya = nn::to_vector(a.forward(x, 7));
  EXPECT_EQ(ya, nn::to_vector(b.forward(x, 7)));
  EXPECT_NE(ya, nn::to_vector(b.forward(x, 8)));
  EXPECT_NE(ya, nn::to_vector(other_seed.forward(x, 7)));
}

TEST(Dropout, MaskIsTheSameForAnyThreadCount) {
  const Tensor x = random_tensor({300, 300}, 1);
  nn::Dropout drop(0.5f, 3);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const std::vector<float> one = nn::to_vector(drop.forward(x, 2));
  omp_set_num_threads(2);
  const std::vector<float> two = nn::to_vector(drop.forward(x, 2));
  omp_set_num_threads(saved);
  EXPECT_EQ(one, two);
}

TEST(Dropout, KeepsAboutOneMinusPAndScalesTheKept) {
  const float p = 0.25f;
  nn::Dropout drop(p, 9);
  const Tensor x = random_tensor({100, 100}, 2, 1.0f, 2.0f);  // never 0
  const Tensor y = drop.forward(x, 0);
  int64_t kept = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (y.data()[i] == 0.0f) continue;
    ++kept;
    EXPECT_FLOAT_EQ(y.data()[i], x.data()[i] / (1 - p));
    EXPECT_TRUE(drop.keeps(0, i));
  }
  EXPECT_NEAR(kept / 10000.0, 1 - p, 0.02);
}

TEST(Dropout, BackwardRegeneratesTheForwardMask) {
  nn::Dropout drop(0.4f, 5);
  const Tensor x = random_tensor({50, 20}, 3, 1.0f, 2.0f);
  const Tensor y = drop.forward(x, 11);
  drop.forward(x, 12, /*training=*/false);  // an evaluation pass in between
  drop.forward(x, 11);
  const Tensor dx = drop.backward(random_tensor({50, 20}, 4, 1.0f, 2.0f));
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(y.data()[i] == 0.0f, dx.data()[i] == 0.0f);
}

TEST(Dropout, GradientMatchesFiniteDifferences) {
  nn::Dropout drop(0.5f, 8);
  Tensor x = random_tensor({3, 16}, 1);
  const std::vector<float> r = random_floats(x.size(), 2);
  drop.forward(x, 4);
  const Tensor dx = drop.backward(nn::tensor_from(x.shape(), r));
  auto loss = [&] { return weighted_sum(drop.forward(x, 4), r); };
  EXPECT_EQ(check_gradients(loss, {target_of("x", x, dx)}), "");
}

TEST(Dropout, EvaluationIsTheIdentity) {
  nn::Dropout drop(0.9f, 1);
  const Tensor x = random_tensor({4, 8}, 1);
  EXPECT_EQ(nn::to_vector(drop.forward(x, 3, /*training=*/false)), nn::to_vector(x));
  EXPECT_EQ(nn::to_vector(drop.backward(x)), nn::to_vector(x));
}

TEST(Dropout, ProbabilityOutsideRangeThrows) {
  EXPECT_THROW(nn::Dropout(1.0f, 1), Error);
  EXPECT_THROW(nn::Dropout(-0.1f, 1), Error);
}

TEST(Residual, GradientsMatchFiniteDifferences) {
  Tensor x = random_tensor({2, 3, 4}, 1);
  Tensor branch = random_tensor({2, 3, 4}, 2);
  const std::vector<float> r = random_floats(x.size(), 3);
  const nn::ResidualGrads g = nn::residual_backward(nn::tensor_from(x.shape(), r));
  auto loss = [&] { return weighted_sum(nn::residual_forward(x, branch), r); };
  EXPECT_EQ(
      check_gradients(loss, {target_of("x", x, g.dx), target_of("branch", branch, g.dbranch)}), "");
}

TEST(Residual, MismatchedShapesThrow) {
  EXPECT_THROW(nn::residual_forward(Tensor({2, 3}), Tensor({3, 2})), Error);
}

}  // namespace
}  // namespace attn::testing
