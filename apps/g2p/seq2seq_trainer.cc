#include "apps/g2p/seq2seq_trainer.h"

#include <algorithm>
#include <numeric>

#include "attn/core/error.h"
#include "attn/io/checkpoint.h"
#include "attn/nn/random.h"
#include "attn/train/cross_entropy.h"

namespace attn::apps {

namespace {

constexpr int32_t kIgnore = -100;

// The training words grouped `batch` at a time in order of (letters, phonemes, word).
std::vector<std::vector<size_t>> length_groups(const std::vector<G2pEntry>& entries,
                                               int64_t batch) {
  std::vector<size_t> order(entries.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const G2pEntry &x = entries[a], &y = entries[b];
    if (x.word.size() != y.word.size()) return x.word.size() < y.word.size();
    if (x.phonemes.size() != y.phonemes.size()) return x.phonemes.size() < y.phonemes.size();
    return x.word < y.word;
  });
  std::vector<std::vector<size_t>> groups;
  for (size_t i = 0; i < order.size(); i += static_cast<size_t>(batch)) {
    const size_t end = std::min(order.size(), i + static_cast<size_t>(batch));
    groups.emplace_back(order.begin() + i, order.begin() + end);
  }
  return groups;
}

}  // namespace

train::TrainOptions default_g2p_options() {
  train::TrainOptions o;
  o.batch = 64;
  o.steps = 2000;
  o.lr = 2e-3f;
  o.min_lr = 1e-4f;
  o.warmup = 200;
  o.weight_decay = 0.01f;
  o.clip = 1.0f;
  o.eval_interval = 250;
  o.time_limit = 500.0;
  o.seed = 1;
  return o;
}

G2pBatch make_g2p_batch(const G2pVocab& vocab, const std::vector<G2pEntry>& entries,
                        std::span<const size_t> indices, int64_t max_letters) {
  G2pBatch b;
  std::vector<std::vector<int32_t>> sources;
  for (size_t i : indices) {
    sources.push_back(vocab.encode_word(entries[i].word, max_letters));
    b.target_len = std::max(b.target_len, static_cast<int64_t>(entries[i].phonemes.size()) + 1);
  }
  b.source = model::pack_sources(sources);
  const int64_t n = static_cast<int64_t>(indices.size()), T = b.target_len;
  b.target.assign(static_cast<size_t>(n * T), G2pVocab::kPad);
  b.expected.assign(static_cast<size_t>(n * T), kIgnore);
  for (int64_t r = 0; r < n; ++r) {
    const std::vector<int32_t>& p = entries[indices[r]].phonemes;
    int32_t* in = b.target.data() + r * T;
    int32_t* out = b.expected.data() + r * T;
    in[0] = G2pVocab::kBos;
    std::copy(p.begin(), p.end(), in + 1);
    std::copy(p.begin(), p.end(), out);
    out[p.size()] = G2pVocab::kEos;
  }
  return b;
}

Seq2SeqTrainer::Seq2SeqTrainer(const model::Seq2SeqConfig& config,
                               const train::TrainOptions& options, const G2pVocab& vocab,
                               std::vector<G2pEntry> train, std::vector<G2pEntry> validation)
    : config_(config),
      options_(options),
      vocab_(vocab),
      train_(std::move(train)),
      validation_(std::move(validation)),
      model_(config, options.seed),
      loop_(*this, options.loop({.beta1 = 0.9f, .beta2 = 0.98f, .eps = 1e-8f})) {
  train::validate(options);
  ATTN_CHECK(!train_.empty(), "seq2seq: no training words");
  ATTN_CHECK(
      config.source_vocab == vocab.source_size() && config.target_vocab == vocab.target_size(),
      "seq2seq: the model's vocabularies do not match the symbol tables");
  for (const G2pEntry& e : train_) {
    ATTN_CHECK(static_cast<int64_t>(e.phonemes.size()) < config.max_target_len,
               "seq2seq: the word '", e.word, "' has more than ", config.max_target_len - 1,
               " phonemes");
  }
  groups_ = length_groups(train_, options.batch);
}

const std::vector<size_t>& Seq2SeqTrainer::group_order(int64_t epoch) {
  if (epoch == order_epoch_) return order_;
  order_.resize(groups_.size());
  std::iota(order_.begin(), order_.end(), size_t{0});
  const uint64_t seed = nn::derive_seed(options_.seed, 1000 + static_cast<uint64_t>(epoch));
  for (size_t i = order_.size(); i > 1; --i) {  // Fisher–Yates with a counter-based hash
    const size_t j = static_cast<size_t>(nn::counter_hash(seed, 0, i) % i);
    std::swap(order_[i - 1], order_[j]);
  }
  order_epoch_ = epoch;
  return order_;
}

train::StepLoss Seq2SeqTrainer::train_step(int64_t step, train::BatchPart) {
  const int64_t groups = static_cast<int64_t>(groups_.size());
  const size_t group = group_order(step / groups)[static_cast<size_t>(step % groups)];
  const G2pBatch b = make_g2p_batch(vocab_, train_, groups_[group], config_.max_source_len);
  const uint64_t seed_step = static_cast<uint64_t>(step);
  const Tensor memory = model_.encode(b.source, /*training=*/true, seed_step);
  Tensor logits = model_.decode(b.target, b.source.batch, b.target_len, memory, b.source.lengths,
                                /*training=*/true, seed_step);
  train::CrossEntropyLoss loss(kIgnore);
  const float value = loss.forward(logits, b.expected);
  loss.backward_in_place(logits);
  model_.backward(logits);
  int64_t tokens = 0;  // target tokens: the phonemes and EOS of each word
  for (size_t i : groups_[group]) tokens += static_cast<int64_t>(train_[i].phonemes.size()) + 1;
  return {value, tokens};
}

float Seq2SeqTrainer::validation_loss() {
  if (validation_.empty()) return 0.0f;
  double total = 0.0;
  int64_t counted = 0;
  std::vector<size_t> indices;
  for (size_t first = 0; first < validation_.size(); first += 256) {
    indices.resize(std::min<size_t>(256, validation_.size() - first));
    std::iota(indices.begin(), indices.end(), first);
    const G2pBatch b = make_g2p_batch(vocab_, validation_, indices, config_.max_source_len);
    const Tensor memory = model_.encode(b.source, /*training=*/false);
    const Tensor logits = model_.decode(b.target, b.source.batch, b.target_len, memory,
                                        b.source.lengths, /*training=*/false);
    train::CrossEntropyLoss loss(kIgnore);
    total += double(loss.forward(logits, b.expected)) * double(loss.counted());
    counted += loss.counted();
  }
  return static_cast<float>(total / double(std::max<int64_t>(1, counted)));
}

Metadata Seq2SeqTrainer::checkpoint_metadata() {
  return {{"kind", "seq2seq"},
          {"config", config_.to_json()},
          {"letters", vocab_.letters()},
          {"phonemes", vocab_.phonemes_text()},
          {"train", options_.to_json()}};
}

void Seq2SeqTrainer::restore(const SafetensorsFile& file, const std::string& path) {
  expect_kind(file, "seq2seq", path);
  ATTN_CHECK(file.meta("config") == config_.to_json(), path, ": checkpoint config ",
             file.meta("config"), " differs from the run's ", config_.to_json());
  ATTN_CHECK(
      file.meta("letters") == vocab_.letters() && file.meta("phonemes") == vocab_.phonemes_text(),
      path, ": the checkpoint's symbol tables differ from the run's");
  options_.seed = train::TrainOptions::from_json(file.meta("train"), options_).seed;
}

}  // namespace attn::apps
