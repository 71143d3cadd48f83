#include "attn/model/word_tokenizer.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "attn/core/error.h"
#include "attn/model/byte_tokenizer.h"

namespace attn::model {

namespace {

bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_alnum(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
// Letters, digits and every byte of a non-ASCII character.
bool is_word_byte(unsigned char c) { return is_alnum(c) || c >= 0x80; }

// Throws unless `text` is UTF-8 free of control characters other than spaces (C0, DEL, C1).
void check_text(std::string_view text) {
  const size_t bad = find_invalid_utf8(text);
  ATTN_CHECK(bad == std::string_view::npos, "text is not valid UTF-8 (byte offset ", bad, ")");
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = text[i];
    const bool c1 =
        c == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) < 0xA0;
    ATTN_CHECK(!((c < 0x20 && !is_space(c)) || c == 0x7F || c1),
               "text holds a control character (byte offset ", i, ")");
  }
}

}  // namespace

std::vector<std::string> split_words(std::string_view text) {
  check_text(text);
  std::vector<std::string> words;
  std::string word;
  auto flush = [&] {
    if (!word.empty()) words.push_back(std::move(word));
    word.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = text[i];
    const bool inner_apostrophe = c == '\'' && !word.empty() && i + 1 < text.size() &&
                                  is_word_byte(static_cast<unsigned char>(text[i + 1]));
    if (is_word_byte(c) || inner_apostrophe) {
      word += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : static_cast<char>(c);
      continue;
    }
    flush();
    if (!is_space(c)) words.emplace_back(1, static_cast<char>(c));
  }
  flush();
  return words;
}

WordVocabulary::WordVocabulary(std::vector<std::string> words) : words_(std::move(words)) {
  for (size_t i = 0; i < words_.size(); ++i) {
    const bool fresh = ids_.emplace(words_[i], static_cast<int32_t>(i)).second;
    ATTN_CHECK(fresh && !words_[i].empty(), "vocabulary: word ", i, " '", words_[i],
               "' is empty or repeated");
  }
}

WordVocabulary WordVocabulary::build(const std::vector<std::vector<std::string>>& sentences,
                                     int64_t min_count) {
  std::map<std::string, int64_t> counts;  // ordered: ties sort alphabetically
  for (const auto& sentence : sentences) {
    for (const std::string& w : sentence) ++counts[w];
  }
  std::vector<std::pair<std::string, int64_t>> kept;
  for (const auto& [word, n] : counts) {
    if (n >= min_count && word != "<pad>" && word != "<unk>") kept.emplace_back(word, n);
  }
  std::stable_sort(kept.begin(), kept.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::vector<std::string> words = {"<pad>", "<unk>"};
  for (auto& [word, n] : kept) words.push_back(word);
  return WordVocabulary(std::move(words));
}

WordVocabulary WordVocabulary::from_json(const std::string& text) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  ATTN_CHECK(j.is_array() && j.size() >= 2, "vocabulary: not a JSON list of words");
  std::vector<std::string> words;
  for (const auto& w : j) {
    ATTN_CHECK(w.is_string(), "vocabulary: not a JSON list of words");
    words.push_back(w.get<std::string>());
  }
  ATTN_CHECK(words[kPad] == "<pad>" && words[kUnknown] == "<unk>",
             "vocabulary: the first words must be <pad> and <unk>");
  return WordVocabulary(std::move(words));
}

std::string WordVocabulary::to_json() const { return nlohmann::json(words_).dump(); }

int32_t WordVocabulary::id(const std::string& word) const {
  const auto it = ids_.find(word);
  return it == ids_.end() ? kUnknown : it->second;
}

std::vector<int32_t> WordVocabulary::encode(const std::vector<std::string>& words) const {
  std::vector<int32_t> ids;
  ids.reserve(words.size());
  for (const std::string& w : words) ids.push_back(id(w));
  return ids;
}

}  // namespace attn::model
