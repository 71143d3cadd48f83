// Word-level tokens for the text classifier.
//
// split_words: text → lower-cased words. A word is a run of ASCII letters and digits and of
// non-ASCII characters (kept as they are), with apostrophes inside it ("didn't"); every other
// printable ASCII character is a token of its own ("!", ","); spaces, tabs and line breaks
// separate. Text that is not UTF-8, or holds any other control character, is rejected.
//
// WordVocabulary: ids 0 = "<pad>", 1 = "<unk>", then the words of a training corpus seen at least
// min_count times, most frequent first (ties alphabetical), so it is a pure function of the corpus.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace attn::model {

// The words of `text`; throws attn::Error naming the byte offset of invalid UTF-8 or of a
// control character.
std::vector<std::string> split_words(std::string_view text);

class WordVocabulary {
 public:
  static constexpr int32_t kPad = 0;
  static constexpr int32_t kUnknown = 1;

  // The vocabulary of `sentences` (each already split into words).
  static WordVocabulary build(const std::vector<std::vector<std::string>>& sentences,
                              int64_t min_count);
  // From the list of words by id (as to_json writes it); throws attn::Error if malformed.
  static WordVocabulary from_json(const std::string& text);
  std::string to_json() const;

  // The id of `word`, or kUnknown.
  int32_t id(const std::string& word) const;
  std::vector<int32_t> encode(const std::vector<std::string>& words) const;
  const std::string& word(int32_t id) const { return words_.at(static_cast<size_t>(id)); }
  int64_t size() const { return static_cast<int64_t>(words_.size()); }

 private:
  explicit WordVocabulary(std::vector<std::string> words);

  std::vector<std::string> words_;
  std::unordered_map<std::string, int32_t> ids_;
};

}  // namespace attn::model
