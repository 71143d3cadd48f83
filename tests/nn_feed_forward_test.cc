// Activations and FeedForward (GELU and SwiGLU): values and gradients.
#include <cmath>
#include <limits>

#include "attn/core/simd_target.h"
#include "attn/kernels/gelu.h"
#include "attn/nn/activations.h"
#include "attn/nn/feed_forward.h"
#include "attn/nn/tensor_ops.h"
#include "gtest/gtest.h"
#include "nn_grad_check.h"
#include "test_util.h"

namespace attn::testing {
namespace {

TEST(Activations, GeluMatchesKnownValues) {
  EXPECT_EQ(nn::gelu(0.0f), 0.0f);
  EXPECT_NEAR(nn::gelu(1.0f), 0.8411920, 1e-6);
  EXPECT_NEAR(nn::gelu(-1.0f), -0.1588080, 1e-6);
  EXPECT_NEAR(nn::gelu(3.0f), 2.9963627, 1e-6);
}

TEST(Activations, TanhViaExpMatchesTanhAndSaturates) {
  for (float u = -10.0f; u <= 10.0f; u += 0.01f)
    EXPECT_NEAR(nn::tanh_via_exp(u), std::tanh(u), 3e-7);
  EXPECT_EQ(nn::tanh_via_exp(100.0f), 1.0f);
  EXPECT_EQ(nn::tanh_via_exp(-100.0f), -1.0f);
  EXPECT_EQ(nn::gelu(-100.0f), 0.0f);
  EXPECT_EQ(nn::gelu(100.0f), 100.0f);
}

// The vector kernels against the scalar twins, on every SIMD target, over [−12, 12] (both
// saturated ends), +inf, and a length that leaves a vector tail.
TEST(Activations, GeluKernelsMatchScalarTwinsOnEveryTarget) {
  std::vector<float> x = random_floats(1003, 21, -12.0f, 12.0f);
  x.push_back(std::numeric_limits<float>::infinity());
  const int64_t n = static_cast<int64_t>(x.size());
  const std::vector<float> dy = random_floats(x.size(), 22);
  for (const std::string& target : supported_simd_targets()) {
    force_simd_target(target);
    std::vector<float> y(x.size()), dx(x.size());
    gelu_forward(x.data(), y.data(), n);
    gelu_backward(x.data(), dy.data(), dx.data(), n);
    for (size_t i = 0; i + 1 < x.size(); ++i) {
      const float scale = std::max(1.0f, std::fabs(x[i]));
      EXPECT_NEAR(y[i], nn::gelu(x[i]), 2e-6f * scale) << target << " " << x[i];
      EXPECT_NEAR(dx[i], dy[i] * nn::gelu_derivative(x[i]), 1e-5) << target << " " << x[i];
    }
    EXPECT_EQ(y[n - 1], std::numeric_limits<float>::infinity()) << target;
  }
  force_simd_target("");
}

TEST(Activations, SiluMatchesKnownValues) {
  EXPECT_EQ(nn::silu(0.0f), 0.0f);
  EXPECT_NEAR(nn::silu(1.0f), 0.7310586, 1e-6);
  EXPECT_NEAR(nn::silu(-2.0f), -0.2384058, 1e-6);
}

TEST(Activations, DerivativesMatchFiniteDifferences) {
  for (float x = -4.0f; x <= 4.0f; x += 0.37f) {
    const float h = 1e-3f;
    EXPECT_NEAR(nn::gelu_derivative(x), (nn::gelu(x + h) - nn::gelu(x - h)) / (2 * h), 2e-3) << x;
    EXPECT_NEAR(nn::silu_derivative(x), (nn::silu(x + h) - nn::silu(x - h)) / (2 * h), 2e-3) << x;
  }
}

void check_feed_forward(nn::Activation activation, bool bias) {
  nn::FeedForwardConfig c;
  c.dim = 6;
  c.hidden = 10;
  c.activation = activation;
  c.bias = bias;
  c.seed = 4;
  nn::FeedForward ffn(c);
  randomize_parameters(ffn.parameters(), 5);
  Tensor x = random_tensor({2, 3, 6}, 6, -2.0f, 2.0f);
  const std::vector<float> r = random_floats(x.size(), 7);
  ffn.forward(x);
  const Tensor dx = ffn.backward(nn::tensor_from(x.shape(), r));
  std::vector<GradTarget> targets = targets_of(ffn.parameters());
  targets.push_back(target_of("x", x, dx));
  auto loss = [&] { return weighted_sum(ffn.forward(x), r); };
  EXPECT_EQ(check_gradients(loss, targets), "");
}

TEST(FeedForward, GeluGradientsMatchFiniteDifferences) {
  check_feed_forward(nn::Activation::kGelu, true);
}

TEST(FeedForward, SwiGluGradientsMatchFiniteDifferences) {
  check_feed_forward(nn::Activation::kSwiGLU, false);
}

TEST(FeedForward, SwiGluWithBiasGradientsMatchFiniteDifferences) {
  check_feed_forward(nn::Activation::kSwiGLU, true);
}

TEST(FeedForward, SwiGluComputesW2OfSiluTimesGate) {
  nn::FeedForwardConfig c;
  c.dim = 1;
  c.hidden = 1;
  c.activation = nn::Activation::kSwiGLU;
  c.bias = false;
  nn::FeedForward ffn(c);
  const std::vector<nn::Parameter> p = ffn.parameters();
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[2].name, "w3.weight");
  p[0].value[0] = 2.0f;   // W1
  p[1].value[0] = -1.5f;  // W2
  p[2].value[0] = 0.5f;   // W3
  const Tensor y = ffn.forward(nn::tensor_from({1, 1}, {0.8f}));
  EXPECT_NEAR(y.data()[0], -1.5 * nn::silu(1.6f) * 0.4, 1e-6);
}

}  // namespace
}  // namespace attn::testing
