// AttentionPooling and MeanPooling: gradients against finite differences, weights that ignore
// padding, and the Classifier built on them, end to end.
#include <numeric>

#include "attn/core/error.h"
#include "attn/model/classifier.h"
#include "attn/nn/attention_pooling.h"
#include "attn/nn/mean_pooling.h"
#include "attn/nn/tensor_ops.h"
#include "gtest/gtest.h"
#include "nn_grad_check.h"
#include "test_util.h"

namespace attn::testing {
namespace {

const std::vector<int64_t> kLengths = {3, 5};  // the first row of x [2, 5, 6] is padded

TEST(AttentionPooling, GradientsMatchFiniteDifferences) {
  nn::AttentionPooling pool(6, 4, 7);
  randomize_parameters(pool.parameters(), 8, -1.0f, 1.0f);
  Tensor x = random_tensor({2, 5, 6}, 9);
  const std::vector<float> r = random_floats(2 * 6, 10);
  pool.forward(x, kLengths);
  const Tensor dx = pool.backward(nn::tensor_from({2, 6}, r));
  std::vector<GradTarget> targets = targets_of(pool.parameters());
  targets.push_back(target_of("x", x, dx));
  auto loss = [&] { return weighted_sum(pool.forward(x, kLengths), r); };
  EXPECT_EQ(check_gradients(loss, targets), "");
}

TEST(AttentionPooling, PaddingGetsNoWeightAndNoGradient) {
  nn::AttentionPooling pool(6, 4, 7);
  randomize_parameters(pool.parameters(), 8, -1.0f, 1.0f);
  Tensor x = random_tensor({2, 5, 6}, 9);
  const std::vector<float> y = nn::to_vector(pool.forward(x, kLengths));
  const Tensor dx = pool.backward(nn::tensor_from({2, 6}, random_floats(12, 10)));
  const float* w = pool.weights().data();
  EXPECT_NEAR(w[0] + w[1] + w[2], 1.0f, 1e-6f);
  EXPECT_NEAR(std::accumulate(w + 5, w + 10, 0.0f), 1.0f, 1e-6f);
  for (int64_t t = 3; t < 5; ++t) {
    EXPECT_EQ(w[t], 0.0f);
    for (int64_t c = 0; c < 6; ++c) EXPECT_EQ(dx.data()[t * 6 + c], 0.0f);
  }
  for (size_t i = 3 * 6; i < 5 * 6; ++i) x.data()[i] = 1e6f;  // junk in the padding
  EXPECT_EQ(nn::to_vector(pool.forward(x, kLengths)), y);
}

TEST(AttentionPooling, RejectsLengthsOutsideTheSequence) {
  nn::AttentionPooling pool(6, 4, 7);
  const Tensor x = random_tensor({2, 5, 6}, 9);
  const std::vector<int64_t> zero = {0, 5}, too_long = {6, 5}, one = {5};
  EXPECT_THROW(pool.forward(x, zero), Error);
  EXPECT_THROW(pool.forward(x, too_long), Error);
  EXPECT_THROW(pool.forward(x, one), Error);
}

TEST(MeanPooling, GradientsMatchFiniteDifferencesAndWeightsAreOneOverN) {
  nn::MeanPooling pool;
  Tensor x = random_tensor({2, 5, 6}, 9);
  const std::vector<float> r = random_floats(2 * 6, 10);
  pool.forward(x, kLengths);
  const Tensor dx = pool.backward(nn::tensor_from({2, 6}, r));
  EXPECT_EQ(pool.weights().data()[0], 1.0f / 3.0f);
  EXPECT_EQ(pool.weights().data()[4], 0.0f);
  EXPECT_EQ(pool.weights().data()[9], 1.0f / 5.0f);
  auto loss = [&] { return weighted_sum(pool.forward(x, kLengths), r); };
  EXPECT_EQ(check_gradients(loss, {target_of("x", x, dx)}), "");
}

class ClassifierGradients : public ::testing::TestWithParam<model::Pooling> {};

TEST_P(ClassifierGradients, MatchFiniteDifferences) {
  model::ClassifierConfig c;
  c.vocab_size = 7, c.max_len = 6, c.d_model = 8, c.n_heads = 2, c.d_ff = 12, c.pool_dim = 4;
  c.n_layers = 1, c.dropout = 0.2f, c.pooling = GetParam();
  model::Classifier model(c, 3);
  randomize_parameters(model.parameters(), 4);
  const std::vector<int32_t> tokens = {2, 5, 6, 0, 0, 3, 1, 4, 4, 2};  // [2, 5]
  const std::vector<float> r = random_floats(2 * 2, 5);
  model.forward(tokens, kLengths, 2, 5, /*training=*/true, /*step=*/3);
  model.backward(nn::tensor_from({2, 2}, r));
  auto loss = [&] { return weighted_sum(model.forward(tokens, kLengths, 2, 5, true, 3), r); };
  GradCheckOptions options;
  options.max_samples = 8;  // the block's own gradients are checked in nn_block_test
  options.min_scale = 1e-4;
  EXPECT_EQ(check_gradients(loss, targets_of(model.parameters()), options), "");
}

INSTANTIATE_TEST_SUITE_P(Poolings, ClassifierGradients,
                         ::testing::Values(model::Pooling::kAttention, model::Pooling::kMean),
                         [](const auto& info) { return model::pooling_name(info.param); });

TEST(Classifier, PaddingTokensDoNotChangeTheLogits) {
  model::ClassifierConfig c;
  c.vocab_size = 7, c.max_len = 6, c.d_model = 8, c.n_heads = 2;
  model::Classifier model(c, 3);
  randomize_parameters(model.parameters(), 4);
  const std::vector<int32_t> sentence = {2, 5, 6}, batch = {2, 5, 6, 4, 4, 3, 1, 4, 4, 2};
  const std::vector<int64_t> one = {3};
  const std::vector<float> alone = nn::to_vector(model.forward(sentence, one, 1, 3, false));
  const std::vector<float> padded = nn::to_vector(model.forward(batch, kLengths, 2, 5, false));
  for (size_t k = 0; k < 2; ++k) EXPECT_NEAR(padded[k], alone[k], 1e-5f);
}

TEST(Classifier, BlockAttentionWeightsOfTheLastForwardCoverTheRealTokens) {
  model::ClassifierConfig c;
  c.vocab_size = 7, c.max_len = 6, c.d_model = 8, c.n_heads = 2, c.n_layers = 2;
  model::Classifier model(c, 3);
  const std::vector<int32_t> sentence = {2, 5, 6};
  const std::vector<int64_t> one = {3};
  model.forward(sentence, one, 1, 3, /*training=*/false);
  for (int64_t l = 0; l < 2; ++l) {
    const Tensor w = model.attention_weights(l, /*average_heads=*/false);
    ASSERT_EQ(w.shape(), (std::vector<int64_t>{1, 2, 3, 3}));
    for (int64_t row = 0; row < 2 * 3; ++row) {
      const float* x = w.data() + row * 3;
      EXPECT_NEAR(x[0] + x[1] + x[2], 1.0f, 1e-5f) << "layer " << l << " row " << row;
    }
  }
  EXPECT_THROW(model.attention_weights(2, false), Error);
}

}  // namespace
}  // namespace attn::testing
