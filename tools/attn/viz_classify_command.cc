// `attn viz classify --model CKPT --text TEXT --out FILE.png`: the classifier's pooling weight
// of every word of a sentence, as a one-row heat map titled with the predicted label.
// `attn viz classify --model CKPT --text TEXT --html FILE.html`: the attention explorer with the
// pooling weights beside the self-attention of every block.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include "attn/core/error.h"
#include "attn/model/text_classifier.h"
#include "attn/viz/heatmap.h"
#include "cli_kit.h"
#include "commands.h"
#include "viz_output.h"

namespace attn::cli {

namespace {

struct VizClassifyArgs {
  std::string model;
  std::string text;
  VizOutput output;
};

void draw_png(model::TextClassifier& classifier, const model::Prediction& p,
              const VizOutput& output) {
  const std::string pooling = model::pooling_name(classifier.model().config().pooling);
  viz::Heatmap map;
  map.values = p.weights;
  map.rows = 1;
  map.cols = static_cast<int>(p.weights.size());
  viz::HeatmapOptions options;
  char title[160];
  std::snprintf(title, sizeof title, "%s (p = %.2f) - %s pooling weight of each word",
                p.label_name.c_str(), p.probabilities[static_cast<size_t>(p.label)],
                pooling.c_str());
  options.title = title;
  options.row_labels = {"weight"};
  options.col_labels = p.words;
  options.col_axis_label = "word";
  options.hi = std::max(1e-6f, *std::max_element(p.weights.begin(), p.weights.end()));
  viz::draw_heatmap(map, options, output.png);
  std::printf("%s %.4f; wrote %s\n", p.label_name.c_str(),
              p.probabilities[static_cast<size_t>(p.label)], output.png.c_str());
}

// The explorer: the pooling weights (one query, "pooled", over the words) and the
// self-attention of every block over the words.
void write_explorer(model::TextClassifier& classifier, const model::Prediction& p,
                    const VizOutput& output) {
  model::Classifier& m = classifier.model();
  const std::vector<float> self_weights = all_layers(m.config().n_layers, [&](int64_t l) {
    return m.attention_weights(l, /*average_heads=*/false);
  });
  char note[160];
  std::snprintf(note, sizeof note, "predicted %s (p = %.2f), %s pooling", p.label_name.c_str(),
                p.probabilities[static_cast<size_t>(p.label)],
                model::pooling_name(m.config().pooling).c_str());
  std::string sentence;
  for (const std::string& w : p.words) sentence += (sentence.empty() ? "" : " ") + w;
  viz::AttentionPage page{"Classifier attention over \"" + viz::display_label(sentence, 40) + "\"",
                          "classifier",
                          {note},
                          {}};
  page.maps.push_back({"pooling", {"pooled"}, p.words, 1, 1, p.weights, "pooled vector", "word"});
  page.maps.push_back({"self-attention", p.words, p.words, int(m.config().n_layers),
                       int(m.config().n_heads), self_weights, "word", "word"});
  write_page(page, output);
}

void run_viz_classify(const VizClassifyArgs& a) {
  check_viz_output(a.output);
  model::TextClassifier classifier = model::TextClassifier::load(a.model);
  const model::Prediction p = classifier.predict(a.text);  // throws on empty or long text
  if (a.output.html.empty()) {
    draw_png(classifier, p, a.output);
  } else {
    write_explorer(classifier, p, a.output);
  }
}

}  // namespace

void add_viz_classify_command(CLI::App& viz) {
  auto args = std::make_shared<VizClassifyArgs>();
  CLI::App* cmd =
      viz.add_subcommand("classify", "Pooling weights of a trained classifier over a sentence.");
  add_model_option(*cmd, args->model, "classifier checkpoint");
  cmd->add_option("--text", args->text, "the sentence")->required();
  add_viz_output_options(*cmd, args->output);
  cmd->callback([args] { run_viz_classify(*args); });
}

}  // namespace attn::cli
