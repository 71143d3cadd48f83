#include "apps/g2p/g2p_vocab.h"

#include <algorithm>
#include <cstdio>
#include <set>
#include <sstream>

#include "attn/core/error.h"

namespace attn::apps {

namespace {

// Bytes in the UTF-8 sequence that starts with `lead` (1 for ASCII or a stray byte).
size_t utf8_length(unsigned char lead) {
  if (lead >= 0xF8) return 1;
  return lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
}

// The character at word[i] as a message shows it: 'x', the whole UTF-8 character 'é', or
// '\xNN' for a control byte or a byte that does not start a valid UTF-8 character.
std::string shown(const std::string& word, size_t i) {
  const auto lead = static_cast<unsigned char>(word[i]);
  const size_t n = utf8_length(lead);
  bool valid = (lead >= 0x21 && lead < 0x7f) || (n > 1 && i + n <= word.size());
  for (size_t k = 1; valid && k < n; ++k) {
    valid = (static_cast<unsigned char>(word[i + k]) & 0xC0) == 0x80;
  }
  // Appended piece by piece: GCC 12 warns (-Wrestrict, falsely) on "'" + word.substr(i, n).
  if (valid) return std::string("'").append(word, i, n).append("'");
  char text[16];
  std::snprintf(text, sizeof text, "'\\x%02X'", lead);
  return text;
}

}  // namespace

G2pVocab::G2pVocab(std::string letters, std::vector<std::string> phonemes)
    : letters_(std::move(letters)), phonemes_(std::move(phonemes)) {
  ATTN_CHECK(!letters_.empty() && !phonemes_.empty(), "g2p vocabulary: no letters or phonemes");
  ATTN_CHECK(std::set<char>(letters_.begin(), letters_.end()).size() == letters_.size(),
             "g2p vocabulary: a letter appears twice in '", letters_, "'");
  ATTN_CHECK(std::set<std::string>(phonemes_.begin(), phonemes_.end()).size() == phonemes_.size(),
             "g2p vocabulary: a phoneme appears twice");
}

G2pVocab G2pVocab::cmudict() {
  return G2pVocab("abcdefghijklmnopqrstuvwxyz",
                  split_phonemes("AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG "
                                 "OW OY P R S SH T TH UH UW V W Y Z ZH"));
}

std::vector<int32_t> G2pVocab::encode_word(const std::string& word, int64_t max_len) const {
  ATTN_CHECK(!word.empty(), "the word is empty");
  std::vector<int32_t> ids;
  for (size_t k = 0; k < word.size(); ++k) {
    const char c = word[k];
    const char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    const size_t i = letters_.find(lower);
    ATTN_CHECK(i != std::string::npos, "word '", word, "': character ", shown(word, k),
               " is not one of the letters ", letters_.front(), "-", letters_.back());
    ids.push_back(static_cast<int32_t>(1 + i));
  }
  ATTN_CHECK(static_cast<int64_t>(ids.size()) <= max_len, "word '", word, "' has ", ids.size(),
             " letters, more than the limit of ", max_len);
  return ids;
}

std::vector<int32_t> G2pVocab::encode_phonemes(std::span<const std::string> phonemes) const {
  std::vector<int32_t> ids;
  for (const std::string& p : phonemes) {
    const auto it = std::find(phonemes_.begin(), phonemes_.end(), p);
    ATTN_CHECK(it != phonemes_.end(), "unknown phoneme '", p, "'");
    ids.push_back(kFirstPhoneme + static_cast<int32_t>(it - phonemes_.begin()));
  }
  return ids;
}

std::vector<std::string> G2pVocab::decode_phonemes(std::span<const int32_t> ids) const {
  std::vector<std::string> out;
  for (int32_t id : ids) {
    if (id >= kFirstPhoneme && id < target_size()) out.push_back(phonemes_[id - kFirstPhoneme]);
  }
  return out;
}

std::string G2pVocab::phonemes_text() const {
  std::string text;
  for (const std::string& p : phonemes_) text += (text.empty() ? "" : " ") + p;
  return text;
}

std::vector<std::string> G2pVocab::split_phonemes(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  for (std::string p; in >> p;) out.push_back(p);
  return out;
}

}  // namespace attn::apps
