#include "apps/g2p/cmudict.h"

#include <fstream>
#include <sstream>

#include "attn/core/error.h"

namespace attn::apps {

namespace {

G2pEntry parse_line(const std::string& line, const G2pVocab& vocab, int64_t max_letters,
                    int64_t max_phonemes) {
  std::istringstream in(line);
  G2pEntry e;
  in >> e.word;
  for (char c : e.word) {
    ATTN_CHECK(c >= 'a' && c <= 'z', "the word '", e.word, "' is not lower-case letters a-z");
  }
  ATTN_CHECK(!e.word.empty() && static_cast<int64_t>(e.word.size()) <= max_letters, "the word '",
             e.word, "' has ", e.word.size(), " letters, outside [1, ", max_letters, "]");
  std::vector<std::string> symbols;
  for (std::string p; in >> p;) symbols.push_back(p);
  ATTN_CHECK(!symbols.empty() && static_cast<int64_t>(symbols.size()) <= max_phonemes, "the word '",
             e.word, "' has ", symbols.size(), " phonemes, outside [1, ", max_phonemes, "]");
  e.phonemes = vocab.encode_phonemes(symbols);
  return e;
}

}  // namespace

std::vector<G2pEntry> read_cmudict(const std::string& path, const G2pVocab& vocab,
                                   int64_t max_letters, int64_t max_phonemes) {
  std::ifstream in(path);
  ATTN_CHECK(in.good(), path, ": cannot open the dictionary");
  std::vector<G2pEntry> entries;
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    try {
      entries.push_back(parse_line(line, vocab, max_letters, max_phonemes));
    } catch (const Error& e) {
      throw Error(path + ":" + std::to_string(number) + ": " + e.what());
    }
  }
  ATTN_CHECK(!entries.empty(), path, ": the dictionary is empty");
  return entries;
}

bool is_test_word(const std::string& word) {
  uint32_t h = 2166136261u;
  for (char c : word) {
    h ^= static_cast<unsigned char>(c);
    h *= 16777619u;
  }
  return h % 32 == 0;
}

G2pSplit split_entries(std::vector<G2pEntry> entries) {
  G2pSplit split;
  for (G2pEntry& e : entries)
    (is_test_word(e.word) ? split.test : split.train).push_back(std::move(e));
  return split;
}

}  // namespace attn::apps
