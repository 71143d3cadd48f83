#include "attn/model/byte_tokenizer.h"

#include <algorithm>

#include "attn/core/error.h"

namespace attn {

namespace {

constexpr const char* kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the UTF-8 sequence starting with `lead`, or 0 if `lead` cannot start one.
size_t sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

// Whether the bytes of s that are present (at most n = sequence_length(s[0])) can begin a valid
// character: continuation bytes, no overlong form, no surrogate, nothing above U+10FFFF.
bool valid_prefix(std::string_view s, size_t n) {
  if (n == 0) return false;
  for (size_t i = 1; i < std::min(n, s.size()); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) return false;
  }
  if (s.size() < 2) return true;
  const unsigned char lead = s[0], second = s[1];
  if (lead == 0xE0 && second < 0xA0) return false;  // overlong
  if (lead == 0xED && second > 0x9F) return false;  // surrogates
  if (lead == 0xF0 && second < 0x90) return false;  // overlong
  if (lead == 0xF4 && second > 0x8F) return false;  // above U+10FFFF
  return true;
}

// Whether s[0 .. n) is a whole valid character.
bool valid_sequence(std::string_view s, size_t n) { return s.size() >= n && valid_prefix(s, n); }

}  // namespace

size_t find_invalid_utf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const size_t n = sequence_length(static_cast<unsigned char>(text[i]));
    if (!valid_sequence(text.substr(i), n)) return i;
    i += n;
  }
  return std::string_view::npos;
}

std::vector<int32_t> encode_bytes(std::string_view text) {
  const size_t bad = find_invalid_utf8(text);
  ATTN_CHECK(bad == std::string_view::npos, "text is not valid UTF-8 (byte offset ", bad, ")");
  std::vector<int32_t> tokens(text.size());
  for (size_t i = 0; i < text.size(); ++i) tokens[i] = static_cast<unsigned char>(text[i]);
  return tokens;
}

std::string Utf8Decoder::push(int32_t token) {
  ATTN_CHECK(token >= 0 && token < kByteVocabSize, "byte token ", token, " is outside [0, 256)");
  pending_ += static_cast<char>(token);
  std::string out;
  while (!pending_.empty()) {
    const size_t n = sequence_length(static_cast<unsigned char>(pending_[0]));
    if (n != 0 && pending_.size() < n) {
      // Wait for the rest of the character unless what came so far is already invalid.
      if (valid_prefix(pending_, n)) break;
    }
    if (valid_sequence(pending_, n)) {
      out += pending_.substr(0, n);
      pending_.erase(0, n);
    } else {
      out += kReplacement;
      pending_.erase(0, 1);
    }
  }
  return out;
}

std::string Utf8Decoder::flush() {
  std::string out = pending_.empty() ? "" : kReplacement;
  pending_.clear();
  return out;
}

}  // namespace attn
