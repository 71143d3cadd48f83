// The attention explorer: one self-contained HTML page (data, script and styles inline, nothing
// fetched) that shows the attention weights of a model over one text. Its views:
//   head view   the query tokens and the key tokens in two columns, lines from the selected
//               query to the keys it attends to (strength = weight, one colour per head)
//   model view  every layer × head as a small heat map; a click opens it large, with labels
// A page holds one or more maps (e.g. a seq2seq model's cross-attention and its two
// self-attentions), each [layers, heads, queries, keys]. The weights are stored as 8-bit codes
// with one scale per (map, layer, head), so a weight w is stored as round(255·w / max) and read
// back within max / 510 of w. The page's script and styles are the files
// src/viz/attention_page.{html,css,js}, embedded at build time (docs/EXPLORER.md).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace attn::viz {

// One attention of the model: weights [layers, heads, queries, keys], row-major, each row a
// distribution over the keys (values in [0, 1]; NaN and negatives are stored as 0).
struct AttentionMap {
  std::string name{};                       // e.g. "self-attention", "cross-attention"
  std::vector<std::string> query_tokens{};  // [queries], one label per row
  std::vector<std::string> key_tokens{};    // [keys], one label per column
  int layers = 0;
  int heads = 0;
  std::span<const float> weights{};  // [layers, heads, queries, keys]
  std::string query_axis = "query";  // what the rows are, e.g. "phoneme produced"
  std::string key_axis = "key";      // what the columns are, e.g. "letter"
};

// What a page shows.
struct AttentionPage {
  std::string title{};               // the page's heading and <title>
  std::string model_kind{};          // "gpt", "classifier", "seq2seq", or any short word
  std::vector<std::string> notes{};  // lines under the title, e.g. the predicted label
  std::vector<AttentionMap> maps{};  // at least one; the first is shown first
};

// The largest number of tokens on either side of a map: the page stays usable up to it.
inline constexpr int kMaxPageTokens = 1024;

// Throws attn::Error naming the map and field unless every map has a name, 1 to kMaxPageTokens
// tokens on each side, layers and heads ≥ 1, and weights.size() = layers·heads·queries·keys.
void validate(const AttentionPage& page);

// The page as HTML text (validates first).
std::string attention_page_html(const AttentionPage& page);

// Writes the page to `path` atomically: nothing is written if validation fails, and a failed
// write leaves no partial file.
void write_attention_page(const AttentionPage& page, const std::string& path);

// The 8-bit codes of `weights` and their scale: code = round(255 · w / scale) with scale the
// largest weight (1 when all are 0). Exposed for the tests.
struct QuantizedWeights {
  std::vector<uint8_t> codes;
  float scale = 1;
};
QuantizedWeights quantize_weights(std::span<const float> weights);

}  // namespace attn::viz
