// `attn generate`: text from a trained GPT checkpoint, or token ids from a Llama checkpoint
// (llama2.c format).
#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "attn/core/error.h"
#include "attn/infer/sampler.h"
#include "attn/io/npy.h"
#include "attn/io/safetensors.h"
#include "attn/model/byte_tokenizer.h"
#include "attn/model/gpt_generator.h"
#include "attn/model/llama.h"
#include "cli_kit.h"
#include "commands.h"

namespace attn::cli {

namespace {

struct GenerateArgs {
  std::string model;
  std::string prompt;
  std::string prompt_ids;  // "1,2,3"
  int64_t tokens = 200;
  bool ids = false;
  std::string dump_logits;
  int threads = 0;
  infer::SamplerOptions sampler;
};

std::vector<int32_t> parse_ids(const std::string& text) {
  std::vector<int32_t> ids;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    size_t used = 0;
    long long id = -1;
    try {
      id = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    check_usage(used == item.size() && !item.empty() && id >= 0 && id < (1ll << 31),
                "--prompt-ids: '", item, "' is not a token id");
    ids.push_back(static_cast<int32_t>(id));
  }
  return ids;
}

void generate_text(const GenerateArgs& a) {
  check_usage(a.prompt_ids.empty() && !a.ids && a.dump_logits.empty(),
              "--prompt-ids, --ids and --dump-logits are for token-id models, not this GPT");
  const std::vector<int32_t> prompt = encode_bytes(a.prompt);  // throws on invalid UTF-8
  model::GptGenerator generator = model::GptGenerator::load(a.model);
  const infer::Sampler sampler(a.sampler);
  Utf8Decoder decoder;
  std::fputs(a.prompt.c_str(), stdout);
  generator.generate(prompt, a.tokens, sampler, [&](int32_t token) {
    std::fputs(decoder.push(token).c_str(), stdout);
    std::fflush(stdout);
  });
  std::printf("%s\n", decoder.flush().c_str());
  std::fflush(stdout);
  progress(format("generated %lld tokens, %.1f tokens/s\n", static_cast<long long>(a.tokens),
                  generator.last_tokens_per_s()));
}

void generate_ids(const GenerateArgs& a) {
  check_usage(a.prompt.empty(), "--prompt: this model takes token ids (--prompt-ids 1,2,3)");
  const auto model = model::Llama::load(a.model);
  const int64_t vocab = model->config().vocab_size, context = model->config().seq_len;
  std::vector<int32_t> prompt =
      a.prompt_ids.empty() ? std::vector<int32_t>{1} : parse_ids(a.prompt_ids);
  ATTN_CHECK(static_cast<int64_t>(prompt.size()) <= context, "the prompt has ", prompt.size(),
             " tokens, more than the model's context of ", context);
  const int64_t count = std::min<int64_t>(a.tokens, context - static_cast<int64_t>(prompt.size()));
  const infer::Sampler sampler(a.sampler);
  std::vector<float> dumped;
  auto start = std::chrono::steady_clock::now();
  bool prefilled = false;
  const std::vector<int32_t> out =
      model->generate(prompt, count, sampler, KvDtype::kF32, [&](const Tensor& logits) {
        if (!prefilled) start = std::chrono::steady_clock::now();  // tokens/s after the prefill
        prefilled = true;
        if (!a.dump_logits.empty()) {
          dumped.insert(dumped.end(), logits.data(), logits.data() + logits.size());
        }
      });
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (size_t i = 0; i < out.size(); ++i) std::printf(i ? " %d" : "%d", out[i]);
  std::printf("\n");
  std::fflush(stdout);
  if (!a.dump_logits.empty()) {
    write_npy(a.dump_logits, dumped.data(), {static_cast<int64_t>(dumped.size()) / vocab, vocab});
  }
  progress(format("generated %zu tokens, %.1f tokens/s%s\n", out.size(),
                  static_cast<double>(out.size()) / std::max(s, 1e-9),
                  count < a.tokens ? " (stopped at the model's context)" : ""));
}

// Safetensors checkpoints are GPTs (another kind is rejected by name when loaded; a broken one
// as a corrupt safetensors file); anything else is read as a llama2.c model.
void run_generate(const GenerateArgs& a) {
  infer::validate(a.sampler);
  use_threads(a.threads);
  if (looks_like_safetensors(a.model)) return generate_text(a);
  generate_ids(a);
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto args = std::make_shared<GenerateArgs>();
  CLI::App* cmd = app.add_subcommand(
      "generate", "Generate with a model: text (GPT checkpoints) or token ids (Llama checkpoints)");
  add_model_option(*cmd, args->model, "checkpoint: .safetensors or llama2.c .bin");
  cmd->add_option("--prompt", args->prompt, "UTF-8 text to continue (GPT)");
  cmd->add_option("--prompt-ids", args->prompt_ids, "token ids to continue, e.g. 1,2,3 (Llama)");
  at_least(cmd->add_option("--tokens", args->tokens, "tokens to generate")->capture_default_str(),
           0);
  at_least(finite(cmd->add_option("--temperature", args->sampler.temperature, "0 = greedy")
                      ->capture_default_str()),
           0);
  at_least(
      cmd->add_option("--top-k", args->sampler.top_k, "keep the k most likely tokens (0 = all)"),
      0);
  cmd->add_option("--top-p", args->sampler.top_p, "nucleus sampling threshold (1 = off)");
  add_seed_option(*cmd, args->sampler.seed, "seed of the sampler");
  add_threads_option(*cmd, args->threads);
  cmd->add_flag("--ids", args->ids, "print the generated token ids (Llama)");
  cmd->add_option("--dump-logits", args->dump_logits, "write float32 [T, vocab] logits (.npy)");
  cmd->callback([args] { run_generate(*args); });
}

}  // namespace attn::cli
