// `attn viz gpt --model CKPT --prompt TEXT --out FILE.png [--layer N] [--average-heads]`:
// the attention weights of a trained GPT over a prompt as a grid of heat maps, one row of panels
// per layer and one panel per head (query bytes down, key bytes across).
// `attn viz gpt --model CKPT --prompt TEXT --html FILE.html`: the same weights, every layer and
// head, as the attention explorer's page.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "attn/core/error.h"
#include "attn/model/byte_tokenizer.h"
#include "attn/model/gpt_generator.h"
#include "attn/viz/heatmap.h"
#include "cli_kit.h"
#include "commands.h"
#include "viz_output.h"

namespace attn::cli {

namespace {

struct VizGptArgs {
  std::string model;
  std::string prompt;
  VizOutput output;
  int64_t layer = -1;  // -1: every layer
  bool average_heads = false;
};

// One label per byte token: a character at the byte that starts it, "·" on the bytes that
// continue a multi-byte UTF-8 character.
std::vector<std::string> byte_labels(const std::string& text) {
  std::vector<std::string> labels;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if ((byte & 0xC0) == 0x80) {
      labels.emplace_back("\u00B7");
      continue;
    }
    size_t length = byte < 0x80 ? 1 : byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : 2;
    labels.push_back(text.substr(i, length));
  }
  return labels;
}

// The panels of one layer: [1, H, T, T] weights (or [1, 1, T, T] averaged) → one Heatmap each.
void add_layer_panels(const Tensor& weights, int64_t layer, bool averaged,
                      std::vector<viz::Heatmap>& maps) {
  const int64_t heads = weights.shape()[1], len = weights.shape()[2];
  for (int64_t h = 0; h < heads; ++h) {
    const float* values = weights.data() + h * len * len;
    std::string title = "layer " + std::to_string(layer);
    title += averaged ? ", mean of heads" : ", head " + std::to_string(h);
    maps.push_back({std::span<const float>(values, len * len), static_cast<int>(len),
                    static_cast<int>(len), title});
  }
}

// The prompt's tokens after the checks every output shares; runs the model over them.
std::vector<int32_t> run_over_prompt(model::Gpt& gpt, const VizGptArgs& a) {
  const std::vector<int32_t> tokens = encode_bytes(a.prompt);  // throws on invalid UTF-8
  ATTN_CHECK(!tokens.empty(), "--prompt is empty");
  const int64_t len = static_cast<int64_t>(tokens.size()), layers = gpt.config().n_layers;
  ATTN_CHECK(len <= gpt.config().context, "the prompt has ", len,
             " bytes, more than the model's context of ", gpt.config().context);
  ATTN_CHECK(a.layer < layers, "--layer ", a.layer, " but the model has ", layers, " layers (0 to ",
             layers - 1, ")");
  gpt.forward(tokens, 1, len, /*training=*/false);
  return tokens;
}

std::string page_title(const std::string& prompt) {
  return "GPT attention over \"" + viz::display_label(prompt, 40) + "\"";
}

void draw_png(model::Gpt& gpt, const VizGptArgs& a) {
  const int64_t len = static_cast<int64_t>(run_over_prompt(gpt, a).size());
  const int64_t layers = gpt.config().n_layers;
  std::vector<Tensor> weights;  // kept alive: the heat maps point into them
  std::vector<viz::Heatmap> maps;
  for (int64_t l = a.layer < 0 ? 0 : a.layer; l < (a.layer < 0 ? layers : a.layer + 1); ++l) {
    weights.push_back(gpt.block(l).attention().attention_weights(a.average_heads));
  }
  for (size_t i = 0; i < weights.size(); ++i) {
    add_layer_panels(weights[i], a.layer < 0 ? static_cast<int64_t>(i) : a.layer, a.average_heads,
                     maps);
  }
  viz::HeatmapOptions options;
  options.title = page_title(a.prompt);
  options.row_labels = byte_labels(a.prompt);
  options.col_labels = options.row_labels;
  options.row_axis_label = "query";
  options.col_axis_label = "key";
  // Every layer: a row of panels per layer. One layer, or the means of heads: about square.
  const bool one_row_per_layer = a.layer < 0 && !a.average_heads;
  options.grid_cols = one_row_per_layer ? static_cast<int>(gpt.config().n_heads) : 0;
  viz::draw_heatmaps(maps, options, a.output.png);
  std::printf("wrote %s (%zu panels, %lld tokens)\n", a.output.png.c_str(), maps.size(),
              static_cast<long long>(len));
}

// The explorer: one map, the causal self-attention of every layer and head.
void write_explorer(model::Gpt& gpt, const VizGptArgs& a) {
  run_over_prompt(gpt, a);
  const std::vector<float> weights = all_layers(gpt.config().n_layers, [&](int64_t l) {
    return gpt.block(l).attention().attention_weights(false);
  });
  const std::vector<std::string> labels = byte_labels(a.prompt);
  viz::AttentionPage page{page_title(a.prompt), "gpt", {}, {}};
  page.notes.push_back(std::to_string(gpt.config().n_layers) + " layers, " +
                       std::to_string(gpt.config().n_heads) + " heads, " +
                       std::to_string(labels.size()) + " byte tokens");
  page.maps.push_back({"self-attention", labels, labels, int(gpt.config().n_layers),
                       int(gpt.config().n_heads), weights});
  write_page(page, a.output);
}

void run_viz_gpt(const VizGptArgs& a) {
  check_viz_output(a.output);
  check_usage(a.output.html.empty() || (a.layer < 0 && !a.average_heads),
              "--layer and --average-heads go with --out only (the page holds every layer and "
              "head)");
  model::GptGenerator generator = model::GptGenerator::load(a.model);
  if (a.output.html.empty()) {
    draw_png(generator.model(), a);
  } else {
    write_explorer(generator.model(), a);
  }
}

}  // namespace

void add_viz_gpt_command(CLI::App& viz) {
  auto args = std::make_shared<VizGptArgs>();
  CLI::App* cmd = viz.add_subcommand("gpt",
                                     "Attention of a trained GPT over a prompt: a panel per layer "
                                     "and head (PNG), or the attention explorer (HTML).");
  add_model_option(*cmd, args->model, "GPT checkpoint written by attn train");
  cmd->add_option("--prompt", args->prompt, "text to attend over (UTF-8)")->required();
  add_viz_output_options(*cmd, args->output);
  at_least(cmd->add_option("--layer", args->layer, "draw only this layer (0-based)"), 0);
  cmd->add_flag("--average-heads", args->average_heads, "one panel per layer: the mean of heads");
  cmd->callback([args] { run_viz_gpt(*args); });
}

}  // namespace attn::cli
