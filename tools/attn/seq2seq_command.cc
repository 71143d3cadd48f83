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

#include "attn/core/error.h"
#include "attn/model/g2p_model.h"
#include "attn/train/cmudict.h"
#include "attn/train/g2p_eval.h"
#include "attn/train/seq2seq_trainer.h"
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

// The default run: about 6 minutes on 2 cores; the time limit is a safety net.
train::TrainOptions default_options() {
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

train::G2pSplit read_split(const std::string& dir, const model::Seq2SeqConfig& c) {
  return train::split_entries(train::read_cmudict(dir + "/cmudict.txt", model::G2pVocab::cmudict(),
                                                  c.max_source_len, c.max_target_len - 1));
}

std::string decoding_name(int64_t beam) {
  return beam <= 1 ? "greedy" : "beam " + std::to_string(beam);
}

void check_beam(int64_t beam) {
  ATTN_CHECK(beam >= 1 && beam <= 64, "--beam must be in [1, 64], got ", beam);
}

// Prints the score: one JSON object, or one line.
void print_score(const train::G2pScore& s, int64_t beam, bool json, nlohmann::ordered_json j) {
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

void report_step(const Seq2SeqArgs& a, const train::StepReport& r, int64_t total) {
  if (a.json) {
    nlohmann::ordered_json j = {{"step", r.step}, {"loss", r.loss}, {"lr", r.lr}};
    if (r.val_loss) j["val_loss"] = *r.val_loss;
    std::printf("%s\n", j.dump().c_str());
  } else if (r.val_loss) {
    std::printf("step %lld/%lld loss %.4f val_loss %.4f phonemes/s %.0f elapsed %.0fs\n",
                static_cast<long long>(r.step), static_cast<long long>(total), r.loss, *r.val_loss,
                r.tokens_per_s, r.elapsed_s);
  }
  std::fflush(stdout);
}

void run_train(const Seq2SeqArgs& a) {
  const model::Seq2SeqConfig config;
  train::TrainOptions options = default_options();
  if (a.steps) options.steps = *a.steps;
  if (a.time_limit) options.time_limit = *a.time_limit;
  if (a.seed) options.seed = *a.seed;
  ATTN_CHECK(options.steps > 0, "--steps must be positive, got ", options.steps);
  check_beam(a.beam);
  train::G2pSplit split = read_split(a.data, config);
  const std::vector<train::G2pEntry> test = split.test;
  ATTN_CHECK(!test.empty(), a.data, ": no test words in the dictionary");
  const model::G2pVocab vocab = model::G2pVocab::cmudict();
  train::Seq2SeqTrainer trainer(config, options, vocab, std::move(split.train), split.test);
  const auto start = std::chrono::steady_clock::now();
  train::StepReport last;
  trainer.run(a.out, [&](const train::StepReport& r) {
    report_step(a, r, options.steps);
    last = r;
  });
  const double train_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const train::G2pScore score = train::evaluate_g2p(trainer.model(), vocab, test, a.beam);
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
  model::G2pModel g2p = model::G2pModel::load(a.model);
  const train::G2pSplit split = read_split(a.data, g2p.model().config());
  const auto start = std::chrono::steady_clock::now();
  const train::G2pScore score = train::evaluate_g2p(g2p.model(), g2p.vocab(), split.test, a.beam);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  print_score(score, a.beam, a.json, {{"eval_s", seconds}});
}

void run_predict(const Seq2SeqArgs& a) {
  check_beam(a.beam);
  model::G2pModel g2p = model::G2pModel::load(a.model);
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
