// `attn viz classify --model CKPT --text TEXT --out FILE.png`: the classifier's pooling weight
// of every word of a sentence, as a one-row heat map titled with the predicted label.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include "attn/core/error.h"
#include "attn/model/text_classifier.h"
#include "attn/viz/heatmap.h"
#include "cli_kit.h"
#include "commands.h"

namespace attn::cli {

namespace {

struct VizClassifyArgs {
  std::string model;
  std::string text;
  std::string out;
};

void run_viz_classify(const VizClassifyArgs& a) {
  model::TextClassifier classifier = model::TextClassifier::load(a.model);
  const model::Prediction p = classifier.predict(a.text);
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
  viz::draw_heatmap(map, options, a.out);
  std::printf("%s %.4f; wrote %s\n", p.label_name.c_str(),
              p.probabilities[static_cast<size_t>(p.label)], a.out.c_str());
}

}  // namespace

void add_viz_classify_command(CLI::App& viz) {
  auto args = std::make_shared<VizClassifyArgs>();
  CLI::App* cmd =
      viz.add_subcommand("classify", "Pooling weights of a trained classifier over a sentence.");
  add_model_option(*cmd, args->model, "classifier checkpoint");
  cmd->add_option("--text", args->text, "the sentence")->required();
  add_out_option(*cmd, args->out, "PNG file to write");
  cmd->callback([args] { run_viz_classify(*args); });
}

}  // namespace attn::cli
