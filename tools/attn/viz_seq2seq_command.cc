// `attn viz seq2seq --model CKPT --word WORD --out FILE.png`: where the decoder looks while it
// spells a word: the cross-attention weights, one row per generated phoneme (and the end), one
// column per letter. Panels: each decoder layer averaged over its heads, then every head of the
// last layer.
// `attn viz seq2seq --model CKPT --word WORD --html FILE.html`: the attention explorer with the
// cross-attention (phonemes × letters) and the decoder's and encoder's self-attentions.
#include <memory>
#include <string>
#include <vector>

#include "apps/g2p/g2p_model.h"
#include "attn/core/error.h"
#include "attn/model/seq2seq_search.h"
#include "attn/viz/heatmap.h"
#include "cli_kit.h"
#include "commands.h"
#include "viz_output.h"

namespace attn::cli {

namespace {

struct VizSeq2SeqArgs {
  std::string model;
  std::string word;
  VizOutput output;
  int64_t beam = 1;
};

// The [T, S] panel of head h of a weights tensor [1, H, T, S].
viz::Heatmap panel(const Tensor& weights, int64_t h, std::string title) {
  const int64_t rows = weights.dim(2), cols = weights.dim(3);
  return {std::span<const float>(weights.data() + h * rows * cols, size_t(rows * cols)),
          static_cast<int>(rows), static_cast<int>(cols), std::move(title)};
}

// The phonemes of `word` (greedy or beam search), then one teacher-forced pass over BOS +
// phonemes that leaves every attention's weights in the model: row t of the decoder's weights
// is the step that produced phoneme t (or the end).
std::vector<int32_t> run_over_word(apps::G2pModel& g2p, const VizSeq2SeqArgs& a) {
  model::Seq2Seq& m = g2p.model();
  const std::vector<int32_t> source = g2p.encode(a.word);  // throws on an empty or long word
  std::vector<int32_t> phonemes =
      a.beam <= 1 ? model::greedy_decode(m, {source})[0] : model::beam_search(m, source, a.beam);
  std::vector<int32_t> target = {apps::G2pVocab::kBos};
  target.insert(target.end(), phonemes.begin(), phonemes.end());
  const model::SourceBatch s = model::pack_sources({source});
  const Tensor memory = m.encode(s, /*training=*/false);
  m.decode(target, 1, static_cast<int64_t>(target.size()), memory, s.lengths, false);
  return phonemes;
}

void draw_png(apps::G2pModel& g2p, const std::vector<int32_t>& phonemes, const VizSeq2SeqArgs& a) {
  model::Seq2Seq& m = g2p.model();
  const int64_t layers = m.config().decoder_layers, heads = m.config().n_heads;
  std::vector<Tensor> weights;  // keeps the panels' values alive
  std::vector<viz::Heatmap> maps;
  for (int64_t l = 0; l < layers; ++l) {
    weights.push_back(m.cross_attention_weights(l, /*average_heads=*/true));
    maps.push_back(panel(weights.back(), 0, "layer " + std::to_string(l) + ", mean of heads"));
  }
  weights.push_back(m.cross_attention_weights(layers - 1, /*average_heads=*/false));
  for (int64_t h = 0; h < heads; ++h) {
    maps.push_back(panel(weights.back(), h,
                         "layer " + std::to_string(layers - 1) + ", head " + std::to_string(h)));
  }
  viz::HeatmapOptions options;
  options.title = "Cross-attention of '" + a.word + "'";
  options.row_labels = g2p.vocab().decode_phonemes(phonemes);
  options.row_labels.push_back("end");
  for (char c : a.word) options.col_labels.push_back(std::string(1, c));
  options.row_axis_label = "phoneme produced";
  options.col_axis_label = "letter";
  options.grid_cols = static_cast<int>(std::min<int64_t>(3, static_cast<int64_t>(maps.size())));
  viz::draw_heatmaps(maps, options, a.output.png);
}

void write_explorer(apps::G2pModel& g2p, const std::vector<int32_t>& phonemes,
                    const VizSeq2SeqArgs& a) {
  model::Seq2Seq& m = g2p.model();
  const int64_t dec = m.config().decoder_layers, enc = m.config().encoder_layers;
  const int heads = static_cast<int>(m.config().n_heads);
  const std::vector<float> cross =
      all_layers(dec, [&](int64_t l) { return m.cross_attention_weights(l, false); });
  const std::vector<float> decoder =
      all_layers(dec, [&](int64_t l) { return m.decoder_attention_weights(l, false); });
  const std::vector<float> encoder =
      all_layers(enc, [&](int64_t l) { return m.encoder_attention_weights(l, false); });
  std::vector<std::string> produced = g2p.vocab().decode_phonemes(phonemes), letters;
  std::vector<std::string> read = {"<s>"};
  read.insert(read.end(), produced.begin(), produced.end());
  produced.push_back("end");
  for (char c : a.word) letters.push_back(std::string(1, c));
  std::string spoken;
  for (size_t i = 0; i + 1 < produced.size(); ++i) spoken += (i ? " " : "") + produced[i];
  viz::AttentionPage page{
      "Seq2seq attention of '" + a.word + "'", "seq2seq", {"phonemes: " + spoken}, {}};
  page.maps.push_back(
      {"cross-attention", produced, letters, int(dec), heads, cross, "phoneme produced", "letter"});
  page.maps.push_back({"decoder self-attention", produced, read, int(dec), heads, decoder,
                       "phoneme produced", "phoneme read"});
  page.maps.push_back(
      {"encoder self-attention", letters, letters, int(enc), heads, encoder, "letter", "letter"});
  write_page(page, a.output);
}

void run_viz(const VizSeq2SeqArgs& a) {
  check_viz_output(a.output);
  apps::G2pModel g2p = apps::G2pModel::load(a.model);
  const std::vector<int32_t> phonemes = run_over_word(g2p, a);
  if (a.output.html.empty()) {
    draw_png(g2p, phonemes, a);
  } else {
    write_explorer(g2p, phonemes, a);
  }
}

}  // namespace

void add_viz_seq2seq_command(CLI::App& viz) {
  auto args = std::make_shared<VizSeq2SeqArgs>();
  CLI::App* cmd = viz.add_subcommand(
      "seq2seq", "Cross-attention of a seq2seq model: phonemes x letters of a word.");
  add_model_option(*cmd, args->model, "checkpoint of `attn seq2seq train`");
  cmd->add_option("--word", args->word, "a word of letters a-z")->required();
  add_viz_output_options(*cmd, args->output);
  in_range(cmd->add_option("--beam", args->beam, "beam width of the decoding (1 = greedy)"), 1, 64);
  cmd->callback([args] { run_viz(*args); });
}

}  // namespace attn::cli
