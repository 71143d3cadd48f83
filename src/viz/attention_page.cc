// The attention explorer's page: the data as JSON (weights as base64 8-bit codes) placed with the
// embedded styles and script into the HTML template.
#include "attn/viz/attention_page.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <string_view>
#include <utility>

#include "attention_page_assets.h"
#include "attn/core/atomic_file.h"
#include "attn/core/error.h"

namespace attn::viz {

namespace {

void validate_tokens(const AttentionMap& map, const std::vector<std::string>& tokens,
                     const char* side) {
  ATTN_CHECK(!tokens.empty(), "attention page: map '", map.name, "' has no ", side, " tokens");
  ATTN_CHECK(tokens.size() <= size_t(kMaxPageTokens), "attention page: map '", map.name, "' has ",
             tokens.size(), " ", side, " tokens, more than ", kMaxPageTokens);
}

std::string base64(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t group = uint32_t(bytes[i]) << 16;
    if (n > 1) group |= uint32_t(bytes[i + 1]) << 8;
    if (n > 2) group |= uint32_t(bytes[i + 2]);
    for (size_t k = 0; k < 4; ++k) {
      out += k <= n ? kDigits[(group >> (18 - 6 * k)) & 63] : '=';
    }
  }
  return out;
}

// The JSON of one map: its tokens, sizes, one scale per (layer, head) and the codes of all its
// weights in base64, [layers, heads, queries, keys] row-major.
nlohmann::json map_json(const AttentionMap& map) {
  const size_t cells = map.query_tokens.size() * map.key_tokens.size();
  std::vector<uint8_t> codes;
  codes.reserve(map.weights.size());
  nlohmann::json scales = nlohmann::json::array();
  for (size_t start = 0; start < map.weights.size(); start += cells) {
    const QuantizedWeights q = quantize_weights(map.weights.subspan(start, cells));
    codes.insert(codes.end(), q.codes.begin(), q.codes.end());
    scales.push_back(q.scale);
  }
  return {{"name", map.name},         {"queries", map.query_tokens},
          {"keys", map.key_tokens},   {"query_axis", map.query_axis},
          {"key_axis", map.key_axis}, {"layers", map.layers},
          {"heads", map.heads},       {"scales", scales},
          {"codes", base64(codes)}};
}

// `json` safe inside a <script> element: no "<" at all (so no "</script>" or "<!--").
std::string script_safe(const std::string& json) {
  std::string out;
  out.reserve(json.size());
  for (char c : json) {
    if (c == '<') {
      out += "\\u003c";
    } else {
      out += c;
    }
  }
  return out;
}

std::string html_escaped(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// The template with each `{{NAME}}` replaced by its value, in one pass over the template (so a
// value that happens to hold "{{...}}" is never filled in again).
std::string fill_template(std::string_view text,
                          const std::vector<std::pair<std::string_view, std::string>>& values) {
  std::string out;
  size_t at = 0;
  while (true) {
    const size_t open = text.find("{{", at);
    if (open == std::string_view::npos) break;
    const size_t close = text.find("}}", open);
    ATTN_CHECK(close != std::string_view::npos, "attention page: unclosed slot in the template");
    const std::string_view name = text.substr(open + 2, close - open - 2);
    auto it = std::find_if(values.begin(), values.end(), [&](auto& v) { return v.first == name; });
    ATTN_CHECK(it != values.end(), "attention page: unknown slot {{", name, "}} in the template");
    out.append(text.substr(at, open - at)).append(it->second);
    at = close + 2;
  }
  return out.append(text.substr(at));
}

}  // namespace

void validate(const AttentionPage& page) {
  ATTN_CHECK(!page.maps.empty(), "attention page: no attention maps");
  for (const AttentionMap& map : page.maps) {
    ATTN_CHECK(!map.name.empty(), "attention page: a map has no name");
    validate_tokens(map, map.query_tokens, "query");
    validate_tokens(map, map.key_tokens, "key");
    ATTN_CHECK(map.layers >= 1 && map.heads >= 1, "attention page: map '", map.name, "' has ",
               map.layers, " layers and ", map.heads, " heads, expected at least 1 of each");
    const size_t expected =
        size_t(map.layers) * size_t(map.heads) * map.query_tokens.size() * map.key_tokens.size();
    ATTN_CHECK(map.weights.size() == expected, "attention page: map '", map.name, "' has ",
               map.weights.size(), " weights, expected ", expected, " = [", map.layers, ", ",
               map.heads, ", ", map.query_tokens.size(), ", ", map.key_tokens.size(), "]");
  }
}

QuantizedWeights quantize_weights(std::span<const float> weights) {
  QuantizedWeights q;
  float top = 0;
  for (float w : weights) top = std::isfinite(w) ? std::max(top, w) : top;
  q.scale = top > 0 ? top : 1.0f;
  q.codes.reserve(weights.size());
  for (float w : weights) {
    const float x = std::isfinite(w) ? std::clamp(w / q.scale, 0.0f, 1.0f) : 0.0f;
    q.codes.push_back(static_cast<uint8_t>(std::lround(x * 255.0f)));
  }
  return q;
}

std::string attention_page_html(const AttentionPage& page) {
  validate(page);
  nlohmann::json data = {{"title", page.title},
                         {"kind", page.model_kind},
                         {"notes", page.notes},
                         {"maps", nlohmann::json::array()}};
  for (const AttentionMap& map : page.maps) data["maps"].push_back(map_json(map));
  // Labels that are not valid UTF-8 are shown with U+FFFD rather than rejected.
  const std::string json = data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return fill_template(
      page_assets::kHtml,
      {{"TITLE", html_escaped(page.title.empty() ? "Attention explorer" : page.title)},
       {"STYLE", page_assets::kCss},
       {"DATA", script_safe(json)},
       {"SCRIPT", page_assets::kJs}});
}

void write_attention_page(const AttentionPage& page, const std::string& path) {
  const std::string html = attention_page_html(page);
  AtomicFile file(path);
  file.write(html.data(), html.size());
  file.commit();
}

}  // namespace attn::viz
