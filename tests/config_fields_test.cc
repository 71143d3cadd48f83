// The config tables: JSON written in table order, read back, and every error names the field.
#include "attn/core/config_fields.h"

#include <cmath>
#include <string>

#include "attn/core/error.h"
#include "gtest/gtest.h"

namespace attn::testing {
namespace {

enum class Shape { kRound, kSquare };

struct Sample {
  int64_t size = 4;
  float rate = 0.5f;
  bool flag = false;
  uint64_t seed = 7;
  double extra = 0.0;
  Shape shape = Shape::kRound;
};

std::string shape_name(const Sample& s) { return s.shape == Shape::kRound ? "round" : "square"; }
void set_shape(Sample& s, const std::string& name) {
  ATTN_CHECK(name == "round" || name == "square", "unknown shape '", name, "'");
  s.shape = name == "round" ? Shape::kRound : Shape::kSquare;
}

const ConfigField<Sample> kFields[] = {
    {"size", &Sample::size, 1, 100},
    {.name = "rate", .member = &Sample::rate, .min = 0, .max = 1, .max_exclusive = true},
    {"flag", &Sample::flag},
    {"seed", &Sample::seed},
    {.name = "extra", .member = &Sample::extra, .write = ConfigWrite::kUnlessDefault},
    {"shape", TextMember<Sample>{shape_name, set_shape}},
};

Sample read(const std::string& text) {
  return config_from_json(text, kFields, Sample{}, "sample config");
}

std::string error_of(const std::string& text) {
  try {
    read(text);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ConfigFields, WritesEveryFieldInTableOrderAndSkipsUnsetOptionalOnes) {
  EXPECT_EQ(config_to_json(Sample{}, kFields),
            R"({"size":4,"rate":0.5,"flag":false,"seed":7,"shape":"round"})");
  Sample s;
  s.extra = 2.5;
  EXPECT_NE(config_to_json(s, kFields).find(R"("extra":2.5)"), std::string::npos);
}

TEST(ConfigFields, ReadsBackWhatItWrote) {
  Sample s;
  s.size = 9, s.rate = 0.25f, s.flag = true, s.seed = 123, s.extra = -1.5, s.shape = Shape::kSquare;
  const Sample back = read(config_to_json(s, kFields));
  EXPECT_EQ(back.size, 9);
  EXPECT_EQ(back.rate, 0.25f);
  EXPECT_TRUE(back.flag);
  EXPECT_EQ(back.seed, 123u);
  EXPECT_EQ(back.extra, -1.5);
  EXPECT_EQ(back.shape, Shape::kSquare);
}

TEST(ConfigFields, AbsentFieldsKeepTheirDefaults) {
  const Sample s = read(R"({"size": 12})");
  EXPECT_EQ(s.size, 12);
  EXPECT_EQ(s.rate, 0.5f);
}

TEST(ConfigFields, ErrorsNameTheFieldAndTheProblem) {
  EXPECT_EQ(error_of(R"({"sise": 3})"), "sample config: unknown field 'sise'");
  EXPECT_EQ(error_of(R"({"size": 0})"), "sample config: `size` must be at least 1, got 0");
  EXPECT_EQ(error_of(R"({"size": 101})"), "sample config: `size` must be at most 100, got 101");
  EXPECT_EQ(error_of(R"({"rate": 1.0})"), "sample config: `rate` must be less than 1, got 1");
  EXPECT_EQ(error_of(R"({"size": 2.5})"), "sample config: `size` must be an integer");
  EXPECT_EQ(error_of(R"({"flag": 1})"), "sample config: `flag` must be true or false");
  EXPECT_EQ(error_of(R"({"seed": -1})"), "sample config: `seed` must be a non-negative integer");
  EXPECT_EQ(error_of(R"({"shape": 3})"), "sample config: `shape` must be a string");
  EXPECT_EQ(error_of(R"({"shape": "oval"})"), "unknown shape 'oval'");
  EXPECT_EQ(error_of("[1, 2]"), "sample config: not a JSON object");
  EXPECT_EQ(error_of("{"), "sample config: not a JSON object");
}

TEST(ConfigFields, RangeCheckOfAFilledStruct) {
  Sample s;
  s.rate = -0.1f;
  EXPECT_THROW(check_config_ranges(s, kFields, "sample config"), Error);
  s.rate = std::nanf("");
  EXPECT_THROW(check_config_ranges(s, kFields, "sample config"), Error);
  s.rate = 0.0f;
  EXPECT_NO_THROW(check_config_ranges(s, kFields, "sample config"));
}

}  // namespace
}  // namespace attn::testing
