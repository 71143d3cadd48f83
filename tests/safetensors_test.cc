// Checkpoints: round trip, atomic replacement, and every kind of damaged file.
#include "attn/io/safetensors.h"

#include <filesystem>
#include <fstream>

#include "attn/core/error.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace attn::testing {
namespace {

namespace fs = std::filesystem;

std::vector<uint8_t> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string expect_error(const std::vector<uint8_t>& bytes) {
  try {
    SafetensorsFile::parse(bytes, "ckpt");
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

struct Saved {
  std::vector<float> a = {1, 2, 3, 4, 5, 6};
  std::vector<float> b = {-1.5f};
  std::string path;
  explicit Saved(const std::string& dir) : path(dir + "/model.safetensors") {
    write_safetensors(path, {{"layer.a", {2, 3}, a.data()}, {"b", {1}, b.data()}},
                      {{"config", "{\"dim\": 3}"}, {"step", "7"}});
  }
};

TEST(Safetensors, RoundTripKeepsTensorsAndMetadata) {
  Saved s(temp_dir("st_round"));
  const SafetensorsFile f = SafetensorsFile::read(s.path);
  EXPECT_EQ(f.meta("step"), "7");
  EXPECT_EQ(f.meta("config"), "{\"dim\": 3}");
  std::vector<float> a(6);
  f.read_into("layer.a", {2, 3}, a.data());
  EXPECT_EQ(a, s.a);
  EXPECT_EQ(f.shape("b"), (std::vector<int64_t>{1}));
  EXPECT_EQ((file_bytes(s.path).size() - 28) % 8,
            0u);  // 8 + header padded to 8, then 28 data bytes
}

TEST(Safetensors, WrongShapeIsAnErrorNamingTheTensor) {
  Saved s(temp_dir("st_shape"));
  const SafetensorsFile f = SafetensorsFile::read(s.path);
  std::vector<float> out(6);
  try {
    f.read_into("layer.a", {3, 2}, out.data());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("layer.a"), std::string::npos) << e.what();
  }
  EXPECT_THROW(f.read_into("missing", {1}, out.data()), Error);
  EXPECT_THROW(f.meta("missing"), Error);
}

TEST(Safetensors, TruncatedFileIsAnError) {
  Saved s(temp_dir("st_trunc"));
  std::vector<uint8_t> bytes = file_bytes(s.path);
  bytes.resize(bytes.size() - 4);
  EXPECT_NE(expect_error(bytes).find("outside"), std::string::npos);
  bytes.resize(5);
  EXPECT_NE(expect_error(bytes).find("not a safetensors"), std::string::npos);
}

TEST(Safetensors, CorruptHeaderIsAnError) {
  Saved s(temp_dir("st_corrupt"));
  std::vector<uint8_t> bytes = file_bytes(s.path);
  bytes[9] = '!';
  EXPECT_NE(expect_error(bytes).find("corrupt"), std::string::npos);
  bytes = file_bytes(s.path);
  bytes[7] = 0x40;  // absurd header length
  EXPECT_NE(expect_error(bytes).find("header length"), std::string::npos);
}

TEST(Safetensors, UnsupportedDtypeIsAnError) {
  const std::string header = R"({"x":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})";
  std::vector<uint8_t> bytes(8, 0);
  bytes[0] = static_cast<uint8_t>(header.size());
  bytes.insert(bytes.end(), header.begin(), header.end());
  bytes.resize(bytes.size() + 4);
  EXPECT_NE(expect_error(bytes).find("only F32"), std::string::npos);
}

TEST(Safetensors, FailedWriteLeavesThePreviousCheckpoint) {
  const std::string dir = temp_dir("st_atomic");
  Saved s(dir);
  const std::vector<uint8_t> before = file_bytes(s.path);
  // A tensor without data fails after the temporary file was started.
  EXPECT_THROW(write_safetensors(s.path, {{"x", {4}, nullptr}}, {}), Error);
  EXPECT_EQ(file_bytes(s.path), before);
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) files += entry.is_regular_file();
  EXPECT_EQ(files, 1) << "temporary file left behind";
}

}  // namespace
}  // namespace attn::testing
