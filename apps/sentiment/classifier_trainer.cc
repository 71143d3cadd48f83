#include "apps/sentiment/classifier_trainer.h"

#include <algorithm>

#include "attn/core/error.h"
#include "attn/io/checkpoint.h"
#include "attn/model/word_tokenizer.h"
#include "attn/nn/random.h"
#include "attn/train/cross_entropy.h"

namespace attn::apps {

namespace {

using Field = ConfigField<ClassifierTrainOptions>;
const Field kFields[] = {
    {"batch", &ClassifierTrainOptions::batch, 1, 4096},
    {"epochs", &ClassifierTrainOptions::epochs, 1},
    {"steps", &ClassifierTrainOptions::steps, 0},
    {.name = "lr", .member = &ClassifierTrainOptions::lr, .min = 0, .min_exclusive = true},
    {"min_lr", &ClassifierTrainOptions::min_lr, 0},
    {"warmup", &ClassifierTrainOptions::warmup, 0},
    {"weight_decay", &ClassifierTrainOptions::weight_decay, 0},
    {"clip", &ClassifierTrainOptions::clip},
    {"seed", &ClassifierTrainOptions::seed},
};

// Sentences order[first, first + n) as a batch padded to the longest: tokens [n, T].
struct Batch {
  std::vector<int32_t> tokens;
  std::vector<int64_t> lengths;
  std::vector<int32_t> labels;
  int64_t len = 0;
  int64_t words = 0;
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
    b.words += static_cast<int64_t>(s.ids.size());
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

int64_t epoch_steps(size_t sentences, int64_t batch) {
  return (static_cast<int64_t>(sentences) + batch - 1) / batch;
}

}  // namespace

std::string ClassifierTrainOptions::to_json() const { return config_to_json(*this, kFields); }

ClassifierTrainOptions ClassifierTrainOptions::from_json(const std::string& text,
                                                         ClassifierTrainOptions defaults) {
  return config_from_json(text, kFields, defaults, "training options");
}

void validate(const ClassifierTrainOptions& o) {
  check_config_ranges(o, kFields, "training options");
}

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
    train::CrossEntropyLoss loss;
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
      steps_per_epoch_(epoch_steps(train.size(), std::max<int64_t>(options.batch, 1))),
      total_steps_(options.steps > 0 ? options.steps : options.epochs * steps_per_epoch_),
      loop_(*this, loop_options()) {
  validate(options);
  ATTN_CHECK(!train.empty() && !validation.empty(),
             "classifier training needs training and validation sentences");
}

train::LoopOptions ClassifierTrainer::loop_options() const {
  train::LoopOptions o;
  o.steps = std::max<int64_t>(total_steps_, 1);
  o.lr = options_.lr, o.min_lr = options_.min_lr, o.warmup = options_.warmup;
  o.clip = options_.clip;
  o.adamw = {.beta1 = 0.9f, .beta2 = 0.98f, .eps = 1e-8f, .weight_decay = options_.weight_decay};
  o.eval_interval = std::max<int64_t>(steps_per_epoch_, 1);  // after every epoch
  o.keep_best = true;
  return o;
}

int64_t ClassifierTrainer::best_epoch() const {
  return train::epoch_of(best().step, steps_per_epoch_);
}

const std::vector<size_t>& ClassifierTrainer::epoch_order(int64_t epoch) {
  if (epoch != order_epoch_) {
    order_ = shuffled_order(train_.size(), options_.seed, epoch);
    order_epoch_ = epoch;
  }
  return order_;
}

train::StepLoss ClassifierTrainer::train_step(int64_t step, train::BatchPart) {
  const std::vector<size_t>& order = epoch_order(step / steps_per_epoch_);
  const size_t first = static_cast<size_t>((step % steps_per_epoch_) * options_.batch);
  const size_t n = std::min(order.size() - first, static_cast<size_t>(options_.batch));
  const Batch b = make_batch(train_, order, first, n);
  Tensor logits = model_.forward(b.tokens, b.lengths, static_cast<int64_t>(n), b.len,
                                 /*training=*/true, static_cast<uint64_t>(step));
  train::CrossEntropyLoss loss;
  const float value = loss.forward(logits, b.labels);
  loss.backward_in_place(logits);
  model_.backward(logits);
  return {value, b.words};
}

train::Evaluation ClassifierTrainer::evaluate() {
  const ClassifierEval e = evaluate_classifier(model_, validation_);
  return {e.loss, e.accuracy};
}

Metadata ClassifierTrainer::checkpoint_metadata() {
  return {
      {"kind", "classifier"}, {"config", model_.config().to_json()}, {"train", options_.to_json()}};
}

void ClassifierTrainer::restore(const SafetensorsFile& file, const std::string& path) {
  expect_kind(file, "classifier", path);
  ATTN_CHECK(file.meta("config") == model_.config().to_json(), path,
             ": the checkpoint's classifier config differs from the run's");
}

}  // namespace attn::apps
