// DecoderBlock: gradients of every parameter, of x and of the memory (with key padding and
// dropout), and the cached generation path against the full forward.
#include <cmath>

#include "attn/core/error.h"
#include "attn/infer/cached_attention.h"
#include "attn/infer/kv_cache.h"
#include "attn/nn/decoder_block.h"
#include "attn/nn/tensor_ops.h"
#include "gtest/gtest.h"
#include "nn_grad_check.h"
#include "test_util.h"

namespace attn::testing {
namespace {

struct DecoderCase {
  const char* name;
  float dropout;
  std::vector<int64_t> memory_lengths;
};

void PrintTo(const DecoderCase& c, std::ostream* os) { *os << c.name; }

nn::DecoderBlockConfig small_config(float dropout) {
  nn::DecoderBlockConfig c;
  c.d_model = 8, c.n_heads = 2, c.memory_dim = 6, c.d_ff = 12, c.dropout = dropout, c.seed = 7;
  return c;
}

class DecoderGradients : public ::testing::TestWithParam<DecoderCase> {};

TEST_P(DecoderGradients, MatchFiniteDifferences) {
  const DecoderCase& dc = GetParam();
  nn::DecoderBlock block(small_config(dc.dropout));
  randomize_parameters(block.parameters(), 31);
  Tensor x = random_tensor({2, 5, 8}, 32);
  Tensor memory = random_tensor({2, 7, 6}, 33);
  nn::DecoderInputs inputs;
  inputs.memory = &memory;
  inputs.memory_lengths = dc.memory_lengths;
  inputs.training = dc.dropout > 0;
  inputs.step = 4;
  const std::vector<float> r = random_floats(x.size(), 34);
  block.forward(x, inputs);
  Tensor dmemory;
  const Tensor dx = block.backward(nn::tensor_from(x.shape(), r), &dmemory);
  std::vector<GradTarget> targets = targets_of(block.parameters());
  for (GradTarget& t : targets) {
    // The key biases shift every score of a row equally: the softmax cancels them.
    t.expect_zero = t.name == "self_attn.wk.bias" || t.name == "cross_attn.wk.bias";
  }
  targets.push_back(target_of("x", x, dx));
  targets.push_back(target_of("memory", memory, dmemory));
  auto loss = [&] { return weighted_sum(block.forward(x, inputs), r); };
  EXPECT_EQ(check_gradients(loss, targets), "");
}

INSTANTIATE_TEST_SUITE_P(Configs, DecoderGradients,
                         ::testing::Values(DecoderCase{"full_memory", 0.0f, {}},
                                           DecoderCase{"padded_memory_dropout", 0.25f, {7, 4}}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(DecoderBlock, PaddedMemoryRowsGetNoGradientAndNoInfluence) {
  nn::DecoderBlock block(small_config(0.0f));
  randomize_parameters(block.parameters(), 41);
  const Tensor x = random_tensor({1, 3, 8}, 42);
  Tensor memory = random_tensor({1, 6, 6}, 43);
  const std::vector<int64_t> lengths = {4};
  nn::DecoderInputs inputs{&memory, lengths};
  const std::vector<float> y = nn::to_vector(block.forward(x, inputs));
  Tensor dmemory;
  block.backward(random_tensor({1, 3, 8}, 44), &dmemory);
  for (int64_t i = 4 * 6; i < 6 * 6; ++i) EXPECT_EQ(dmemory.data()[i], 0.0f) << i;
  for (int64_t i = 4 * 6; i < 6 * 6; ++i) memory.data()[i] = 100.0f;  // change the padding
  EXPECT_EQ(nn::to_vector(block.forward(x, inputs)), y);
}

TEST(DecoderBlock, CachedStepsMatchTheFullForward) {
  nn::DecoderBlock block(small_config(0.0f));
  randomize_parameters(block.parameters(), 51);
  const int64_t batch = 2, len = 5;
  const Tensor x = random_tensor({batch, len, 8}, 52);
  const Tensor memory = random_tensor({batch, 7, 6}, 53);
  const std::vector<int64_t> lengths = {7, 3};
  const Tensor full = block.forward(x, {&memory, lengths});
  KvCacheConfig c;
  c.batch = batch, c.kv_heads = 2, c.head_dim = c.v_head_dim = 4, c.capacity = 8;
  KvCache self_cache(c), memory_cache(c);
  infer::append_memory(block.cross_attention(), memory, lengths, memory_cache);
  for (int64_t t = 0; t < len; ++t) {
    Tensor xt({batch, 1, 8});
    for (int64_t b = 0; b < batch; ++b) {
      std::copy_n(x.data() + (b * len + t) * 8, 8, xt.data() + b * 8);
    }
    const Tensor yt = infer::decoder_forward_cached(block, xt, self_cache, memory_cache);
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t i = 0; i < 8; ++i) {
        EXPECT_NEAR(yt.data()[b * 8 + i], full.data()[(b * len + t) * 8 + i], 1e-5)
            << "b " << b << " t " << t;
      }
    }
  }
}

TEST(DecoderBlock, MissingMemoryThrows) {
  nn::DecoderBlock block(small_config(0.0f));
  EXPECT_THROW(block.forward(random_tensor({1, 2, 8}, 1), {}), Error);
}

}  // namespace
}  // namespace attn::testing
