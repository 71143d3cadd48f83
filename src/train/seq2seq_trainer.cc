#include "attn/train/seq2seq_trainer.h"

#include <algorithm>
#include <chrono>
#include <numeric>

#include "attn/core/error.h"
#include "attn/nn/random.h"
#include "attn/train/checkpoint.h"
#include "attn/train/cross_entropy.h"
#include "attn/train/grad_clip.h"
#include "attn/train/lr_schedule.h"

namespace attn::train {

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

G2pBatch make_g2p_batch(const model::G2pVocab& vocab, const std::vector<G2pEntry>& entries,
                        std::span<const size_t> indices, int64_t max_letters) {
  G2pBatch b;
  std::vector<std::vector<int32_t>> sources;
  for (size_t i : indices) {
    sources.push_back(vocab.encode_word(entries[i].word, max_letters));
    b.target_len = std::max(b.target_len, static_cast<int64_t>(entries[i].phonemes.size()) + 1);
  }
  b.source = model::pack_sources(sources);
  const int64_t n = static_cast<int64_t>(indices.size()), T = b.target_len;
  b.target.assign(static_cast<size_t>(n * T), model::G2pVocab::kPad);
  b.expected.assign(static_cast<size_t>(n * T), kIgnore);
  for (int64_t r = 0; r < n; ++r) {
    const std::vector<int32_t>& p = entries[indices[r]].phonemes;
    int32_t* in = b.target.data() + r * T;
    int32_t* out = b.expected.data() + r * T;
    in[0] = model::G2pVocab::kBos;
    std::copy(p.begin(), p.end(), in + 1);
    std::copy(p.begin(), p.end(), out);
    out[p.size()] = model::G2pVocab::kEos;
  }
  return b;
}

Seq2SeqTrainer::Seq2SeqTrainer(const model::Seq2SeqConfig& config, const TrainOptions& options,
                               const model::G2pVocab& vocab, std::vector<G2pEntry> train,
                               std::vector<G2pEntry> validation)
    : config_(config),
      options_(options),
      vocab_(vocab),
      train_(std::move(train)),
      validation_(std::move(validation)),
      model_(config, options.seed),
      optimizer_(model_.parameters(), AdamWConfig{0.9f, 0.98f, 1e-8f, options.weight_decay}) {
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

float Seq2SeqTrainer::train_step() {
  const int64_t groups = static_cast<int64_t>(groups_.size());
  const size_t group = group_order(step_ / groups)[static_cast<size_t>(step_ % groups)];
  const G2pBatch b = make_g2p_batch(vocab_, train_, groups_[group], config_.max_source_len);
  optimizer_.zero_grad();
  const uint64_t step = static_cast<uint64_t>(step_);
  const Tensor memory = model_.encode(b.source, /*training=*/true, step);
  Tensor logits = model_.decode(b.target, b.source.batch, b.target_len, memory, b.source.lengths,
                                /*training=*/true, step);
  CrossEntropyLoss loss(kIgnore);
  const float value = loss.forward(logits, b.expected);
  loss.backward_in_place(logits);
  model_.backward(logits);
  if (options_.clip > 0) clip_grad_norm(model_.parameters(), options_.clip);
  const CosineSchedule schedule{options_.lr, options_.min_lr, options_.warmup,
                                std::max(options_.steps, options_.warmup + 1)};
  optimizer_.step(schedule.at(step_));
  ++step_;
  return value;
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
    CrossEntropyLoss loss(kIgnore);
    total += double(loss.forward(logits, b.expected)) * double(loss.counted());
    counted += loss.counted();
  }
  return static_cast<float>(total / double(std::max<int64_t>(1, counted)));
}

void Seq2SeqTrainer::save(const std::string& path) {
  save_checkpoint(path, model_.parameters(), nullptr,
                  {{"kind", "seq2seq"},
                   {"config", config_.to_json()},
                   {"letters", vocab_.letters()},
                   {"phonemes", vocab_.phonemes_text()},
                   {"train", options_.to_json()},
                   {"step", std::to_string(step_)}});
}

void Seq2SeqTrainer::run(const std::string& out,
                         const std::function<void(const StepReport&)>& on_step) {
  const auto start = std::chrono::steady_clock::now();
  const CosineSchedule schedule{options_.lr, options_.min_lr, options_.warmup,
                                std::max(options_.steps, options_.warmup + 1)};
  int64_t tokens = 0;
  double train_seconds = 0.0;
  while (step_ < options_.steps) {
    StepReport r;
    r.lr = schedule.at(step_);
    const auto step_start = std::chrono::steady_clock::now();
    const int64_t groups = static_cast<int64_t>(groups_.size());
    for (size_t i : groups_[group_order(step_ / groups)[static_cast<size_t>(step_ % groups)]]) {
      tokens += static_cast<int64_t>(train_[i].phonemes.size()) + 1;
    }
    r.loss = train_step();
    const auto step_end = std::chrono::steady_clock::now();
    train_seconds += std::chrono::duration<double>(step_end - step_start).count();
    r.step = step_;
    r.elapsed_s = std::chrono::duration<double>(step_end - start).count();
    const bool out_of_time = options_.time_limit > 0 && r.elapsed_s >= options_.time_limit;
    if (step_ % options_.eval_interval == 0 || step_ == options_.steps || out_of_time) {
      r.val_loss = validation_loss();
      if (!out.empty()) save(out);
    }
    r.tokens_per_s = static_cast<double>(tokens) / std::max(train_seconds, 1e-9);
    on_step(r);
    if (out_of_time) break;
  }
}

}  // namespace attn::train
