#include "attn/model/text_classifier.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "attn/core/error.h"
#include "attn/io/checkpoint.h"

namespace attn::model {

namespace {

ClassifierConfig sized(ClassifierConfig c, const WordVocabulary& vocab,
                       const std::vector<std::string>& labels) {
  c.vocab_size = vocab.size();
  c.n_classes = static_cast<int64_t>(labels.size());
  return c;
}

std::vector<std::string> labels_from_json(const std::string& text) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  ATTN_CHECK(j.is_array() && j.size() >= 2, "labels: not a JSON list of names");
  std::vector<std::string> labels;
  for (const auto& name : j) {
    ATTN_CHECK(name.is_string(), "labels: not a JSON list of names");
    labels.push_back(name.get<std::string>());
  }
  return labels;
}

}  // namespace

TextClassifier::TextClassifier(WordVocabulary vocab, std::vector<std::string> labels,
                               ClassifierConfig config, uint64_t seed)
    : vocab_(std::move(vocab)),
      labels_(std::move(labels)),
      model_(sized(config, vocab_, labels_), seed) {}

TextClassifier TextClassifier::load(const std::string& path) {
  const SafetensorsFile file = SafetensorsFile::read(path);
  expect_kind(file, "classifier", path);
  try {
    const ClassifierConfig config = ClassifierConfig::from_json(file.meta("config"));
    TextClassifier c(WordVocabulary::from_json(file.meta("vocab")),
                     labels_from_json(file.meta("labels")), config, 0);
    ATTN_CHECK(c.model_.config().to_json() == config.to_json(),
               "the vocabulary or labels do not match the config");
    load_parameters(file, c.model_.parameters());
    return c;
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
}

void TextClassifier::save(const std::string& path, Metadata extra) {
  extra["kind"] = "classifier";
  extra["config"] = model_.config().to_json();
  extra["vocab"] = vocab_.to_json();
  extra["labels"] = nlohmann::json(labels_).dump();
  save_parameters(path, model_.parameters(), extra);
}

std::vector<int32_t> TextClassifier::encode(const std::vector<std::string>& words) const {
  const int64_t n = static_cast<int64_t>(words.size());
  ATTN_CHECK(n > 0, "the sentence is empty (no words)");
  ATTN_CHECK(n <= model_.config().max_len, "the sentence has ", n,
             " words; the model reads at most ", model_.config().max_len);
  return vocab_.encode(words);
}

Prediction TextClassifier::predict(const std::string& text) {
  Prediction p;
  p.words = split_words(text);
  const std::vector<int32_t> ids = encode(p.words);
  const int64_t n = static_cast<int64_t>(ids.size());
  const std::vector<int64_t> lengths = {n};
  const Tensor logits = model_.forward(ids, lengths, 1, n, /*training=*/false);
  const float* z = logits.data();
  const int64_t K = logits.dim(1);
  const float top = *std::max_element(z, z + K);
  double sum = 0.0;
  for (int64_t k = 0; k < K; ++k) sum += std::exp(double(z[k]) - top);
  for (int64_t k = 0; k < K; ++k) {
    p.probabilities.push_back(static_cast<float>(std::exp(double(z[k]) - top) / sum));
  }
  p.label = static_cast<int32_t>(std::max_element(z, z + K) - z);
  p.label_name = labels_.at(static_cast<size_t>(p.label));
  const float* w = model_.pooling_weights().data();
  p.weights.assign(w, w + n);
  return p;
}

}  // namespace attn::model
