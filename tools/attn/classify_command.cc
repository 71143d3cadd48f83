// `attn classify train|eval|predict`: sentiment classification of sentences with a small
// Transformer encoder and attention (or mean) pooling, trained on data/sentiment/.
//
//   train    trains on the training split with early stopping on the validation split, then
//            reports the accuracy on the held-out test split and writes the checkpoint
//   eval     the accuracy of a checkpoint on the held-out test split
//   predict  the label of one sentence and each word's pooling weight
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "attn/core/data_path.h"
#include "attn/core/error.h"
#include "attn/model/text_classifier.h"
#include "attn/train/classifier_trainer.h"
#include "attn/train/sentiment_data.h"
#include "cli_kit.h"
#include "commands.h"

namespace attn::cli {

namespace {

struct ClassifyTrainArgs {
  std::string data;  // empty: sentiment/ of the data folder
  std::string out;
  std::string config;  // JSON file: {"model": {...}, "train": {...}}
  std::optional<std::string> pooling;
  std::optional<int64_t> epochs, steps;
  uint64_t seed = 1;
  int threads = 0;
  bool json = false;
};

struct ClassifyUseArgs {
  std::string model;
  std::string data;  // empty: sentiment/ of the data folder
  std::string text;
  int threads = 0;
  bool json = false;
};

// --data, or the sentiment sentences of the data folder.
train::SentimentSplit load_split(const std::string& data) {
  return train::load_sentiment(data.empty() ? data_path("sentiment") : data);
}

constexpr int64_t kMinWordCount = 2;  // rarer training words are <unk>

// The model and training options: the defaults, then the config file, then the flags.
std::pair<model::ClassifierConfig, train::ClassifierTrainOptions> resolve(
    const ClassifyTrainArgs& a) {
  model::ClassifierConfig config;
  train::ClassifierTrainOptions options;
  if (!a.config.empty()) {
    std::ifstream in(a.config);
    ATTN_CHECK(in.good(), a.config, ": cannot open the config file");
    const nlohmann::json j = nlohmann::json::parse(
        std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()), nullptr,
        false);
    ATTN_CHECK(j.is_object(), a.config, ": not a JSON object");
    try {
      if (j.contains("model")) config = model::ClassifierConfig::from_json(j["model"].dump());
      if (j.contains("train")) {
        options = train::ClassifierTrainOptions::from_json(j["train"].dump(), options);
      }
    } catch (const Error& e) {
      throw Error(a.config + ": " + e.what());
    }
  }
  if (a.pooling) config.pooling = model::parse_pooling(*a.pooling);
  options.seed = a.seed;
  if (a.epochs) options.epochs = *a.epochs;
  if (a.steps) options.steps = *a.steps;
  ATTN_CHECK(options.epochs > 0 && options.steps >= 0 && (!a.steps || *a.steps > 0),
             "--epochs and --steps must be positive");
  return {config, options};
}

std::vector<train::EncodedSentence> encode_all(const model::TextClassifier& classifier,
                                               const std::vector<train::LabelledSentence>& part) {
  std::vector<train::EncodedSentence> out;
  for (const train::LabelledSentence& s : part) {
    try {
      out.push_back({classifier.encode(s.words), s.label});
    } catch (const Error& e) {
      throw Error("data sentence '" + s.text.substr(0, 40) + "…': " + e.what());
    }
  }
  return out;
}

// One epoch: a JSON line on stdout, or a line of progress on stderr.
void report_epoch(const Reporter& out, const train::EpochReport& r, int64_t total_steps) {
  if (out.json()) {
    return out.json_line({{"epoch", r.epoch},
                          {"step", r.step},
                          {"loss", r.loss},
                          {"val_accuracy", r.validation.accuracy},
                          {"val_loss", r.validation.loss},
                          {"best", r.best},
                          {"elapsed_s", r.elapsed_s}});
  }
  progress(format("epoch %lld  step %lld/%lld  loss %.4f  val_accuracy %.4f  val_loss %.4f  %s%s\n",
                  static_cast<long long>(r.epoch), static_cast<long long>(r.step),
                  static_cast<long long>(total_steps), r.loss, r.validation.accuracy,
                  r.validation.loss, duration_text(r.elapsed_s).c_str(), r.best ? "  best" : ""));
}

void run_classify_train(const ClassifyTrainArgs& a) {
  use_threads(a.threads);
  const Reporter out(a.json);
  const train::SentimentSplit split = load_split(a.data);
  std::vector<std::vector<std::string>> words;
  for (const train::LabelledSentence& s : split.train) words.push_back(s.words);
  const auto [config, options] = resolve(a);
  model::TextClassifier classifier(model::WordVocabulary::build(words, kMinWordCount),
                                   train::sentiment_labels(), config, a.seed);
  const auto train_set = encode_all(classifier, split.train);
  const auto val_set = encode_all(classifier, split.validation);
  const auto test_set = encode_all(classifier, split.test);
  train::ClassifierTrainer trainer(classifier.model(), options, train_set, val_set);
  double train_s = 0.0;
  trainer.run([&](const train::EpochReport& r) {
    report_epoch(out, r, trainer.total_steps());
    train_s = r.elapsed_s;
  });
  const train::ClassifierEval test = train::evaluate_classifier(classifier.model(), test_set);
  const train::EpochReport& best = trainer.best();
  const std::string pooling = model::pooling_name(config.pooling);
  classifier.save(a.out, {{"train", options.to_json()},
                          {"best_epoch", std::to_string(best.epoch)},
                          {"test_accuracy", std::to_string(test.accuracy)}});
  out.result({{"done", true},
              {"accuracy", test.accuracy},
              {"loss", test.loss},
              {"sentences", test.count},
              {"pooling", pooling},
              {"val_accuracy", best.validation.accuracy},
              {"best_epoch", best.epoch},
              {"steps", trainer.total_steps()},
              {"train_s", train_s},
              {"vocab_size", classifier.vocabulary().size()},
              {"model", a.out}},
             format("held-out accuracy %.4f on %lld sentences (%s pooling; best epoch %lld, "
                    "val_accuracy %.4f); trained in %s; saved %s",
                    test.accuracy, static_cast<long long>(test.count), pooling.c_str(),
                    static_cast<long long>(best.epoch), best.validation.accuracy,
                    duration_text(train_s).c_str(), a.out.c_str()));
}

void run_classify_eval(const ClassifyUseArgs& a) {
  use_threads(a.threads);
  model::TextClassifier classifier = model::TextClassifier::load(a.model);
  const train::SentimentSplit split = load_split(a.data);
  const train::ClassifierEval test =
      train::evaluate_classifier(classifier.model(), encode_all(classifier, split.test));
  const std::string pooling = model::pooling_name(classifier.model().config().pooling);
  Reporter(a.json).result(
      {{"accuracy", test.accuracy},
       {"loss", test.loss},
       {"sentences", test.count},
       {"pooling", pooling}},
      format("held-out accuracy %.4f on %lld sentences (%s pooling), loss %.4f", test.accuracy,
             static_cast<long long>(test.count), pooling.c_str(), test.loss));
}

void run_classify_predict(const ClassifyUseArgs& a) {
  use_threads(a.threads);
  model::TextClassifier classifier = model::TextClassifier::load(a.model);
  const model::Prediction p = classifier.predict(a.text);
  const float probability = p.probabilities[static_cast<size_t>(p.label)];
  std::string text = format("%s %.4f", p.label_name.c_str(), probability);
  for (size_t i = 0; i < p.words.size(); ++i) {
    text += format("\n  %-16s %.4f", p.words[i].c_str(), p.weights[i]);
  }
  Reporter(a.json).result({{"label", p.label_name},
                           {"probability", probability},
                           {"words", p.words},
                           {"weights", p.weights}},
                          text);
}

const std::string kDataHelp =
    "folder of imdb.tsv, amazon.tsv, yelp.tsv (default: sentiment/, data folder)";

void add_train(CLI::App& classify) {
  auto args = std::make_shared<ClassifyTrainArgs>();
  CLI::App* cmd = classify.add_subcommand(
      "train", "Train on the training split, then report the held-out accuracy");
  add_out_option(*cmd, args->out, "checkpoint to write (.safetensors)");
  one_of(cmd->add_option("--pooling", args->pooling, "default attention"), {"attention", "mean"});
  cmd->add_option("--config", args->config, "JSON file {\"model\": {...}, \"train\": {...}}");
  cmd->add_option("--data", args->data, kDataHelp);
  CLI::Option* epochs = at_least(
      cmd->add_option("--epochs", args->epochs, "passes over the training split (default 10)"), 1);
  at_least(cmd->add_option("--steps", args->steps, "training steps instead of epochs"), 1)
      ->excludes(epochs);
  add_seed_option(*cmd, args->seed, "seed of initialisation, order and dropout")
      ->capture_default_str();
  add_threads_option(*cmd, args->threads);
  add_json_flag(*cmd, args->json, "one JSON object per epoch, then one with the accuracy");
  cmd->callback([args] { run_classify_train(*args); });
}

void add_eval(CLI::App& classify) {
  auto args = std::make_shared<ClassifyUseArgs>();
  CLI::App* cmd = classify.add_subcommand("eval", "Accuracy on the held-out split");
  add_model_option(*cmd, args->model, "classifier checkpoint");
  cmd->add_option("--data", args->data, kDataHelp);
  add_threads_option(*cmd, args->threads);
  add_json_flag(*cmd, args->json, "one JSON object");
  cmd->callback([args] { run_classify_eval(*args); });
}

void add_predict(CLI::App& classify) {
  auto args = std::make_shared<ClassifyUseArgs>();
  CLI::App* cmd = classify.add_subcommand("predict", "Label of one sentence, weight of each word");
  add_model_option(*cmd, args->model, "classifier checkpoint");
  cmd->add_option("--text", args->text, "the sentence")->required();
  add_threads_option(*cmd, args->threads);
  add_json_flag(*cmd, args->json, "one JSON object");
  cmd->callback([args] { run_classify_predict(*args); });
}

}  // namespace

void add_classify_command(CLI::App& app) {
  CLI::App* classify = app.add_subcommand(
      "classify", "Sentiment of sentences: a Transformer with attention pooling");
  classify->require_subcommand(1);
  add_train(*classify);
  add_eval(*classify);
  add_predict(*classify);
}

}  // namespace attn::cli
