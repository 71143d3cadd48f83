#include "apps/g2p/g2p_eval.h"

#include <algorithm>

#include "apps/g2p/edit_distance.h"
#include "attn/model/seq2seq_search.h"

namespace attn::apps {

void G2pScore::add(std::span<const int32_t> predicted, std::span<const int32_t> reference) {
  ++words;
  correct += std::equal(predicted.begin(), predicted.end(), reference.begin(), reference.end());
  edits += edit_distance(predicted, reference);
  reference_phonemes += static_cast<int64_t>(reference.size());
}

double G2pScore::phoneme_error_rate() const {
  return static_cast<double>(edits) / static_cast<double>(std::max<int64_t>(1, reference_phonemes));
}

double G2pScore::word_accuracy() const {
  return static_cast<double>(correct) / static_cast<double>(std::max<int64_t>(1, words));
}

G2pScore evaluate_g2p(model::Seq2Seq& model, const G2pVocab& vocab,
                      const std::vector<G2pEntry>& entries, int64_t beam) {
  constexpr size_t kBatch = 128;  // words decoded together by the greedy search
  const int64_t max_len = model.config().max_source_len;
  G2pScore score;
  for (size_t first = 0; first < entries.size(); first += kBatch) {
    const size_t last = std::min(entries.size(), first + kBatch);
    std::vector<std::vector<int32_t>> sources;
    for (size_t i = first; i < last; ++i)
      sources.push_back(vocab.encode_word(entries[i].word, max_len));
    std::vector<std::vector<int32_t>> predicted;
    if (beam <= 1) {
      predicted = model::greedy_decode(model, sources);
    } else {
      for (const auto& s : sources) predicted.push_back(model::beam_search(model, s, beam));
    }
    for (size_t i = first; i < last; ++i) score.add(predicted[i - first], entries[i].phonemes);
  }
  return score;
}

}  // namespace attn::apps
