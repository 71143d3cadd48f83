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

#include "apps/sentiment/classifier_trainer.h"
#include "apps/sentiment/sentiment_data.h"
#include "attn/core/data_path.h"
#include "attn/core/error.h"
#include "attn/model/text_classifier.h"
#include "attn/train/progress.h"
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
apps::SentimentSplit load_split(const std::string& data) {
  return apps::load_sentiment(data.empty() ? data_path("sentiment") : data);
}

constexpr int64_t kMinWordCount = 2;  // rarer training words are <unk>

// The model and training options: the defaults, then the config file, then the flags.
std::pair<model::ClassifierConfig, apps::ClassifierTrainOptions> resolve(
    const ClassifyTrainArgs& a) {
  model::ClassifierConfig config;
  apps::ClassifierTrainOptions options;
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
        options = apps::ClassifierTrainOptions::from_json(j["train"].dump(), options);
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

std::vector<apps::EncodedSentence> encode_all(const model::TextClassifier& classifier,
                                              const std::vector<apps::LabelledSentence>& part) {
  std::vector<apps::EncodedSentence> out;
  for (const apps::LabelledSentence& s : part) {
    try {
      out.push_back({classifier.encode(s.words), s.label});
    } catch (const Error& e) {
      throw Error("data sentence '" + s.text.substr(0, 40) + "…': " + e.what());
    }
  }
  return out;
}

void run_classify_train(const ClassifyTrainArgs& a) {
  use_threads(a.threads);
  const Reporter out(a.json);
  const apps::SentimentSplit split = load_split(a.data);
  std::vector<std::vector<std::string>> words;
  for (const apps::LabelledSentence& s : split.train) words.push_back(s.words);
  const auto [config, options] = resolve(a);
  model::TextClassifier classifier(model::WordVocabulary::build(words, kMinWordCount),
                                   apps::sentiment_labels(), config, a.seed);
  const auto train_set = encode_all(classifier, split.train);
  const auto val_set = encode_all(classifier, split.validation);
  const auto test_set = encode_all(classifier, split.test);
  apps::ClassifierTrainer trainer(classifier.model(), options, train_set, val_set);
  train::ProgressPrinter progress({.total_steps = trainer.total_steps(),
                                   .json = a.json,
                                   .json_every_step = false,
                                   .steps_per_epoch = trainer.steps_per_epoch(),
                                   .tokens_name = "words"});
  trainer.run([&](const train::StepReport& r) { progress(r); });
  progress.finish();
  const double train_s = progress.last().elapsed_s;
  const apps::ClassifierEval test = apps::evaluate_classifier(classifier.model(), test_set);
  const double best_accuracy = trainer.best().eval->accuracy.value_or(0.0);
  const std::string pooling = model::pooling_name(config.pooling);
  classifier.save(a.out, {{"train", options.to_json()},
                          {"best_epoch", std::to_string(trainer.best_epoch())},
                          {"test_accuracy", std::to_string(test.accuracy)}});
  out.result({{"done", true},
              {"accuracy", test.accuracy},
              {"loss", test.loss},
              {"sentences", test.count},
              {"pooling", pooling},
              {"val_accuracy", best_accuracy},
              {"best_epoch", trainer.best_epoch()},
              {"steps", trainer.total_steps()},
              {"train_s", train_s},
              {"vocab_size", classifier.vocabulary().size()},
              {"model", a.out}},
             format("held-out accuracy %.4f on %lld sentences (%s pooling; best epoch %lld, "
                    "val_accuracy %.4f); trained in %s; saved %s",
                    test.accuracy, static_cast<long long>(test.count), pooling.c_str(),
                    static_cast<long long>(trainer.best_epoch()), best_accuracy,
                    train::duration_text(train_s).c_str(), a.out.c_str()));
}

void run_classify_eval(const ClassifyUseArgs& a) {
  use_threads(a.threads);
  model::TextClassifier classifier = model::TextClassifier::load(a.model);
  const apps::SentimentSplit split = load_split(a.data);
  const apps::ClassifierEval test =
      apps::evaluate_classifier(classifier.model(), encode_all(classifier, split.test));
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
