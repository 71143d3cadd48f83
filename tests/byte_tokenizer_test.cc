#include "attn/model/byte_tokenizer.h"

#include "attn/core/error.h"
#include "gtest/gtest.h"

namespace attn {
namespace {

std::string decode_all(const std::vector<int32_t>& tokens) {
  Utf8Decoder decoder;
  std::string text;
  for (int32_t t : tokens) text += decoder.push(t);
  return text + decoder.flush();
}

TEST(ByteTokenizer, AnyLanguageRoundTrips) {
  const std::string text = "Call me Ishmael. Ἀρχὴ 鯨 🐋 ñ";
  const std::vector<int32_t> tokens = encode_bytes(text);
  EXPECT_EQ(tokens.size(), text.size());
  EXPECT_EQ(decode_all(tokens), text);
}

TEST(ByteTokenizer, InvalidUtf8IsAnErrorNamingTheOffset) {
  try {
    encode_bytes("ok\xC3(");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("offset 2"), std::string::npos) << e.what();
  }
  EXPECT_NE(find_invalid_utf8("\xED\xA0\x80"), std::string_view::npos);  // a surrogate
  EXPECT_NE(find_invalid_utf8("\xC0\xAF"), std::string_view::npos);      // overlong
  EXPECT_EQ(find_invalid_utf8("\xF0\x9F\x90\x8B"), std::string_view::npos);
}

TEST(ByteTokenizer, DecoderHoldsIncompleteCharacters) {
  Utf8Decoder decoder;
  EXPECT_EQ(decoder.push(0xE9), "");  // first byte of 鯨 (E9 AF A8)
  EXPECT_EQ(decoder.push(0xAF), "");
  EXPECT_EQ(decoder.push(0xA8), "鯨");
}

TEST(ByteTokenizer, DecoderReplacesInvalidBytes) {
  Utf8Decoder decoder;
  EXPECT_EQ(decoder.push(0xFF), "\xEF\xBF\xBD");
  EXPECT_EQ(decoder.push(0xC3), "");
  EXPECT_EQ(decoder.push('a'),
            "\xEF\xBF\xBD"
            "a");
  EXPECT_EQ(decoder.push(0xC3), "");
  EXPECT_EQ(decoder.flush(), "\xEF\xBF\xBD");
}

}  // namespace
}  // namespace attn
