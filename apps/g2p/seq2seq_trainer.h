// Seq2SeqTrainer — the grapheme-to-phoneme model as a task of the TrainingLoop, with teacher
// forcing: cross-entropy of the next phoneme (padding ignored), AdamW with β = (0.9, 0.98),
// checkpoints of kind "seq2seq" with the symbol tables (TrainOptions; `batch` counts words).
//
// Batches are buckets of words of similar length, so little of a batch is padding: the training
// words sorted by (letters, phonemes, word) are cut into consecutive groups of `batch` words, and
// every epoch visits the groups in an order drawn from (seed, epoch). The batch of a step is thus
// a pure function of (seed, step).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "apps/g2p/cmudict.h"
#include "apps/g2p/g2p_vocab.h"
#include "attn/model/seq2seq.h"
#include "attn/train/train_options.h"
#include "attn/train/training_loop.h"

namespace attn::apps {

// A padded batch of word → phoneme pairs.
struct G2pBatch {
  model::SourceBatch source;      // letters [B, S] and lengths
  std::vector<int32_t> target;    // decoder input [B, T]: BOS, phonemes, then padding (0)
  std::vector<int32_t> expected;  // [B, T]: phonemes, EOS, then −100 (ignored)
  int64_t target_len = 0;         // T = longest phonemes + 1
};

// Packs entries[i] for i in `indices`.
G2pBatch make_g2p_batch(const G2pVocab& vocab, const std::vector<G2pEntry>& entries,
                        std::span<const size_t> indices, int64_t max_letters);

// The default run: about 6 minutes on 2 cores; the time limit is a safety net.
train::TrainOptions default_g2p_options();

class Seq2SeqTrainer : private train::TrainingTask {
 public:
  // `validation`: words whose teacher-forced loss is reported at each evaluation.
  Seq2SeqTrainer(const model::Seq2SeqConfig& config, const train::TrainOptions& options,
                 const G2pVocab& vocab, std::vector<G2pEntry> train,
                 std::vector<G2pEntry> validation);

  // Loads parameters, optimizer state and step from a checkpoint written by save().
  void resume(const std::string& path) { loop_.resume(path); }
  // Trains up to options.steps (or the time limit), reporting every step (tokens_per_s counts
  // target tokens); saves to `out` (when not empty) after each validation and at the end.
  void run(const std::string& out, const std::function<void(const train::StepReport&)>& on_step) {
    loop_.run(out, on_step);
  }
  // Mean teacher-forced cross-entropy (nats per phoneme) over the validation words.
  float validation_loss();
  // Writes the checkpoint: parameters, kind "seq2seq", the config, the symbol tables, the step.
  void save(const std::string& path) { loop_.save(path); }

  int64_t step() const { return loop_.step(); }
  model::Seq2Seq& model() { return model_; }

 private:
  std::vector<nn::Parameter> parameters() override { return model_.parameters(); }
  train::StepLoss train_step(int64_t step, train::BatchPart whole) override;
  train::Evaluation evaluate() override { return {validation_loss(), {}}; }
  Metadata checkpoint_metadata() override;
  void restore(const SafetensorsFile& file, const std::string& path) override;
  const std::vector<size_t>& group_order(int64_t epoch);

  model::Seq2SeqConfig config_;
  train::TrainOptions options_;
  G2pVocab vocab_;
  std::vector<G2pEntry> train_, validation_;
  std::vector<std::vector<size_t>> groups_;  // indices into train_, by length
  std::vector<size_t> order_;                // groups of epoch order_epoch_
  int64_t order_epoch_ = -1;
  model::Seq2Seq model_;
  train::TrainingLoop loop_;  // last: built on the model's parameters
};

}  // namespace attn::apps
