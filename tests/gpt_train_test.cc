// The GPT and its trainer: learning, bit-exact resume, checkpoints, generation, bad input.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "apps/gpt/gpt_trainer.h"
#include "apps/gpt/presets.h"
#include "attn/core/error.h"
#include "attn/infer/sampler.h"
#include "attn/model/gpt_generator.h"
#include "attn/nn/attention_precision.h"
#include "attn/nn/matmul_precision.h"
#include "attn/train/text_dataset.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace attn::testing {
namespace {

const std::string kCorpus = std::string(ATTN_DATA_DIR) + "/moby_dick.txt";

apps::GptPreset tiny() { return apps::gpt_preset("tiny"); }

struct Interrupted {};

// Losses of a run of `steps` steps of the tiny preset, resumed from `resume` if given, and
// interrupted (like a killed process) after step `stop` if given.
std::vector<float> losses(const train::TextDataset& data, int64_t steps, const std::string& out,
                          const std::string& resume = "", int64_t stop = 0,
                          float attn_dropout = 0.0f, bool pack_documents = false) {
  apps::GptPreset p = tiny();
  p.train.steps = steps;
  p.model.attn_dropout = attn_dropout;
  apps::GptTrainer trainer(p.model, p.train, data, nullptr, nullptr, pack_documents);
  if (!resume.empty()) trainer.resume(resume);
  std::vector<float> result;
  try {
    trainer.run(out, [&](const train::StepReport& r) {
      result.push_back(r.loss);
      if (r.step == stop) throw Interrupted{};
    });
  } catch (const Interrupted&) {
  }
  return result;
}

TEST(GptTrain, LossFallsOnTheCorpus) {
  const train::TextDataset data = train::TextDataset::from_file(kCorpus, 0.05, 33);
  const std::vector<float> l = losses(data, 20, "");
  EXPECT_LT(l.back(), l.front() - 0.8f);  // from ~5.5 (uniform over bytes) towards ~3
}

TEST(GptTrain, LossFallsOnPackedDocuments) {
  const train::TextDataset data = train::TextDataset::from_file(kCorpus, 0.05, 33);
  const std::vector<float> l = losses(data, 20, "", "", 0, 0.1f, /*pack_documents=*/true);
  EXPECT_LT(l.back(), l.front() - 0.8f);
  // Another packing of the same number of tokens: not the batches of the plain run.
  EXPECT_NE(l, losses(data, 20, "", "", 0, 0.1f));
}

// Each step packs batch·len tokens in documents of [len/8, len] tokens, the last one cut to fit,
// the same for the same (seed, step).
TEST(GptTrain, PackedDocumentsFillTheBatch) {
  const train::TextDataset data = train::TextDataset::from_file(kCorpus, 0.05, 33);
  std::vector<int32_t> x(4 * 32), y(4 * 32), offsets, again;
  data.train_documents(1, 7, 4, 32, x.data(), y.data(), offsets);
  ASSERT_GE(offsets.size(), 5u);
  EXPECT_EQ(offsets.front(), 0);
  EXPECT_EQ(offsets.back(), 4 * 32);
  for (size_t d = 0; d + 2 < offsets.size(); ++d) {
    EXPECT_GE(offsets[d + 1] - offsets[d], 4);
    EXPECT_LE(offsets[d + 1] - offsets[d], 32);
  }
  data.train_documents(1, 7, 4, 32, x.data(), y.data(), again);
  EXPECT_EQ(offsets, again);
  for (size_t t = 0; t + 1 < x.size(); ++t) {
    const bool last_of_document =
        std::find(offsets.begin(), offsets.end(), static_cast<int32_t>(t + 1)) != offsets.end();
    if (!last_of_document) {
      EXPECT_EQ(y[t], x[t + 1]) << t;  // the next byte within a document
    }
  }
}

// Two documents packed give each the logits it gets alone (positions restart, attention stays
// within the document), even when together they exceed the context.
TEST(GptTrain, PackedDocumentsGiveTheLogitsOfEachAlone) {
  apps::GptPreset p = tiny();
  model::Gpt gpt(p.model, 5);
  const int64_t n = p.model.context, total = n + 7;
  std::vector<int32_t> tokens(static_cast<size_t>(total));
  for (int64_t t = 0; t < total; ++t) tokens[t] = static_cast<int32_t>((t * 37 + 11) % 256);
  const std::vector<int32_t> documents = {0, static_cast<int32_t>(n), static_cast<int32_t>(total)};
  const Tensor packed = gpt.forward(tokens, 1, total, false, 0, {}, documents);
  const int64_t V = p.model.vocab_size;
  for (int d = 0; d < 2; ++d) {
    const int64_t first = documents[d], len = documents[d + 1] - documents[d];
    const Tensor alone = gpt.forward(std::span(tokens).subspan(first, len), 1, len, false);
    for (int64_t i = 0; i < len * V; ++i) {
      ASSERT_NEAR(packed.data()[first * V + i], alone.data()[i], 1e-4) << d << " " << i;
    }
  }
  const std::vector<int32_t> too_long = {0, static_cast<int32_t>(total)};
  EXPECT_THROW(gpt.forward(tokens, 1, total, false, 0, {}, too_long), Error);
}

TEST(GptTrain, ResumedRunIsBitExact) {
  const train::TextDataset data = train::TextDataset::from_file(kCorpus, 0.05, 33);
  const std::string dir = temp_dir("gpt_resume");
  const std::vector<float> straight = losses(data, 12, dir + "/a.safetensors");
  // Interrupted at step 5, right after the checkpoint of that step (eval_interval = 5).
  const std::vector<float> first = losses(data, 12, dir + "/b.safetensors", "", 5);
  const std::vector<float> rest = losses(data, 12, dir + "/c.safetensors", dir + "/b.safetensors");
  ASSERT_EQ(first.size() + rest.size(), straight.size());
  for (size_t i = 0; i < first.size(); ++i) EXPECT_EQ(first[i], straight[i]) << i;
  for (size_t i = 0; i < rest.size(); ++i) EXPECT_EQ(rest[i], straight[first.size() + i]) << i;
}

// The attention dropout masks are drawn from (seed, step) like the residual ones.
TEST(GptTrain, ResumedRunWithAttentionDropoutIsBitExact) {
  const train::TextDataset data = train::TextDataset::from_file(kCorpus, 0.05, 33);
  const std::string dir = temp_dir("gpt_resume_attn_dropout");
  const std::vector<float> straight = losses(data, 8, dir + "/a.safetensors", "", 0, 0.3f);
  const std::vector<float> first = losses(data, 8, dir + "/b.safetensors", "", 5, 0.3f);
  const std::vector<float> rest =
      losses(data, 8, dir + "/c.safetensors", dir + "/b.safetensors", 0, 0.3f);
  ASSERT_EQ(first.size() + rest.size(), straight.size());
  for (size_t i = 0; i < first.size(); ++i) EXPECT_EQ(first[i], straight[i]) << i;
  for (size_t i = 0; i < rest.size(); ++i) EXPECT_EQ(rest[i], straight[first.size() + i]) << i;
  const std::vector<float> without = losses(data, 8, "");
  EXPECT_NE(without, straight);  // the dropout did act
}

TEST(GptTrain, ConfigWithoutAttnDropoutReadsAsZero) {
  const model::GptConfig old = model::GptConfig::from_json(R"({"d_model": 32, "n_heads": 2})");
  EXPECT_EQ(old.attn_dropout, 0.0f);
  EXPECT_EQ(old.to_json().find("attn_dropout"), std::string::npos);
  model::GptConfig c = old;
  c.attn_dropout = 0.25f;
  EXPECT_EQ(model::GptConfig::from_json(c.to_json()).attn_dropout, 0.25f);
}

TEST(GptTrain, StepLogitsEqualRecomputation) {
  const train::TextDataset data = train::TextDataset::from_file(kCorpus, 0.05, 33);
  const std::string path = temp_dir("gpt_gen") + "/m.safetensors";
  losses(data, 3, path);
  model::GptGenerator gen = model::GptGenerator::load(path);
  const std::vector<int32_t> tokens = {67, 97, 108, 108, 32, 109, 101};
  for (size_t n = 1; n <= tokens.size(); ++n) {
    const std::vector<float> stepped = gen.step(tokens[n - 1]);
    const std::vector<float> full =
        gen.logits_recompute(std::span<const int32_t>(tokens.data(), n));
    ASSERT_EQ(stepped.size(), full.size());
    for (size_t v = 0; v < full.size(); ++v)
      ASSERT_NEAR(stepped[v], full[v], 1e-5) << n << " " << v;
  }
}

TEST(GptTrain, GreedyGenerationIsReproducible) {
  const train::TextDataset data = train::TextDataset::from_file(kCorpus, 0.05, 33);
  const std::string path = temp_dir("gpt_greedy") + "/m.safetensors";
  losses(data, 3, path);
  model::GptGenerator gen = model::GptGenerator::load(path);
  infer::SamplerOptions o;
  o.temperature = 0.8f;
  o.top_k = 20;
  o.seed = 9;
  std::vector<int32_t> a, b;
  const std::vector<int32_t> prompt = {84, 104, 101};
  gen.generate(prompt, 50, infer::Sampler(o), [&](int32_t t) { a.push_back(t); });
  gen.generate(prompt, 50, infer::Sampler(o), [&](int32_t t) { b.push_back(t); });
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.size(), 50u);  // continues past the 32-token context
}

TEST(GptTrain, CorruptCheckpointIsAnErrorAndResumeChangesNothing) {
  const std::string dir = temp_dir("gpt_corrupt");
  const std::string path = dir + "/m.safetensors";
  { std::ofstream(path) << "not a checkpoint at all"; }
  EXPECT_THROW(model::GptGenerator::load(path), Error);
  const train::TextDataset data = train::TextDataset::from_file(kCorpus, 0.05, 33);
  EXPECT_THROW(losses(data, 3, dir + "/out.safetensors", path), Error);
  EXPECT_FALSE(std::filesystem::exists(dir + "/out.safetensors"));
}

// Losses of 3 steps of a GPT large enough that every layer splits its work over the threads.
std::vector<float> threaded_losses(const train::TextDataset& data, int threads) {
  apps::GptPreset p = tiny();
  p.model.context = 64;
  p.model.d_model = 64;
  p.train.batch = 16;
  p.train.steps = 3;
  p.train.eval_interval = 100;
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  apps::GptTrainer trainer(p.model, p.train, data);
  std::vector<float> result;
  trainer.run("", [&](const train::StepReport& r) { result.push_back(r.loss); });
  omp_set_num_threads(saved);
  return result;
}

TEST(GptTrain, LossesAreBitwiseTheSameOnOneAndTwoThreads) {
  const train::TextDataset data = train::TextDataset::from_file(kCorpus, 0.05, 65);
  EXPECT_EQ(threaded_losses(data, 1), threaded_losses(data, 2));
}

// Losses of `steps` steps of the tiny preset with its batch of 4 cut into `micro_batches`.
std::vector<float> micro_batched_losses(const train::TextDataset& data, int64_t steps,
                                        int64_t micro_batches) {
  apps::GptPreset p = tiny();
  p.train.steps = steps;
  p.train.micro_batches = micro_batches;
  apps::GptTrainer trainer(p.model, p.train, data);
  std::vector<float> result;
  trainer.run("", [&](const train::StepReport& r) { result.push_back(r.loss); });
  return result;
}

TEST(GptTrain, MicroBatchesTrackTheWholeBatchsLosses) {
  const train::TextDataset data = train::TextDataset::from_file(kCorpus, 0.05, 33);
  const std::vector<float> whole = micro_batched_losses(data, 20, 1);
  for (int64_t m : {2, 4}) {
    const std::vector<float> parted = micro_batched_losses(data, 20, m);
    ASSERT_EQ(parted.size(), whole.size());
    for (size_t i = 0; i < whole.size(); ++i) {
      EXPECT_NEAR(parted[i], whole[i], 1e-5) << m << " micro-batches, step " << i + 1;
    }
  }
}

TEST(GptTrain, BatchThatDoesNotDivideIntoMicroBatchesIsAnError) {
  const train::TextDataset data = train::TextDataset::from_file(kCorpus, 0.05, 33);
  apps::GptPreset p = tiny();  // batch 4
  p.train.micro_batches = 3;
  EXPECT_THROW(apps::GptTrainer(p.model, p.train, data), Error);
}

TEST(GptTrain, Bf16ProductsTrackTheFp32Losses) {
  if (!nn::bf16_matmul_supported()) GTEST_SKIP() << "no bf16 instructions on this CPU";
  const train::TextDataset data = train::TextDataset::from_file(kCorpus, 0.05, 33);
  const std::vector<float> fp32 = losses(data, 20, "");
  nn::set_matmul_precision(nn::MatmulPrecision::kBf16);
  const std::vector<float> bf16 = losses(data, 20, "");
  nn::set_matmul_precision(nn::MatmulPrecision::kFp32);
  ASSERT_EQ(bf16.size(), fp32.size());
  for (size_t i = 0; i < fp32.size(); ++i) EXPECT_NEAR(bf16[i], fp32[i], 0.01) << "step " << i + 1;
  EXPECT_NE(bf16, fp32);  // the bf16 products were used
}

// bf16 attention runs on every CPU (the kernels widen bf16 exactly): q, k, v and dO rounded to
// bf16 keep the losses within 0.01 of fp32, and change them.
TEST(GptTrain, Bf16AttentionTracksTheFp32Losses) {
  const train::TextDataset data = train::TextDataset::from_file(kCorpus, 0.05, 33);
  const std::vector<float> fp32 = losses(data, 20, "");
  nn::set_attention_precision(nn::AttentionPrecision::kBf16);
  const std::vector<float> bf16 = losses(data, 20, "");
  nn::set_attention_precision(nn::AttentionPrecision::kFp32);
  ASSERT_EQ(bf16.size(), fp32.size());
  for (size_t i = 0; i < fp32.size(); ++i) EXPECT_NEAR(bf16[i], fp32[i], 0.01) << "step " << i + 1;
  EXPECT_NE(bf16, fp32);  // the bf16 attention was used
  EXPECT_LT(bf16.back(), bf16.front() - 0.8f);
}

TEST(GptTrain, ImpossibleConfigIsAnError) {
  EXPECT_THROW(model::GptConfig::from_json(R"({"d_model": 30, "n_heads": 4})"), Error);
  EXPECT_THROW(model::GptConfig::from_json(R"({"n_layers": -1})"), Error);
  EXPECT_THROW(model::GptConfig::from_json(R"({"layers": 2})"), Error);
  EXPECT_THROW(model::GptConfig::from_json(R"({"attn_dropout": 1.0})"), Error);
  EXPECT_THROW(model::GptConfig::from_json(R"({"attn_dropout": "x"})"), Error);
  EXPECT_THROW(model::GptConfig::from_json("[1, 2]"), Error);
}

TEST(GptTrain, EmptyOrShortCorpusIsAnError) {
  const std::string dir = temp_dir("gpt_corpus");
  {
    std::ofstream(dir + "/empty.txt");
    std::ofstream(dir + "/short.txt") << "tiny";
  }
  EXPECT_THROW(train::TextDataset::from_file(dir + "/empty.txt", 0.05, 33), Error);
  EXPECT_THROW(train::TextDataset::from_file(dir + "/short.txt", 0.05, 33), Error);
  EXPECT_THROW(train::TextDataset::from_file(dir + "/missing.txt", 0.05, 33), Error);
}

TEST(GptTrain, SamplerRejectsBadOptions) {
  infer::SamplerOptions o;
  o.top_p = 0.0f;
  EXPECT_THROW(infer::Sampler{o}, Error);
  o = {};
  o.temperature = -1.0f;
  EXPECT_THROW(infer::Sampler{o}, Error);
}

}  // namespace
}  // namespace attn::testing
