#include "attn/train/classifier_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>

#include "attn/core/error.h"
#include "attn/model/word_tokenizer.h"
#include "attn/nn/random.h"
#include "attn/train/cross_entropy.h"
#include "attn/train/grad_clip.h"
#include "attn/train/lr_schedule.h"

namespace attn::train {

std::string ClassifierTrainOptions::to_json() const {
  const nlohmann::ordered_json j = {{"batch", batch},
                                    {"epochs", epochs},
                                    {"steps", steps},
                                    {"lr", lr},
                                    {"min_lr", min_lr},
                                    {"warmup", warmup},
                                    {"weight_decay", weight_decay},
                                    {"clip", clip},
                                    {"seed", seed}};
  return j.dump();
}

namespace {

template <typename T>
void read_option(const nlohmann::json& j, const char* key, T& field) {
  if (!j.contains(key)) return;
  const auto& v = j[key];
  if constexpr (std::is_integral_v<T>) {
    ATTN_CHECK(v.is_number_integer(), "training options: ", key, " must be an integer");
  } else {
    ATTN_CHECK(v.is_number(), "training options: ", key, " must be a number");
  }
  field = v.get<T>();
}

}  // namespace

ClassifierTrainOptions ClassifierTrainOptions::from_json(const std::string& text,
                                                         ClassifierTrainOptions o) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  ATTN_CHECK(j.is_object(), "training options: not a JSON object");
  for (const auto& [key, value] : j.items()) {
    ATTN_CHECK(nlohmann::json::parse(o.to_json()).contains(key),
               "training options: unknown field '", key, "'");
  }
  read_option(j, "batch", o.batch);
  read_option(j, "epochs", o.epochs);
  read_option(j, "steps", o.steps);
  read_option(j, "lr", o.lr);
  read_option(j, "min_lr", o.min_lr);
  read_option(j, "warmup", o.warmup);
  read_option(j, "weight_decay", o.weight_decay);
  read_option(j, "clip", o.clip);
  read_option(j, "seed", o.seed);
  validate(o);
  return o;
}

void validate(const ClassifierTrainOptions& o) {
  ATTN_CHECK(o.batch > 0 && o.batch <= 4096, "training options: batch = ", o.batch,
             " is not a possible size");
  ATTN_CHECK(o.epochs > 0 && o.steps >= 0, "training options: epochs must be positive, got ",
             o.epochs, ", steps not negative, got ", o.steps);
  ATTN_CHECK(std::isfinite(o.lr) && o.lr > 0 && std::isfinite(o.min_lr) && o.min_lr >= 0 &&
                 std::isfinite(o.weight_decay) && o.weight_decay >= 0 && o.warmup >= 0,
             "training options: rates must be finite and positive");
}

namespace {

// Sentences order[first, first + n) as a batch padded to the longest: tokens [n, T].
struct Batch {
  std::vector<int32_t> tokens;
  std::vector<int64_t> lengths;
  std::vector<int32_t> labels;
  int64_t len = 0;
};

Batch make_batch(const std::vector<EncodedSentence>& sentences, const std::vector<size_t>& order,
                 size_t first, size_t n) {
  Batch b;
  for (size_t i = first; i < first + n; ++i) {
    b.len = std::max<int64_t>(b.len, static_cast<int64_t>(sentences[order[i]].ids.size()));
  }
  b.tokens.assign(n * static_cast<size_t>(b.len), model::WordVocabulary::kPad);
  for (size_t i = 0; i < n; ++i) {
    const EncodedSentence& s = sentences[order[first + i]];
    std::copy(s.ids.begin(), s.ids.end(), b.tokens.begin() + static_cast<int64_t>(i) * b.len);
    b.lengths.push_back(static_cast<int64_t>(s.ids.size()));
    b.labels.push_back(s.label);
  }
  return b;
}

std::vector<size_t> identity_order(size_t n) {
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  return order;
}

// The sentences of epoch `epoch` in the order given by a hash of (seed, epoch, index).
std::vector<size_t> shuffled_order(size_t n, uint64_t seed, int64_t epoch) {
  std::vector<std::pair<uint64_t, size_t>> keys(n);
  for (size_t i = 0; i < n; ++i) {
    keys[i] = {nn::counter_hash(seed, 0x5eed0000u + static_cast<uint64_t>(epoch), i), i};
  }
  std::sort(keys.begin(), keys.end());
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = keys[i].second;
  return order;
}

}  // namespace

ClassifierEval evaluate_classifier(model::Classifier& model,
                                   const std::vector<EncodedSentence>& sentences, int64_t batch) {
  ClassifierEval r;
  const std::vector<size_t> order = identity_order(sentences.size());
  int64_t correct = 0;
  double loss_sum = 0.0;
  for (size_t first = 0; first < sentences.size(); first += static_cast<size_t>(batch)) {
    const size_t n = std::min(sentences.size() - first, static_cast<size_t>(batch));
    const Batch b = make_batch(sentences, order, first, n);
    const Tensor logits =
        model.forward(b.tokens, b.lengths, static_cast<int64_t>(n), b.len, /*training=*/false);
    const int64_t K = logits.dim(1);
    for (size_t i = 0; i < n; ++i) {
      const float* z = logits.data() + static_cast<int64_t>(i) * K;
      correct += (std::max_element(z, z + K) - z) == b.labels[i];
    }
    CrossEntropyLoss loss;
    loss_sum += double(loss.forward(logits, b.labels)) * double(n);
  }
  r.count = static_cast<int64_t>(sentences.size());
  r.accuracy = r.count == 0 ? 0.0 : double(correct) / double(r.count);
  r.loss = r.count == 0 ? 0.0 : loss_sum / double(r.count);
  return r;
}

ClassifierTrainer::ClassifierTrainer(model::Classifier& model,
                                     const ClassifierTrainOptions& options,
                                     const std::vector<EncodedSentence>& train,
                                     const std::vector<EncodedSentence>& validation)
    : model_(model),
      options_(options),
      train_(train),
      validation_(validation),
      optimizer_(model.parameters(), AdamWConfig{0.9f, 0.98f, 1e-8f, options.weight_decay}) {
  validate(options);
  ATTN_CHECK(!train.empty() && !validation.empty(),
             "classifier training needs training and validation sentences");
  steps_per_epoch_ = (static_cast<int64_t>(train.size()) + options.batch - 1) / options.batch;
  total_steps_ = options.steps > 0 ? options.steps : options.epochs * steps_per_epoch_;
}

float ClassifierTrainer::train_step(const std::vector<size_t>& order, size_t first) {
  const size_t n = std::min(order.size() - first, static_cast<size_t>(options_.batch));
  const Batch b = make_batch(train_, order, first, n);
  optimizer_.zero_grad();
  Tensor logits = model_.forward(b.tokens, b.lengths, static_cast<int64_t>(n), b.len,
                                 /*training=*/true, static_cast<uint64_t>(step_));
  CrossEntropyLoss loss;
  const float value = loss.forward(logits, b.labels);
  loss.backward_in_place(logits);
  model_.backward(logits);
  if (options_.clip > 0) clip_grad_norm(model_.parameters(), options_.clip);
  const CosineSchedule schedule{options_.lr, options_.min_lr, options_.warmup,
                                std::max(total_steps_, options_.warmup + 1)};
  optimizer_.step(schedule.at(step_));
  ++step_;
  return value;
}

void ClassifierTrainer::keep_best(const EpochReport& r) {
  best_ = r;
  best_params_.clear();
  for (const nn::Parameter& p : model_.parameters()) {
    best_params_.emplace_back(p.value, p.value + p.size);
  }
}

void ClassifierTrainer::run(const std::function<void(const EpochReport&)>& on_epoch) {
  const auto start = std::chrono::steady_clock::now();
  for (int64_t epoch = 0; step_ < total_steps_; ++epoch) {
    const std::vector<size_t> order = shuffled_order(train_.size(), options_.seed, epoch);
    double loss_sum = 0.0;
    int64_t steps = 0;
    for (size_t first = 0; first < order.size() && step_ < total_steps_;
         first += static_cast<size_t>(options_.batch), ++steps) {
      loss_sum += train_step(order, first);
    }
    EpochReport r;
    r.epoch = epoch + 1;
    r.step = step_;
    r.loss = loss_sum / double(std::max<int64_t>(steps, 1));
    r.validation = evaluate_classifier(model_, validation_);
    r.best = best_params_.empty() || r.validation.accuracy > best_.validation.accuracy ||
             (r.validation.accuracy == best_.validation.accuracy &&
              r.validation.loss < best_.validation.loss);
    r.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (r.best) keep_best(r);
    on_epoch(r);
  }
  const std::vector<nn::Parameter> params = model_.parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    std::copy(best_params_[i].begin(), best_params_[i].end(), params[i].value);
  }
}

}  // namespace attn::train
