#include "viz_output.h"

#include <algorithm>
#include <cstdio>

#include "attn/core/error.h"
#include "cli_kit.h"

namespace attn::cli {

void add_viz_output_options(CLI::App& cmd, VizOutput& output) {
  add_out_option(cmd, output.png, "PNG file to write (or --html)", Need::kOptional);
  cmd.add_option("--html", output.html,
                 "attention explorer to write: one self-contained HTML page (or --out)");
}

void check_viz_output(const VizOutput& output) {
  check_usage(output.png.empty() != output.html.empty(),
              "give exactly one of --out FILE.png and --html FILE.html");
}

void append_layer(const Tensor& weights, std::vector<float>& all) {
  ATTN_CHECK(weights.shape().size() == 4 && weights.dim(0) == 1,
             "viz: expected weights [1, H, Q, K]");
  all.insert(all.end(), weights.data(), weights.data() + weights.size());
}

void write_page(const viz::AttentionPage& page, const VizOutput& output) {
  viz::write_attention_page(page, output.html);
  size_t tokens = 0;
  for (const viz::AttentionMap& map : page.maps) {
    tokens = std::max({tokens, map.query_tokens.size(), map.key_tokens.size()});
  }
  std::printf("wrote %s (attention explorer: %zu maps, up to %zu tokens)\n", output.html.c_str(),
              page.maps.size(), tokens);
}

}  // namespace attn::cli
