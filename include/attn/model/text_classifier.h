// TextClassifier — a Classifier with its word vocabulary and label names: text in, label out.
//
// Checkpoint (safetensors, written atomically): the parameters under their names; metadata
// "kind" = "classifier", "config" (ClassifierConfig as JSON), "vocab" (the words by id, a JSON
// list), "labels" (the label names by id, a JSON list), plus what the caller adds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "attn/io/safetensors.h"
#include "attn/model/classifier.h"
#include "attn/model/word_tokenizer.h"

namespace attn::model {

struct Prediction {
  int32_t label = 0;
  std::string label_name;
  std::vector<float> probabilities;  // [K], softmax of the logits
  std::vector<std::string> words;    // the sentence's words, as the model reads them
  std::vector<float> weights;        // pooling weight of each word (1/n for mean pooling)
};

class TextClassifier {
 public:
  // config.vocab_size is set from `vocab`, config.n_classes from `labels`.
  TextClassifier(WordVocabulary vocab, std::vector<std::string> labels, ClassifierConfig config,
                 uint64_t seed);

  // Reads a checkpoint written by save(); throws attn::Error if it is not a "classifier"
  // checkpoint or is malformed.
  static TextClassifier load(const std::string& path);
  void save(const std::string& path, Metadata extra = {});

  // The ids of `words`; throws attn::Error if there are none or more than max_len.
  std::vector<int32_t> encode(const std::vector<std::string>& words) const;
  // The label of `text` with its probabilities and pooling weights; throws attn::Error on text
  // that is empty, too long, not UTF-8 or holds control characters (see split_words).
  Prediction predict(const std::string& text);

  Classifier& model() { return model_; }
  const WordVocabulary& vocabulary() const { return vocab_; }
  const std::vector<std::string>& labels() const { return labels_; }

 private:
  WordVocabulary vocab_;
  std::vector<std::string> labels_;
  Classifier model_;
};

}  // namespace attn::model
