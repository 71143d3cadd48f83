#include "apps/g2p/g2p_model.h"

#include "attn/core/error.h"
#include "attn/io/checkpoint.h"
#include "attn/io/safetensors.h"
#include "attn/model/seq2seq_search.h"

namespace attn::apps {

G2pModel G2pModel::load(const std::string& path) {
  const SafetensorsFile file = SafetensorsFile::read(path);
  expect_kind(file, "seq2seq", path);
  const model::Seq2SeqConfig config = model::Seq2SeqConfig::from_json(file.meta("config"));
  G2pVocab vocab(file.meta("letters"), G2pVocab::split_phonemes(file.meta("phonemes")));
  ATTN_CHECK(
      config.source_vocab == vocab.source_size() && config.target_vocab == vocab.target_size(),
      path, ": the symbol tables do not match the model's vocabularies");
  auto model = std::make_unique<model::Seq2Seq>(config, 0);
  load_parameters(file, model->parameters());
  return G2pModel(std::move(model), std::move(vocab));
}

G2pModel::G2pModel(std::unique_ptr<model::Seq2Seq> model, G2pVocab vocab)
    : model_(std::move(model)), vocab_(std::move(vocab)) {}

std::vector<int32_t> G2pModel::encode(const std::string& word) const {
  return vocab_.encode_word(word, model_->config().max_source_len);
}

std::vector<std::string> G2pModel::predict(const std::string& word, int64_t beam) {
  const std::vector<int32_t> source = encode(word);
  const std::vector<int32_t> ids = beam <= 1 ? model::greedy_decode(*model_, {source})[0]
                                             : model::beam_search(*model_, source, beam);
  return vocab_.decode_phonemes(ids);
}

}  // namespace attn::apps
