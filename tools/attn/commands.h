// The subcommands of the attn tool. Each registers itself on the app; its callback runs the
// command during CLI::App::parse and throws attn::Error on bad input, which main prints.
#pragma once

#include <CLI/CLI.hpp>

namespace attn::cli {

// `attn sdpa`: scaled dot-product attention of .npy inputs into .npy outputs.
void add_sdpa_command(CLI::App& app);

// `attn bench`: timings of the kernels as a table, or one case as JSON lines.
void add_bench_command(CLI::App& app);

// `attn train`: trains the byte-level GPT.
void add_train_command(CLI::App& app);

// `attn generate`: samples text from a trained model.
void add_generate_command(CLI::App& app);

// `attn classify`: sentiment of sentences (train, eval, predict).
void add_classify_command(CLI::App& app);
// `attn seq2seq`: grapheme-to-phoneme training, scoring and prediction.
void add_seq2seq_command(CLI::App& app);

// `attn viz`: attention maps as PNG heat maps; one sub-command per kind of model.
void add_viz_command(CLI::App& app);

// `attn viz gpt`: the GPT's attention weights over a prompt, one panel per head and layer.
void add_viz_gpt_command(CLI::App& viz);

// `attn viz classify`: the classifier's pooling weights over a sentence's words.
void add_viz_classify_command(CLI::App& viz);
// `attn viz seq2seq`: the cross-attention of a seq2seq model, phonemes × letters of a word.
void add_viz_seq2seq_command(CLI::App& viz);

}  // namespace attn::cli
