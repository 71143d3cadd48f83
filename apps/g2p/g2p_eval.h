// Scoring grapheme-to-phoneme conversion on held-out words.
//
//   phoneme error rate = Σ_words edit_distance(predicted, reference) / Σ_words |reference|
//   word accuracy      = words whose predicted phonemes equal the reference / words
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "apps/g2p/cmudict.h"
#include "attn/model/seq2seq.h"

namespace attn::apps {

struct G2pScore {
  int64_t words = 0;
  int64_t correct = 0;             // words predicted exactly
  int64_t edits = 0;               // Σ edit distances
  int64_t reference_phonemes = 0;  // Σ reference lengths

  void add(std::span<const int32_t> predicted, std::span<const int32_t> reference);
  double phoneme_error_rate() const;
  double word_accuracy() const;
};

// Decodes every entry's word (greedy in batches when beam ≤ 1, else beam search word by word)
// and scores the phonemes against the entry's.
G2pScore evaluate_g2p(model::Seq2Seq& model, const G2pVocab& vocab,
                      const std::vector<G2pEntry>& entries, int64_t beam);

}  // namespace attn::apps
