// The llama2.c loader on the shipped stories260K checkpoint and on damaged copies of it.
#include "attn/io/llama2c.h"

#include <cstring>
#include <fstream>
#include <iterator>

#include "attn/core/error.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace attn::testing {
namespace {

const std::string kModel = std::string(ATTN_DATA_DIR) + "/models/stories260K.bin";

std::vector<uint8_t> model_bytes() {
  std::ifstream in(kModel, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Writes `bytes` to a file and returns the loader's error message ("" if it loaded).
std::string load_error(const std::vector<uint8_t>& bytes, const std::string& name) {
  const std::string path = temp_dir(name) + "/model.bin";
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  try {
    read_llama2c(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Llama2c, LoadsStories260K) {
  const Llama2cCheckpoint ckpt = read_llama2c(kModel);
  const LlamaConfig& c = ckpt.config;
  EXPECT_EQ(c.dim, 64);
  EXPECT_EQ(c.hidden_dim, 172);
  EXPECT_EQ(c.n_layers, 5);
  EXPECT_EQ(c.n_heads, 8);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.seq_len, 512);
  EXPECT_TRUE(c.shared_classifier);
  ASSERT_EQ(ckpt.weights.layers.size(), 5u);
  EXPECT_EQ(ckpt.weights.layers[4].wk.size(), 32u * 64u);
  EXPECT_EQ(ckpt.weights.rms_final.size(), 64u);
  EXPECT_TRUE(ckpt.weights.wcls.empty());
}

TEST(Llama2c, TruncatedCheckpointIsAnError) {
  std::vector<uint8_t> bytes = model_bytes();
  bytes.resize(bytes.size() / 2);
  EXPECT_NE(load_error(bytes, "l2c_trunc").find("truncated"), std::string::npos);
  bytes.resize(10);
  EXPECT_NE(load_error(bytes, "l2c_tiny").find("not a llama2.c checkpoint"), std::string::npos);
}

TEST(Llama2c, SizesThatDoNotAddUpAreAnError) {
  std::vector<uint8_t> bytes = model_bytes();
  bytes.push_back(0);
  EXPECT_NE(load_error(bytes, "l2c_long").find("do not add up"), std::string::npos);
}

TEST(Llama2c, HeadsNotAMultipleOfKvHeadsIsAnError) {
  std::vector<uint8_t> bytes = model_bytes();
  const int32_t kv_heads = 3;
  std::memcpy(bytes.data() + 4 * sizeof(int32_t), &kv_heads, sizeof kv_heads);
  EXPECT_NE(load_error(bytes, "l2c_heads").find("not a multiple of n_kv_heads"), std::string::npos);
}

TEST(Llama2c, MissingFileIsAnError) { EXPECT_THROW(read_llama2c("/nonexistent/model.bin"), Error); }

}  // namespace
}  // namespace attn::testing
