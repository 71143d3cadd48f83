// `attn seq2seq`: grapheme-to-phoneme conversion with an encoder–decoder transformer trained on
// the CMU Pronouncing Dictionary (data/cmudict/).
//   train    trains (progress lines or JSON lines), saves the checkpoint, scores the test words
//   eval     scores a checkpoint on the test words (greedy or beam search)
//   predict  the phonemes of one word
#include <unistd.h>

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
#include "attn/core/error.h"
#include "attn/train/progress.h"
#include "commands.h"

namespace attn::cli {

namespace {

struct Seq2SeqArgs {
  std::string data = ATTN_DEFAULT_CMUDICT_DIR;
  std::string out;
  std::string model;
  std::string word;
  std::optional<int64_t> steps;
  std::optional<double> time_limit;
  std::optional<uint64_t> seed;
  int64_t beam = 1;
  bool json = false;
};

apps::G2pSplit read_split(const std::string& dir, const model::Seq2SeqConfig& c) {
  return apps::split_entries(apps::read_cmudict(dir + "/cmudict.txt", apps::G2pVocab::cmudict(),
                                                c.max_source_len, c.max_target_len - 1));
}

std::string decoding_name(int64_t beam) {
  return beam <= 1 ? "greedy" : "beam " + std::to_string(beam);
}

void check_beam(int64_t beam) {
  ATTN_CHECK(beam >= 1 && beam <= 64, "--beam must be in [1, 64], got ", beam);
}

// Prints the score: one JSON object, or one line.
void print_score(const apps::G2pScore& s, int64_t beam, bool json, nlohmann::ordered_json j) {
  if (json) {
    j["decoding"] = decoding_name(beam);
    j["test_words"] = s.words;
    j["phoneme_error_rate"] = s.phoneme_error_rate();
    j["word_accuracy"] = s.word_accuracy();
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%lld test words, %s: phoneme error rate %.4f, word accuracy %.4f\n",
                static_cast<long long>(s.words), decoding_name(beam).c_str(),
                s.phoneme_error_rate(), s.word_accuracy());
  }
  std::fflush(stdout);
}

void run_train(const Seq2SeqArgs& a) {
  const model::Seq2SeqConfig config;
  train::TrainOptions options = apps::default_g2p_options();
  if (a.steps) options.steps = *a.steps;
  if (a.time_limit) options.time_limit = *a.time_limit;
  if (a.seed) options.seed = *a.seed;
  ATTN_CHECK(options.steps > 0, "--steps must be positive, got ", options.steps);
  check_beam(a.beam);
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
  if (!a.json) {
    std::printf("trained %lld steps in %.0fs (%.0f phonemes/s)%s%s\n",
                static_cast<long long>(trainer.step()), train_s, last.tokens_per_s,
                a.out.empty() ? "" : "; saved ", a.out.c_str());
  }
  print_score(score, a.beam, a.json,
              {{"done", true},
               {"step", trainer.step()},
               {"train_s", train_s},
               {"tokens_per_s", last.tokens_per_s}});
}

void run_eval(const Seq2SeqArgs& a) {
  check_beam(a.beam);
  apps::G2pModel g2p = apps::G2pModel::load(a.model);
  const apps::G2pSplit split = read_split(a.data, g2p.model().config());
  const auto start = std::chrono::steady_clock::now();
  const apps::G2pScore score = apps::evaluate_g2p(g2p.model(), g2p.vocab(), split.test, a.beam);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  print_score(score, a.beam, a.json, {{"eval_s", seconds}});
}

void run_predict(const Seq2SeqArgs& a) {
  check_beam(a.beam);
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
  train->add_option("--out", args->out, "checkpoint to write (.safetensors)");
  train->add_option("--steps", args->steps, "training steps (default 2000)");
  train->add_option("--time-limit", args->time_limit, "stop (and save) after this many seconds");
  train->add_option("--seed", args->seed, "seed of initialisation and batch order");
  train->add_option("--beam", args->beam, "beam width of the final scoring (1 = greedy)");
  train->add_flag("--json", args->json, "one JSON object per step, the score last");
  train->callback([args] { run_train(*args); });

  CLI::App* eval = cmd->add_subcommand("eval", "Score a checkpoint on the held-out test words");
  eval->add_option("--model", args->model, "checkpoint of `attn seq2seq train`")->required();
  eval->add_option("--beam", args->beam, "beam width (1 = greedy)");
  eval->add_flag("--json", args->json, "the score as one JSON object");

  CLI::App* predict = cmd->add_subcommand("predict", "The phonemes of one word");
  predict->add_option("--model", args->model, "checkpoint of `attn seq2seq train`")->required();
  predict->add_option("--word", args->word, "a word of letters a-z")->required();
  predict->add_option("--beam", args->beam, "beam width (1 = greedy)");
  predict->callback([args] { run_predict(*args); });

  for (CLI::App* sub : {train, eval}) {
    sub->add_option("--data", args->data, "directory of cmudict.txt")->capture_default_str();
  }
  eval->callback([args] { run_eval(*args); });
}

}  // namespace attn::cli
