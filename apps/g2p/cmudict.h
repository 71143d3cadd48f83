// The pronouncing dictionary of data/cmudict/: words and their phonemes, and the fixed split of
// the words into training and held-out test sets.
//
// File format: one entry per line, "word PH PH …": a word of lower-case letters a–z, then its
// phonemes (ARPAbet without stress digits), separated by single spaces.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "apps/g2p/g2p_vocab.h"

namespace attn::apps {

struct G2pEntry {
  std::string word;
  std::vector<int32_t> phonemes;  // target ids (G2pVocab), without BOS/EOS
};

struct G2pSplit {
  std::vector<G2pEntry> train;
  std::vector<G2pEntry> test;
};

// Reads the dictionary file. Throws attn::Error naming the file and line of the first bad entry
// (a word that is not letters, no phonemes, an unknown phoneme, more than max_letters letters or
// max_phonemes phonemes) or if the file is missing or empty.
std::vector<G2pEntry> read_cmudict(const std::string& path, const G2pVocab& vocab,
                                   int64_t max_letters, int64_t max_phonemes);

// Whether `word` is held out for testing: FNV-1a (32-bit) of its bytes ≡ 0 (mod 32), a fixed
// function of the word alone, so the split never depends on the file's order or size.
bool is_test_word(const std::string& word);

// Splits the entries by is_test_word, keeping their order.
G2pSplit split_entries(std::vector<G2pEntry> entries);

}  // namespace attn::apps
