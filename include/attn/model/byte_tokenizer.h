// The byte-level tokenizer of the GPT example: token = one byte of UTF-8 text (vocabulary 256),
// so text in any language round-trips exactly.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace attn {

constexpr int64_t kByteVocabSize = 256;

// The tokens of `text`; throws attn::Error naming the byte offset if `text` is not valid UTF-8.
std::vector<int32_t> encode_bytes(std::string_view text);

// Offset of the first invalid UTF-8 sequence in `text`, or npos when it is valid.
size_t find_invalid_utf8(std::string_view text);

// Turns a stream of byte tokens back into text, one whole character at a time: bytes of an
// incomplete character are held until it completes; an invalid sequence becomes U+FFFD.
class Utf8Decoder {
 public:
  // Feeds one token and returns the text that is now complete (possibly empty).
  std::string push(int32_t token);
  // Returns what is held back (as U+FFFD if incomplete) and resets.
  std::string flush();

 private:
  std::string pending_;
};

}  // namespace attn
