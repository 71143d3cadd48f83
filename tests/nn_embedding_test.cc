// Embedding and the learned positional embedding: lookups, scatter-add gradients.
#include <omp.h>

#include <cmath>

#include "attn/core/error.h"
#include "attn/nn/embedding.h"
#include "attn/nn/learned_position.h"
#include "attn/nn/tensor_ops.h"
#include "gtest/gtest.h"
#include "nn_grad_check.h"
#include "test_util.h"

namespace attn::testing {
namespace {

TEST(Embedding, ForwardCopiesTheTokensRows) {
  nn::Embedding emb(5, 3, 1);
  const std::vector<int32_t> tokens = {4, 0, 4};
  const Tensor y = emb.forward(tokens, 1, 3);
  ASSERT_EQ(y.shape(), (std::vector<int64_t>{1, 3, 3}));
  for (int64_t n = 0; n < 3; ++n) {
    for (int64_t c = 0; c < 3; ++c) {
      EXPECT_EQ(y.data()[n * 3 + c], emb.weight().data()[tokens[n] * 3 + c]);
    }
  }
}

TEST(Embedding, TableGradientMatchesFiniteDifferences) {
  nn::Embedding emb(6, 4, 2);
  randomize_parameters(emb.parameters(), 3);
  const std::vector<int32_t> tokens = {1, 5, 1, 0, 3, 1};  // 1 repeats: gradients must add up
  const std::vector<float> r = random_floats(tokens.size() * 4, 4);
  emb.forward(tokens, 2, 3);
  emb.backward(nn::tensor_from({2, 3, 4}, r));
  auto loss = [&] { return weighted_sum(emb.forward(tokens, 2, 3), r); };
  GradCheckOptions o;
  o.max_samples = 24;  // the whole table
  EXPECT_EQ(check_gradients(loss, targets_of(emb.parameters()), o), "");
  // Rows of unused tokens get no gradient.
  for (int64_t c = 0; c < 4; ++c) EXPECT_EQ(emb.weight_grad().data()[2 * 4 + c], 0.0f);
}

TEST(Embedding, ScatterAddIsTheSameForAnyThreadCount) {
  const int64_t vocab = 7, dim = 200, n = 3000;
  std::vector<int32_t> tokens(n);
  for (int64_t i = 0; i < n; ++i) tokens[i] = static_cast<int32_t>((i * i) % vocab);
  const Tensor dy = random_tensor({1, n, dim}, 5);
  std::vector<std::vector<float>> grads;
  const int saved = omp_get_max_threads();
  for (int threads : {1, 2, 3}) {
    omp_set_num_threads(threads);
    nn::Embedding emb(vocab, dim, 1);
    emb.forward(tokens, 1, n);
    emb.backward(dy);
    grads.push_back(nn::to_vector(emb.weight_grad()));
  }
  omp_set_num_threads(saved);
  EXPECT_EQ(grads[0], grads[1]);
  EXPECT_EQ(grads[0], grads[2]);
}

TEST(Embedding, TokenOutOfRangeThrows) {
  nn::Embedding emb(5, 3, 1);
  const std::vector<int32_t> tokens = {0, 5};
  EXPECT_THROW(emb.forward(tokens, 1, 2), Error);
}

TEST(LearnedPositionalEmbedding, GradientsMatchFiniteDifferences) {
  nn::LearnedPositionalEmbedding pos(8, 5, 1);
  randomize_parameters(pos.parameters(), 2);
  Tensor x = random_tensor({2, 4, 5}, 3);
  const std::vector<float> r = random_floats(x.size(), 4);
  pos.forward(x, /*start=*/3);
  const Tensor dx = pos.backward(nn::tensor_from(x.shape(), r));
  std::vector<GradTarget> targets = targets_of(pos.parameters());
  targets.push_back(target_of("x", x, dx));
  auto loss = [&] { return weighted_sum(pos.forward(x, 3), r); };
  GradCheckOptions o;
  o.max_samples = 40;
  o.min_scale = 0;  // rows 0..2 and 7 of the table are unused and must stay exactly 0
  EXPECT_EQ(check_gradients(loss, targets, o), "");
  for (int64_t c = 0; c < 5; ++c) EXPECT_EQ(pos.parameters()[0].grad[c], 0.0f);
  EXPECT_NE(pos.parameters()[0].grad[3 * 5], 0.0f);
}

TEST(LearnedPositionalEmbedding, PositionsBeyondMaxLenThrow) {
  nn::LearnedPositionalEmbedding pos(4, 2, 1);
  EXPECT_THROW(pos.forward(Tensor({1, 3, 2}), 2), Error);
}

}  // namespace
}  // namespace attn::testing
