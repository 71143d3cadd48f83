// `attn viz`: pictures of attention as PNG heat maps (--out), or the attention explorer, one
// self-contained HTML page (--html). One sub-command per kind of model:
//   attn viz gpt       per layer and head, the GPT's attention over a prompt
//   attn viz classify  the classifier's pooling weight of each word of a sentence
//   attn viz seq2seq   the cross-attention of a seq2seq model, phonemes x letters
// (further kinds register themselves in add_viz_command below).
#include "commands.h"

namespace attn::cli {

void add_viz_command(CLI::App& app) {
  CLI::App* viz = app.add_subcommand(
      "viz", "Draws attention maps as PNG heat maps, or writes the attention explorer (HTML).");
  viz->require_subcommand(1);
  add_viz_gpt_command(*viz);
  add_viz_classify_command(*viz);
  add_viz_seq2seq_command(*viz);
}

}  // namespace attn::cli
