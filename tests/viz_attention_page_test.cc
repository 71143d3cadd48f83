// The attention explorer's page writer: the data it embeds, its size, its escaping and its
// refusals. What the page does in a browser is tested by tests/browser/.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "attn/core/error.h"
#include "attn/viz/attention_page.h"
#include "test_util.h"
#include "viz_test_util.h"

namespace attn::viz {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

std::vector<std::string> numbered(int n, const std::string& prefix) {
  std::vector<std::string> tokens;
  for (int i = 0; i < n; ++i) tokens.push_back(prefix + std::to_string(i));
  return tokens;
}

// Random softmax rows: weights [layers, heads, tokens, tokens], causal when asked.
std::vector<float> random_rows(int layers, int heads, int tokens, bool causal, uint32_t seed) {
  std::mt19937 rng(seed);
  std::exponential_distribution<float> draw(1.0f);
  std::vector<float> w(size_t(layers) * heads * tokens * tokens, 0.0f);
  for (size_t row = 0; row < w.size() / tokens; ++row) {
    const int q = int(row % tokens), visible = causal ? q + 1 : tokens;
    float sum = 0;
    for (int k = 0; k < visible; ++k) sum += w[row * tokens + k] = std::pow(draw(rng), 3.0f);
    for (int k = 0; k < visible; ++k) w[row * tokens + k] /= sum;
  }
  return w;
}

AttentionPage page_of(const std::vector<float>& w, int layers, int heads, int tokens) {
  AttentionMap map{
      "self-attention", numbered(tokens, "t"), numbered(tokens, "t"), layers, heads, w};
  return {"A test page", "gpt", {"a note"}, {map}};
}

// The JSON between <script id="attn-data"> and </script>.
nlohmann::json embedded_data(const std::string& html) {
  const std::string open = "<script type=\"application/json\" id=\"attn-data\">";
  const size_t start = html.find(open) + open.size();
  return nlohmann::json::parse(html.substr(start, html.find("</script>", start) - start));
}

std::vector<uint8_t> from_base64(const std::string& text) {
  const std::string digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::vector<uint8_t> bytes;
  uint32_t bits = 0;
  int count = 0;
  for (char c : text) {
    if (c == '=') break;
    bits = (bits << 6) | uint32_t(digits.find(c));
    if ((count += 6) >= 8) bytes.push_back(uint8_t(bits >> (count -= 8)));
  }
  return bytes;
}

TEST(AttentionPage, QuantisedWeightsAreWithinHalfAStepOfTheWeights) {
  const std::vector<float> w = {0.0f, 0.1f, 0.25f, 0.5f, 0.125f, 0.025f};
  const QuantizedWeights q = quantize_weights(w);
  EXPECT_FLOAT_EQ(q.scale, 0.5f);
  for (size_t i = 0; i < w.size(); ++i) {
    EXPECT_NEAR(q.codes[i] / 255.0 * q.scale, w[i], q.scale / 510.0 + 1e-7) << i;
  }
  EXPECT_EQ(q.codes[3], 255);
}

TEST(AttentionPage, NanAndNegativeWeightsAreStoredAsZero) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const QuantizedWeights q = quantize_weights(std::vector<float>{nan, -1.0f, 0.0f});
  EXPECT_EQ(q.scale, 1.0f);
  EXPECT_EQ(q.codes, (std::vector<uint8_t>{0, 0, 0}));
}

TEST(AttentionPage, EmbeddedDataDecodesToTheWeightsOfEveryLayerAndHead) {
  const int layers = 2, heads = 3, tokens = 5;
  const std::vector<float> w = random_rows(layers, heads, tokens, /*causal=*/true, 7);
  const nlohmann::json data = embedded_data(attention_page_html(page_of(w, layers, heads, tokens)));
  EXPECT_EQ(data["title"], "A test page");
  EXPECT_EQ(data["kind"], "gpt");
  const nlohmann::json& map = data["maps"][0];
  EXPECT_EQ(map["layers"], layers);
  EXPECT_EQ(map["heads"], heads);
  EXPECT_EQ(map["queries"].size(), size_t(tokens));
  const std::vector<uint8_t> codes = from_base64(map["codes"]);
  ASSERT_EQ(codes.size(), w.size());
  const size_t cells = size_t(tokens) * tokens;
  for (size_t i = 0; i < w.size(); ++i) {
    const float scale = map["scales"][i / cells];
    EXPECT_NEAR(codes[i] / 255.0 * scale, w[i], scale / 510.0 + 1e-7) << i;
  }
}

TEST(AttentionPage, FourLayersSixHeads128TokensStayUnderTwoMegabytes) {
  const std::vector<float> w = random_rows(4, 6, 128, /*causal=*/false, 3);
  const std::string html = attention_page_html(page_of(w, 4, 6, 128));
  EXPECT_LT(html.size(), 2u << 20);
  EXPECT_GT(html.size(), 4u * 6 * 128 * 128);  // every weight is in it
}

TEST(AttentionPage, PageIsSelfContained) {
  const std::vector<float> w = random_rows(1, 1, 3, false, 1);
  const std::string html = attention_page_html(page_of(w, 1, 1, 3));
  EXPECT_THAT(html, HasSubstr("<!DOCTYPE html>"));
  for (const char* fetch : {"src=", "href=", "http://", "https://", "@import", "url("}) {
    const std::string allowed = "http://www.w3.org/2000/svg";  // a namespace, never fetched
    std::string rest = html;
    for (size_t at; (at = rest.find(allowed)) != std::string::npos;) rest.erase(at, allowed.size());
    EXPECT_THAT(rest, Not(HasSubstr(fetch))) << fetch;
  }
  EXPECT_THAT(html, Not(HasSubstr("{{")));  // every slot of the template is filled
}

TEST(AttentionPage, TokensCannotCloseTheScriptOrFillSlots) {
  const std::vector<float> w = random_rows(1, 1, 2, false, 1);
  AttentionPage page = page_of(w, 1, 1, 2);
  page.title = "</title><script>alert(1)</script>";
  page.maps[0].query_tokens = {"</script><b>", "{{SCRIPT}}"};
  const std::string html = attention_page_html(page);
  EXPECT_THAT(html, Not(HasSubstr("<script>alert")));
  EXPECT_THAT(html, Not(HasSubstr("</script><b>")));
  EXPECT_EQ(embedded_data(html)["maps"][0]["queries"][0], "</script><b>");
  EXPECT_EQ(embedded_data(html)["maps"][0]["queries"][1], "{{SCRIPT}}");
}

TEST(AttentionPage, BadPagesAreRejectedAndNoFileIsWritten) {
  const std::string dir = attn::testing::temp_dir("attention_page");
  const std::string path = dir + "/page.html";
  const std::vector<float> w = random_rows(1, 2, 3, false, 1);
  AttentionPage no_tokens = page_of({}, 1, 2, 0);
  AttentionPage short_weights = page_of(w, 1, 3, 3);
  AttentionPage too_many = page_of(w, 1, 2, kMaxPageTokens + 1);
  AttentionPage no_maps = page_of(w, 1, 2, 3);
  no_maps.maps.clear();
  for (const auto& [page, says] :
       std::vector<std::pair<AttentionPage, std::string>>{{no_tokens, "no query tokens"},
                                                          {short_weights, "expected 27"},
                                                          {too_many, "more than"},
                                                          {no_maps, "no attention maps"}}) {
    EXPECT_THROW(
        {
          try {
            write_attention_page(page, path);
          } catch (const Error& e) {
            EXPECT_THAT(e.what(), HasSubstr(says));
            throw;
          }
        },
        Error);
  }
  EXPECT_THAT(attn::testing::dir_entries(dir), IsEmpty());
}

TEST(AttentionPage, WriteReplacesTheFileWhole) {
  const std::string path = attn::testing::temp_dir("attention_page_write") + "/page.html";
  // A longer page first, so that a write that kept the old file's tail would show.
  write_attention_page(page_of(random_rows(1, 1, 8, true, 3), 1, 1, 8), path);
  const std::vector<float> w = random_rows(1, 1, 4, true, 2);
  write_attention_page(page_of(w, 1, 1, 4), path);
  EXPECT_EQ(attn::testing::read_file(path), attention_page_html(page_of(w, 1, 1, 4)));
}

}  // namespace
}  // namespace attn::viz
