// G2pVocab — the symbol tables of grapheme-to-phoneme conversion: letters in, phonemes out.
//
//   source ids:  0 = padding, 1 + i = letter i                      (vocabulary 1 + letters)
//   target ids:  0 = padding, 1 = BOS, 2 = EOS, 3 + j = phoneme j     (vocabulary 3 + phonemes)
//
// Words are ASCII letters (upper case is folded to lower case); anything else is an error that
// names the character.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "attn/model/seq2seq.h"

namespace attn::apps {

class G2pVocab {
 public:
  static constexpr int32_t kPad = model::TargetIds::kPad, kBos = model::TargetIds::kBos,
                           kEos = model::TargetIds::kEos,
                           kFirstPhoneme = model::TargetIds::kFirstSymbol;

  // letters: the alphabet in id order, e.g. "abc…z"; phonemes: e.g. {"AA", "AE", …}. Throws
  // attn::Error if either is empty or has a duplicate.
  G2pVocab(std::string letters, std::vector<std::string> phonemes);
  // The 26 letters a–z and the 39 ARPAbet phonemes of the CMU dictionary without stress.
  static G2pVocab cmudict();

  // "word" → source ids [len]; throws attn::Error for an empty word, more than max_len letters
  // (naming the limit) or a character outside the alphabet (naming it).
  std::vector<int32_t> encode_word(const std::string& word, int64_t max_len) const;
  // Phoneme symbols → target ids (without BOS/EOS); throws naming an unknown symbol.
  std::vector<int32_t> encode_phonemes(std::span<const std::string> phonemes) const;
  // Target ids → phoneme symbols; BOS, EOS and padding are skipped.
  std::vector<std::string> decode_phonemes(std::span<const int32_t> ids) const;

  int64_t source_size() const { return 1 + static_cast<int64_t>(letters_.size()); }
  int64_t target_size() const { return kFirstPhoneme + static_cast<int64_t>(phonemes_.size()); }
  const std::string& letters() const { return letters_; }
  const std::vector<std::string>& phonemes() const { return phonemes_; }
  // The phonemes as one space-separated string (for checkpoint metadata) and back.
  std::string phonemes_text() const;
  static std::vector<std::string> split_phonemes(const std::string& text);

 private:
  std::string letters_;
  std::vector<std::string> phonemes_;
};

}  // namespace attn::apps
