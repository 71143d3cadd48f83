// The Llama model on the real stories260K checkpoint against llama2.c's own outputs.
#include "attn/model/llama.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "attn/core/error.h"
#include "attn/io/npy.h"
#include "gtest/gtest.h"

namespace attn::testing {
namespace {

const std::string kModels = std::string(ATTN_DATA_DIR) + "/models/";

std::vector<int32_t> reference_ids() {
  std::ifstream in(kModels + "stories260K.reference.json");
  const nlohmann::json j = nlohmann::json::parse(in);
  return j["greedy_token_ids"].get<std::vector<int32_t>>();
}

TEST(Llama, GreedyDecodingReproducesLlama2c) {
  auto model = model::Llama::load(kModels + "stories260K.bin");
  auto caches = model->make_caches();
  const std::vector<int32_t> want = reference_ids();
  int32_t token = 1;
  std::vector<int32_t> got;
  for (size_t n = 0; n < want.size(); ++n) {
    const Tensor logits = model->forward_cached(std::span<const int32_t>(&token, 1), caches);
    token = static_cast<int32_t>(std::max_element(logits.data(), logits.data() + logits.size()) -
                                 logits.data());
    got.push_back(token);
  }
  EXPECT_EQ(got, want);
}

TEST(Llama, LogitsMatchLlama2cToOneInTenThousand) {
  auto model = model::Llama::load(kModels + "stories260K.bin");
  const NpyArray ref = read_npy(kModels + "stories260K.bos_logits.npy");
  ASSERT_EQ(ref.shape, (std::vector<int64_t>{8, 512}));
  const std::vector<float> want = ref.to_float32();
  std::vector<int32_t> tokens = {1};
  const std::vector<int32_t> path = reference_ids();
  tokens.insert(tokens.end(), path.begin(), path.begin() + 7);
  // Token by token with the KV cache, and all at once: both must match.
  auto caches = model->make_caches();
  const Tensor full = model->forward(tokens, 1, 8);
  for (int64_t t = 0; t < 8; ++t) {
    const Tensor step = model->forward_cached(std::span<const int32_t>(&tokens[t], 1), caches);
    for (int64_t v = 0; v < 512; ++v) {
      ASSERT_NEAR(step.data()[v], want[t * 512 + v], 1e-4) << t << " " << v;
      ASSERT_NEAR(full.data()[t * 512 + v], want[t * 512 + v], 1e-4) << t << " " << v;
    }
  }
}

TEST(Llama, TokenOutsideVocabularyIsAnError) {
  auto model = model::Llama::load(kModels + "stories260K.bin");
  auto caches = model->make_caches();
  const int32_t bad = 512;
  EXPECT_THROW(model->forward_cached(std::span<const int32_t>(&bad, 1), caches), Error);
}

TEST(Llama, PromptLongerThanContextIsAnError) {
  auto model = model::Llama::load(kModels + "stories260K.bin");
  const std::vector<int32_t> tokens(513, 1);
  EXPECT_THROW(model->forward(tokens, 1, 513), Error);
}

}  // namespace
}  // namespace attn::testing
