// `attn viz gpt --model CKPT --prompt TEXT --out DIR`: one PNG per layer with a panel per head.
#include <string>

#include "attn/commands.h"
#include "attn/error.h"

namespace attn::cli {

void add_viz_gpt_command(CLI::App& viz) {
  CLI::App* cmd = viz.add_subcommand("gpt", "Attention of a trained GPT over a prompt.");
  cmd->callback([] { throw Error("attn viz gpt: not implemented yet"); });
}

}  // namespace attn::cli
