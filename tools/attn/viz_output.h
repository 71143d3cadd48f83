// What the `attn viz` commands share: their output (a PNG picture with --out, or the attention
// explorer's HTML page with --html; exactly one) and the gathering of per-layer weights into the
// [layers, heads, queries, keys] block of an explorer map.
#pragma once

#include <CLI/CLI.hpp>
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

// The weights [1, H, Q, K] of each layer, one after another: [layers, H, Q, K].
std::vector<float> stack_layers(const std::vector<Tensor>& per_layer);

// Writes the page to output.html and prints "wrote FILE (...)" on stdout.
void write_page(const viz::AttentionPage& page, const VizOutput& output);

}  // namespace attn::cli
