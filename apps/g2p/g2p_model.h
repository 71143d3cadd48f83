// G2pModel — a trained grapheme-to-phoneme Seq2Seq model with its symbol tables, as written by
// `attn seq2seq train`: words in, phonemes out.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "apps/g2p/g2p_vocab.h"
#include "attn/model/seq2seq.h"

namespace attn::apps {

class G2pModel {
 public:
  // Loads a checkpoint; throws attn::Error if it is not a seq2seq checkpoint or is damaged.
  static G2pModel load(const std::string& path);
  G2pModel(std::unique_ptr<model::Seq2Seq> model, G2pVocab vocab);

  // The word's letters as source ids; throws attn::Error for an empty word, one longer than the
  // model's max_source_len or with a character outside the letters.
  std::vector<int32_t> encode(const std::string& word) const;
  // The phonemes of `word`: greedy decoding for beam ≤ 1, beam search otherwise.
  std::vector<std::string> predict(const std::string& word, int64_t beam);

  model::Seq2Seq& model() { return *model_; }
  const G2pVocab& vocab() const { return vocab_; }

 private:
  std::unique_ptr<model::Seq2Seq> model_;
  G2pVocab vocab_;
};

}  // namespace attn::apps
