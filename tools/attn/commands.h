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

}  // namespace attn::cli
