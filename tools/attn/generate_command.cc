// `attn generate`: text from a trained GPT checkpoint.
#include <cstdio>
#include <string>
#include <vector>

#include "attn/byte_tokenizer.h"
#include "attn/commands.h"
#include "attn/error.h"
#include "attn/infer/sampler.h"
#include "attn/model/gpt_generator.h"

namespace attn::cli {

namespace {

struct GenerateArgs {
  std::string model;
  std::string prompt;
  int64_t tokens = 200;
  infer::SamplerOptions sampler;
};

void run_generate(const GenerateArgs& a) {
  ATTN_CHECK(a.tokens >= 0, "--tokens must be >= 0, got ", a.tokens);
  infer::validate(a.sampler);
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
  std::fprintf(stderr, "%.1f tokens/s\n", generator.last_tokens_per_s());
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto args = std::make_shared<GenerateArgs>();
  CLI::App* cmd = app.add_subcommand("generate", "Generate text with a trained model");
  cmd->add_option("--model", args->model, "checkpoint (.safetensors from attn train)")->required();
  cmd->add_option("--prompt", args->prompt, "UTF-8 text to continue");
  cmd->add_option("--tokens", args->tokens, "tokens to generate")->capture_default_str();
  cmd->add_option("--temperature", args->sampler.temperature, "0 = greedy")->capture_default_str();
  cmd->add_option("--top-k", args->sampler.top_k, "keep the k most likely tokens (0 = all)");
  cmd->add_option("--top-p", args->sampler.top_p, "nucleus sampling threshold (1 = off)");
  cmd->add_option("--seed", args->sampler.seed, "seed of the sampler");
  cmd->callback([args] { run_generate(*args); });
}

}  // namespace attn::cli
