// What the `attn viz` commands share: their output (a PNG picture with --out, or the attention
// explorer's HTML page with --html; exactly one) and the gathering of per-layer weights into the
// [layers, heads, queries, keys] block of an explorer map.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "attn/core/tensor.h"
#include "attn/viz/attention_page.h"

namespace attn::cli {

struct VizOutput {
  std::string png;   // --out
  std::string html;  // --html
};

// Adds --out FILE.png and --html FILE.html to `cmd`.
void add_viz_output_options(CLI::App& cmd, VizOutput& output);

// UsageError unless exactly one of --out and --html is given.
void check_viz_output(const VizOutput& output);

// Appends one layer's weights [1, H, Q, K] to `all` (the [layers, H, Q, K] block of a map).
void append_layer(const Tensor& weights, std::vector<float>& all);

// The weights [layers, H, Q, K] of one kind of attention: weights_of_layer(l) [1, H, Q, K] for
// l in [0, layers), appended as each comes.
template <typename WeightsOfLayer>
std::vector<float> all_layers(int64_t layers, WeightsOfLayer weights_of_layer) {
  std::vector<float> all;
  for (int64_t l = 0; l < layers; ++l) append_layer(weights_of_layer(l), all);
  return all;
}

// Writes the page to output.html and prints "wrote FILE (...)" on stdout.
void write_page(const viz::AttentionPage& page, const VizOutput& output);

}  // namespace attn::cli
