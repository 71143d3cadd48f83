// `attn seq2seq`: grapheme-to-phoneme conversion with an encoder–decoder transformer trained on
// the CMU Pronouncing Dictionary (data/cmudict/).
//   train    trains (progress lines on stderr, or JSON lines), saves the checkpoint, scores the
//            test words
//   eval     scores a checkpoint on the test words (greedy or beam search)
//   predict  the phonemes of one word
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "apps/g2p/cmudict.h"
#include "apps/g2p/g2p_eval.h"
#include "apps/g2p/g2p_model.h"
#include "apps/g2p/seq2seq_trainer.h"
#include "attn/core/data_path.h"
#include "attn/core/error.h"
#include "attn/train/progress.h"
#include "cli_kit.h"
#include "commands.h"

namespace attn::cli {

namespace {

struct Seq2SeqArgs {
  std::string data;  // empty: cmudict/ of the data folder
  std::string out;
  std::string model;
  std::string word;
  std::optional<int64_t> steps;
  std::optional<double> time_limit;
  std::optional<uint64_t> seed;
  int64_t beam = 1;
  int threads = 0;
  bool json = false;
};

// The dictionary of --data, or of the data folder's cmudict/.
apps::G2pSplit read_split(const std::string& data, const model::Seq2SeqConfig& c) {
  const std::string dir = data.empty() ? data_path("cmudict") : data;
  return apps::split_entries(apps::read_cmudict(dir + "/cmudict.txt", apps::G2pVocab::cmudict(),
                                                c.max_source_len, c.max_target_len - 1));
}

std::string decoding_name(int64_t beam) {
  return beam <= 1 ? "greedy" : "beam " + std::to_string(beam);
}

// Prints the score: one JSON object (`j` and the score's fields), or one line.
void print_score(const apps::G2pScore& s, int64_t beam, bool json, nlohmann::ordered_json j) {
  j["decoding"] = decoding_name(beam);
  j["test_words"] = s.words;
  j["phoneme_error_rate"] = s.phoneme_error_rate();
  j["word_accuracy"] = s.word_accuracy();
  const std::string text =
      format("%lld test words, %s: phoneme error rate %.4f, word accuracy %.4f",
             static_cast<long long>(s.words), decoding_name(beam).c_str(), s.phoneme_error_rate(),
             s.word_accuracy());
  Reporter(json).result(j, text);
}

void run_train(const Seq2SeqArgs& a) {
  use_threads(a.threads);
  const model::Seq2SeqConfig config;
  train::TrainOptions options = apps::default_g2p_options();
  if (a.steps) options.steps = *a.steps;
  if (a.time_limit) options.time_limit = *a.time_limit;
  if (a.seed) options.seed = *a.seed;
  ATTN_CHECK(options.steps > 0, "--steps must be positive, got ", options.steps);
  apps::G2pSplit split = read_split(a.data, config);
  const std::vector<apps::G2pEntry> test = split.test;
  ATTN_CHECK(!test.empty(), a.data, ": no test words in the dictionary");
  const apps::G2pVocab vocab = apps::G2pVocab::cmudict();
  apps::Seq2SeqTrainer trainer(config, options, vocab, std::move(split.train), split.test);
  const auto start = std::chrono::steady_clock::now();
  train::ProgressPrinter progress(
      {.total_steps = options.steps, .json = a.json, .tokens_name = "phonemes"});
  trainer.run(a.out, [&](const train::StepReport& r) { progress(r); });
  progress.finish();
  const train::StepReport& last = progress.last();
  const double train_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const apps::G2pScore score = apps::evaluate_g2p(trainer.model(), vocab, test, a.beam);
  Reporter(a.json).text_line(format(
      "trained %lld steps in %.0fs (%.0f phonemes/s)%s%s", static_cast<long long>(trainer.step()),
      train_s, last.tokens_per_s, a.out.empty() ? "" : "; saved ", a.out.c_str()));
  print_score(score, a.beam, a.json,
              {{"done", true},
               {"step", trainer.step()},
               {"train_s", train_s},
               {"tokens_per_s", last.tokens_per_s}});
}

void run_eval(const Seq2SeqArgs& a) {
  use_threads(a.threads);
  apps::G2pModel g2p = apps::G2pModel::load(a.model);
  const apps::G2pSplit split = read_split(a.data, g2p.model().config());
  const auto start = std::chrono::steady_clock::now();
  const apps::G2pScore score = apps::evaluate_g2p(g2p.model(), g2p.vocab(), split.test, a.beam);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  print_score(score, a.beam, a.json, {{"eval_s", seconds}});
}

void run_predict(const Seq2SeqArgs& a) {
  use_threads(a.threads);
  apps::G2pModel g2p = apps::G2pModel::load(a.model);
  std::string line;
  for (const std::string& p : g2p.predict(a.word, a.beam)) line += (line.empty() ? "" : " ") + p;
  std::printf("%s\n", line.c_str());
}

}  // namespace

void add_seq2seq_command(CLI::App& app) {
  auto args = std::make_shared<Seq2SeqArgs>();
  CLI::App* cmd = app.add_subcommand(
      "seq2seq", "Grapheme to phoneme: an encoder-decoder transformer on the CMU dictionary");
  cmd->require_subcommand(1);

  CLI::App* train = cmd->add_subcommand("train", "Train, then score the held-out test words");
  add_out_option(*train, args->out, "checkpoint to write (.safetensors)", Need::kOptional);
  at_least(train->add_option("--steps", args->steps, "training steps (default 2000)"), 1);
  at_least(train->add_option("--time-limit", args->time_limit,
                             "stop (and save) after this many seconds"),
           0);
  add_seed_option(*train, args->seed, "seed of initialisation and batch order");
  add_json_flag(*train, args->json, "one JSON object per step, the score last");
  train->callback([args] { run_train(*args); });

  CLI::App* eval = cmd->add_subcommand("eval", "Score a checkpoint on the held-out test words");
  add_model_option(*eval, args->model, "checkpoint of `attn seq2seq train`");
  add_json_flag(*eval, args->json, "the score as one JSON object");

  CLI::App* predict = cmd->add_subcommand("predict", "The phonemes of one word");
  add_model_option(*predict, args->model, "checkpoint of `attn seq2seq train`");
  predict->add_option("--word", args->word, "a word of letters a-z")->required();
  predict->callback([args] { run_predict(*args); });

  for (CLI::App* sub : {train, eval, predict}) {
    in_range(sub->add_option("--beam", args->beam, "beam width (1 = greedy)"), 1, 64);
    add_threads_option(*sub, args->threads);
  }
  for (CLI::App* sub : {train, eval}) {
    sub->add_option("--data", args->data,
                    "directory of cmudict.txt (default: cmudict/, data folder)");
  }
  eval->callback([args] { run_eval(*args); });
}

}  // namespace attn::cli
