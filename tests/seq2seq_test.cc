// The seq2seq model and its pieces: incremental decoding against recomputation, beam search,
// edit distance and scores, the dictionary and its split, the symbol tables, a short training.
#include "attn/model/seq2seq.h"

#include <algorithm>
#include <cmath>

#include "apps/g2p/cmudict.h"
#include "apps/g2p/edit_distance.h"
#include "apps/g2p/g2p_eval.h"
#include "apps/g2p/g2p_vocab.h"
#include "apps/g2p/seq2seq_trainer.h"
#include "attn/core/error.h"
#include "attn/model/seq2seq_search.h"
#include "gtest/gtest.h"

namespace attn::testing {
namespace {

const std::string kDictionary = std::string(ATTN_DATA_DIR) + "/cmudict/cmudict.txt";

model::Seq2SeqConfig tiny_config() {
  model::Seq2SeqConfig c;
  c.max_source_len = 10, c.max_target_len = 9, c.d_model = 16, c.n_heads = 2;
  c.encoder_layers = 1, c.decoder_layers = 2, c.d_ff = 24;
  return c;
}

std::vector<std::vector<int32_t>> some_words() {
  const apps::G2pVocab vocab = apps::G2pVocab::cmudict();
  std::vector<std::vector<int32_t>> words;
  for (const char* w : {"cat", "through", "a", "phoneme", "queue"}) {
    words.push_back(vocab.encode_word(w, 10));
  }
  return words;
}

// Every row of `w` [1, H, T, S] sums to 1; with `causal`, row t puts no weight after key t.
void expect_attention_rows(const Tensor& w, bool causal, const char* what) {
  const int64_t rows = w.dim(1) * w.dim(2), len = w.dim(2), cols = w.dim(3);
  for (int64_t r = 0; r < rows; ++r) {
    double sum = 0;
    for (int64_t k = 0; k < cols; ++k) {
      const float x = w.data()[r * cols + k];
      sum += x;
      if (causal && k > r % len) {
        EXPECT_EQ(x, 0.0f) << what << " row " << r << " key " << k;
      }
    }
    EXPECT_NEAR(sum, 1.0, 1e-5) << what << " row " << r;
  }
}

TEST(Seq2Seq, EveryAttentionsWeightsOfTheLastPassAreKept) {
  model::Seq2Seq m(tiny_config(), 5);
  const model::SourceBatch s = model::pack_sources({some_words()[1]});  // "through": 7 letters
  const std::vector<int32_t> target = {apps::G2pVocab::kBos, 5, 6, 7};
  const Tensor memory = m.encode(s, /*training=*/false);
  m.decode(target, 1, 4, memory, s.lengths, /*training=*/false);
  for (int64_t l = 0; l < 2; ++l) {
    const Tensor cross = m.cross_attention_weights(l, false);
    const Tensor self = m.decoder_attention_weights(l, false);
    EXPECT_EQ(cross.shape(), (std::vector<int64_t>{1, 2, 4, 7}));
    EXPECT_EQ(self.shape(), (std::vector<int64_t>{1, 2, 4, 4}));
    expect_attention_rows(cross, false, "cross");
    expect_attention_rows(self, true, "decoder");
  }
  const Tensor encoder = m.encoder_attention_weights(0, false);
  EXPECT_EQ(encoder.shape(), (std::vector<int64_t>{1, 2, 7, 7}));
  expect_attention_rows(encoder, false, "encoder");
  EXPECT_EQ(m.encoder_attention_weights(0, true).shape(), (std::vector<int64_t>{1, 1, 7, 7}));
  EXPECT_THROW(m.encoder_attention_weights(1, false), Error);
  EXPECT_THROW(m.decoder_attention_weights(2, false), Error);
}

TEST(Seq2Seq, CachedGreedyStepsMatchRecomputingThePrefix) {
  model::Seq2Seq m(tiny_config(), 3);
  const auto words = some_words();
  std::vector<std::vector<std::vector<float>>> logits;
  const auto out = model::greedy_decode(m, words, &logits);
  for (size_t w = 0; w < words.size(); ++w) {
    std::vector<int32_t> prefix = {apps::G2pVocab::kBos};
    ASSERT_GE(logits[w].size(), out[w].size());
    for (size_t t = 0; t < logits[w].size(); ++t) {
      const std::vector<float> full = model::logits_recompute(m, words[w], prefix);
      ASSERT_EQ(full.size(), logits[w][t].size());
      for (size_t v = 0; v < full.size(); ++v) {
        EXPECT_NEAR(logits[w][t][v], full[v], 1e-5) << "word " << w << " step " << t;
      }
      const auto best = std::max_element(full.begin() + apps::G2pVocab::kEos, full.end());
      const int32_t token = static_cast<int32_t>(best - full.begin());
      if (t < out[w].size()) {
        EXPECT_EQ(out[w][t], token);
        prefix.push_back(token);
      } else {
        EXPECT_EQ(token, apps::G2pVocab::kEos);
      }
    }
  }
}

TEST(Seq2Seq, BatchedGreedyEqualsOneWordAtATime) {
  model::Seq2Seq m(tiny_config(), 5);
  const auto words = some_words();
  const auto batched = model::greedy_decode(m, words);
  for (size_t w = 0; w < words.size(); ++w) {
    EXPECT_EQ(model::greedy_decode(m, {words[w]})[0], batched[w]) << w;
  }
}

TEST(Seq2Seq, BeamOfOneIsGreedy) {
  for (uint64_t seed : {3, 4, 5}) {
    model::Seq2Seq m(tiny_config(), seed);
    for (const auto& w : some_words()) {
      EXPECT_EQ(model::beam_search(m, w, 1), model::greedy_decode(m, {w})[0]) << seed;
    }
  }
}

TEST(Seq2Seq, WiderBeamsGiveValidPhonemesDeterministically) {
  model::Seq2Seq m(tiny_config(), 6);
  const auto w = some_words()[1];
  const std::vector<int32_t> a = model::beam_search(m, w, 4);
  EXPECT_EQ(a, model::beam_search(m, w, 4));
  EXPECT_LT(static_cast<int64_t>(a.size()), tiny_config().max_target_len);
  for (int32_t t : a) {
    EXPECT_GE(t, apps::G2pVocab::kFirstPhoneme);
    EXPECT_LT(t, tiny_config().target_vocab);
  }
  EXPECT_THROW(model::beam_search(m, w, 0), Error);
}

TEST(Seq2Seq, ConfigRoundTripsThroughJson) {
  const model::Seq2SeqConfig c = tiny_config();
  EXPECT_EQ(model::Seq2SeqConfig::from_json(c.to_json()).to_json(), c.to_json());
  EXPECT_THROW(model::Seq2SeqConfig::from_json(R"({"d_model": 10, "n_heads": 4})"), Error);
  EXPECT_THROW(model::Seq2SeqConfig::from_json(R"({"depth": 2})"), Error);
}

TEST(EditDistance, CountsInsertionsDeletionsAndSubstitutions) {
  using V = std::vector<int32_t>;
  EXPECT_EQ(apps::edit_distance(V{}, V{}), 0);
  EXPECT_EQ(apps::edit_distance(V{1, 2, 3}, V{}), 3);
  EXPECT_EQ(apps::edit_distance(V{}, V{4, 5}), 2);
  EXPECT_EQ(apps::edit_distance(V{1, 2, 3}, V{1, 2, 3}), 0);
  EXPECT_EQ(apps::edit_distance(V{1, 2, 3}, V{1, 9, 3}), 1);
  // kitten → sitting: two substitutions and one insertion.
  EXPECT_EQ(
      apps::edit_distance(V{'k', 'i', 't', 't', 'e', 'n'}, V{'s', 'i', 't', 't', 'i', 'n', 'g'}),
      3);
  EXPECT_EQ(apps::edit_distance(V{1, 2, 3, 4}, V{2, 3, 4, 1}), 2);
}

TEST(G2pScore, SumsEditsOverReferenceLengths) {
  apps::G2pScore s;
  s.add(std::vector<int32_t>{3, 4, 5}, std::vector<int32_t>{3, 4, 5});
  s.add(std::vector<int32_t>{3}, std::vector<int32_t>{3, 6, 7, 8, 9});
  EXPECT_EQ(s.words, 2);
  EXPECT_EQ(s.correct, 1);
  EXPECT_DOUBLE_EQ(s.phoneme_error_rate(), 4.0 / 8.0);
  EXPECT_DOUBLE_EQ(s.word_accuracy(), 0.5);
}

TEST(Cmudict, TheSplitIsFixedAndIndependentOfTheFileOrder) {
  const apps::G2pVocab vocab = apps::G2pVocab::cmudict();
  std::vector<apps::G2pEntry> entries = apps::read_cmudict(kDictionary, vocab, 24, 23);
  ASSERT_EQ(entries.size(), 58251u);  // the counts in data/cmudict/README.md
  const apps::G2pSplit split = apps::split_entries(entries);
  EXPECT_EQ(split.test.size(), 1796u);
  EXPECT_EQ(split.train.size(), 56455u);
  EXPECT_EQ(split.test.front().word, "aardvarks");
  std::reverse(entries.begin(), entries.end());
  const apps::G2pSplit reversed = apps::split_entries(entries);
  ASSERT_EQ(reversed.test.size(), split.test.size());
  EXPECT_EQ(reversed.test.back().word, split.test.front().word);
  EXPECT_TRUE(apps::is_test_word("aardvarks"));
  EXPECT_FALSE(apps::is_test_word("aardvark"));
}

TEST(G2pVocab, EncodesWordsAndRejectsBadOnes) {
  const apps::G2pVocab vocab = apps::G2pVocab::cmudict();
  EXPECT_EQ(vocab.encode_word("Cab", 5), (std::vector<int32_t>{3, 1, 2}));
  EXPECT_EQ(vocab.source_size(), 27);
  EXPECT_EQ(vocab.target_size(), 42);
  const std::vector<std::string> ph = {"K", "AE", "T"};
  EXPECT_EQ(vocab.decode_phonemes(vocab.encode_phonemes(ph)), ph);
  auto message = [&](const std::string& word) {
    try {
      vocab.encode_word(word, 5);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("").find("empty"), std::string::npos);
  EXPECT_NE(message("abcdef").find("limit of 5"), std::string::npos);
  EXPECT_NE(message("ab1").find("'1'"), std::string::npos);
  EXPECT_NE(message("caf\xC3\xA9").find("character '\xC3\xA9'"), std::string::npos);
  EXPECT_NE(message("ab\xFF").find("'\\xFF'"), std::string::npos);
  EXPECT_NE(message("a\tb").find("'\\x09'"), std::string::npos);
}

TEST(Seq2SeqTrainer, LossFallsOnAFewWords) {
  const apps::G2pVocab vocab = apps::G2pVocab::cmudict();
  std::vector<apps::G2pEntry> entries;
  for (apps::G2pEntry& e : apps::read_cmudict(kDictionary, vocab, 24, 23)) {
    if (e.word.size() <= 10 && e.phonemes.size() <= 8 && entries.size() < 64) {
      entries.push_back(std::move(e));
    }
  }
  train::TrainOptions o;
  o.batch = 16, o.steps = 40, o.lr = 1e-2f, o.warmup = 5, o.eval_interval = 40;
  apps::Seq2SeqTrainer trainer(tiny_config(), o, vocab, entries,
                               {entries.begin(), entries.begin() + 16});
  const float before = trainer.validation_loss();
  std::vector<float> losses;
  trainer.run("", [&](const train::StepReport& r) { losses.push_back(r.loss); });
  ASSERT_EQ(losses.size(), 40u);
  EXPECT_LT(trainer.validation_loss(), 0.8f * before);
  for (float l : losses) EXPECT_TRUE(std::isfinite(l));
}

}  // namespace
}  // namespace attn::testing
