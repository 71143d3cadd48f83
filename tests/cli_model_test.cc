// End-to-end tests of `attn train` and `attn generate`: what a user runs, and every bad input.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "attn/nn/matmul_precision.h"
#include "cli_test_util.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace attn::cli_testing {
namespace {

using attn::testing::read_file;

const std::string kModels = std::string(ATTN_DATA_DIR) + "/models/";

void write_all(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

using CliModelTest = CliTest;

TEST_F(CliModelTest, TrainJsonPrintsEveryStepThenTheThroughput) {
  const CliRun r = run("train --preset tiny --steps 6 --json --out " + file("m.safetensors"));
  ASSERT_EQ(r.status, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  int steps = 0;
  nlohmann::json last;
  while (std::getline(lines, line)) {
    last = nlohmann::json::parse(line);
    if (last.contains("done")) break;
    EXPECT_EQ(last["step"], ++steps);
    EXPECT_TRUE(last.contains("loss"));
  }
  EXPECT_EQ(steps, 6);
  EXPECT_TRUE(last.contains("tokens_per_s"));
  EXPECT_TRUE(last.contains("val_loss"));
  EXPECT_TRUE(std::filesystem::exists(file("m.safetensors.loss.csv")));
  EXPECT_TRUE(std::filesystem::exists(file("m.safetensors.loss.png")));
}

// --pack-documents trains on other batches (documents packed end to end) of as many tokens.
TEST_F(CliModelTest, TrainOnPackedDocumentsRunsOtherBatches) {
  const auto first_loss = [&](const std::string& flags, const std::string& out) {
    const CliRun r = run("train --preset tiny --steps 2 --json --out " + file(out) + flags);
    EXPECT_EQ(r.status, 0) << r.err;
    std::istringstream lines(r.out);
    std::string line;
    std::getline(lines, line);
    return nlohmann::json::parse(line)["loss"].get<double>();
  };
  const double packed = first_loss(" --pack-documents", "packed.safetensors");
  const double plain = first_loss("", "plain.safetensors");
  EXPECT_TRUE(std::isfinite(packed));
  EXPECT_NE(packed, plain);
}

TEST_F(CliModelTest, TrainReportsItsPrecisionAndRejectsAnUnknownOne) {
  const CliRun bad =
      run("train --preset tiny --steps 2 --precision fp16 --out " + file("m.safetensors"));
  EXPECT_EQ(bad.status, kExitUsage);
  EXPECT_EQ(bad.err, "attn: --precision must be one of fp32 | bf16, got 'fp16'\n");
  const CliRun r =
      run("train --preset tiny --steps 2 --precision bf16 --json --out " + file("m.safetensors"));
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json last = nlohmann::json::parse(r.out.substr(r.out.rfind("{")));
  // The products in bf16 where the CPU computes it, else fp32 with a note on stderr; attention in
  // bf16 everywhere.
  EXPECT_EQ(last["precision"], nn::bf16_matmul_supported() ? "bf16" : "fp32");
  EXPECT_EQ(last["attention_precision"], "bf16");
  EXPECT_EQ(r.err, nn::bf16_matmul_supported()
                       ? ""
                       : "note: this CPU has no bf16 instructions; the matrix products run in "
                         "fp32, attention in bf16\n");
}

// The loss of a bf16 run falls as an fp32 run's does, from different values (attention is bf16
// on every CPU), and fp32 stays the default.
TEST_F(CliModelTest, TrainInBf16LowersTheLoss) {
  const auto run_losses = [&](const std::string& flags, nlohmann::json* last) {
    const CliRun r =
        run("train --preset tiny --steps 12 --json --out " + file("m.safetensors") + flags);
    EXPECT_EQ(r.status, 0) << r.err;
    std::vector<double> losses;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
      const nlohmann::json j = nlohmann::json::parse(line);
      if (j.contains("loss")) losses.push_back(j["loss"].get<double>());
      *last = j;
    }
    return losses;
  };
  nlohmann::json last;
  const std::vector<double> fp32 = run_losses("", &last);
  EXPECT_EQ(last["precision"], "fp32");
  EXPECT_EQ(last["attention_precision"], "fp32");
  const std::vector<double> bf16 = run_losses(" --precision bf16", &last);
  EXPECT_EQ(last["attention_precision"], "bf16");
  ASSERT_EQ(bf16.size(), 12u);
  ASSERT_EQ(fp32.size(), 12u);
  EXPECT_LT(bf16.back(), bf16.front() - 0.5);
  EXPECT_NE(bf16, fp32);
  for (size_t i = 0; i < fp32.size(); ++i) EXPECT_NEAR(bf16[i], fp32[i], 0.01) << "step " << i + 1;
}

TEST_F(CliModelTest, GenerateContinuesTheTextPrompt) {
  ASSERT_EQ(run("train --preset tiny --steps 2 --out " + file("m.safetensors")).status, 0);
  const CliRun r = run("generate --model " + file("m.safetensors") +
                       " --prompt 'Call me' --tokens 10 --temperature 0");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.rfind("Call me", 0), 0u) << r.out;
}

TEST_F(CliModelTest, NonUtf8PromptIsRejected) {
  ASSERT_EQ(run("train --preset tiny --steps 2 --out " + file("m.safetensors")).status, 0);
  const CliRun r =
      run("generate --model " + file("m.safetensors") + " --prompt \"$(printf '\\377\\376')\"");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(is_one_error_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("UTF-8"), std::string::npos) << r.err;
}

TEST_F(CliModelTest, CorruptCheckpointIsRejectedAndTheOutputKept) {
  write_all(file("bad.safetensors"), "garbage that is no checkpoint");
  write_all(file("out.safetensors"), "previous checkpoint");
  const CliRun r = run("train --preset tiny --steps 4 --resume " + file("bad.safetensors") +
                       " --out " + file("out.safetensors"));
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(is_one_error_line(r.err)) << r.err;
  EXPECT_EQ(read_file(file("out.safetensors")), "previous checkpoint");
}

TEST_F(CliModelTest, CorruptSafetensorsHeaderIsNamedAsSuch) {
  write_all(file("bad.safetensors"), "garbage that is no checkpoint");
  std::string broken_json = std::string("\x10\0\0\0\0\0\0\0", 8) + "{\"a\": [1, 2,      ";
  write_all(file("broken_json"), broken_json);
  for (const char* name : {"bad.safetensors", "broken_json"}) {
    const CliRun r = run("generate --model " + file(name) + " --tokens 1");
    EXPECT_EQ(r.status, kExitFailure) << name;
    EXPECT_TRUE(is_one_error_line(r.err)) << r.err;
    EXPECT_NE(r.err.find(file(name) + ": corrupt safetensors header"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("llama2.c"), std::string::npos) << r.err;
  }
}

TEST_F(CliModelTest, ProgressGoesToStderrAndTheResultToStdout) {
  const CliRun train = run("train --preset tiny --steps 4 --out " + file("m.safetensors"));
  ASSERT_EQ(train.status, 0) << train.err;
  EXPECT_EQ(train.out.rfind("trained 4 steps", 0), 0u) << train.out;
  EXPECT_EQ(std::count(train.out.begin(), train.out.end(), '\n'), 1) << train.out;
  EXPECT_NE(train.err.find("step 4/4"), std::string::npos) << train.err;
  const CliRun r = run("generate --model " + file("m.safetensors") +
                       " --prompt 'Call me' --tokens 5 --temperature 0");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.rfind("Call me", 0), 0u) << r.out;
  EXPECT_EQ(r.out.find("tokens/s"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("generated 5 tokens"), std::string::npos) << r.err;
}

TEST_F(CliModelTest, ImpossibleConfigIsRejected) {
  write_all(file("config.json"), R"({"model": {"d_model": 100, "n_heads": 3}})");
  const CliRun r =
      run("train --config " + file("config.json") + " --steps 2 --out " + file("m.safetensors"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("n_heads"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(file("m.safetensors")));
}

TEST_F(CliModelTest, EmptyCorpusIsRejected) {
  write_all(file("empty.txt"), "");
  const CliRun r =
      run("train --preset tiny --data " + file("empty.txt") + " --out " + file("m.safetensors"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("empty"), std::string::npos) << r.err;
}

TEST_F(CliModelTest, LlamaGreedyIdsMatchTheReference) {
  const CliRun r = run("generate --model " + kModels + "stories260K.bin --prompt-ids 1 " +
                       "--tokens 12 --temperature 0 --ids --dump-logits " + file("l.npy"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "461 461 401 401 401 461 378 455 473 456 435 299\n");
  const std::vector<float> logits = read_floats(file("l.npy"));
  EXPECT_EQ(logits.size(), 12u * 512u);  // the prompt token, then all but the last generated
}

TEST_F(CliModelTest, LlamaBadInputsAreRejected) {
  const std::string model = " --model " + kModels + "stories260K.bin";
  std::string too_long = "1";
  for (int i = 0; i < 512; ++i) too_long += ",1";
  for (const auto& [args, status] : std::vector<std::pair<std::string, int>>{
           {"generate" + model + " --prompt-ids 1,512", kExitFailure},  // beyond the vocabulary
           {"generate" + model + " --prompt-ids 1,x", kExitUsage},      // not a token id
           {"generate" + model + " --prompt-ids " + too_long, kExitFailure}}) {
    const CliRun r = run(args);
    EXPECT_EQ(r.status, status) << args;
    EXPECT_TRUE(is_one_error_line(r.err)) << r.err;
  }
  const std::string bytes = read_file(kModels + "stories260K.bin");
  write_all(file("truncated.bin"), bytes.substr(0, bytes.size() / 3));
  const CliRun r = run("generate --model " + file("truncated.bin") + " --ids");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
}

TEST_F(CliModelTest, VizGptDrawsTheAttentionOfEveryLayer) {
  ASSERT_EQ(run("train --preset tiny --steps 2 --out " + file("m.safetensors")).status, 0);
  for (const char* extra : {"", " --layer 1", " --average-heads"}) {
    const CliRun r = run("viz gpt --model " + file("m.safetensors") +
                         " --prompt 'Call me Ishmael.' --out " + file("a.png") + extra);
    ASSERT_EQ(r.status, 0) << extra << ": " << r.err;
    EXPECT_EQ(read_file(file("a.png")).substr(1, 3), "PNG") << extra;
    std::filesystem::remove(file("a.png"));
  }
}

TEST_F(CliModelTest, VizGptBadInputsAreRejected) {
  ASSERT_EQ(run("train --preset tiny --steps 2 --out " + file("m.safetensors")).status, 0);
  const auto files = [&] {
    std::set<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(file(""))) {
      names.insert(e.path().filename().string());
    }
    return names;
  };
  const std::set<std::string> before = files();
  for (const std::string& output : {" --out " + file("a.png"), " --html " + file("a.html")}) {
    const std::string model = " --model " + file("m.safetensors") + output;
    for (const auto& [args, says] : std::vector<std::pair<std::string, std::string>>{
             {"viz gpt" + model + " --prompt ''", "empty"},
             {"viz gpt" + model + " --prompt \"$(printf '\\377')\"", "UTF-8"},
             {"viz gpt" + model + " --prompt \"$(head -c 5000 /dev/zero | tr '\\0' a)\"",
              "context"},
             {"viz gpt --model " + kModels + "stories260K.bin --prompt x" + output,
              "stories260K"}}) {
      const CliRun r = run(args);
      EXPECT_EQ(r.status, 1) << args;
      EXPECT_TRUE(is_one_error_line(r.err)) << r.err;
      EXPECT_NE(r.err.find(says), std::string::npos) << r.err;
      EXPECT_EQ(files(), before) << args;  // no file, no temporary file
    }
  }
  const CliRun r = run("viz gpt --model " + file("m.safetensors") + " --out " + file("a.png") +
                       " --prompt x --layer 99");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("layers"), std::string::npos) << r.err;
}

TEST_F(CliModelTest, VizGptWritesTheExplorerPage) {
  ASSERT_EQ(run("train --preset tiny --steps 2 --out " + file("m.safetensors")).status, 0);
  const CliRun r = run("viz gpt --model " + file("m.safetensors") +
                       " --prompt 'Call me Ishmael.' --html " + file("a.html"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("wrote " + file("a.html")), std::string::npos) << r.out;
  const std::string html = read_file(file("a.html"));
  EXPECT_EQ(html.substr(0, 15), "<!DOCTYPE html>");
  EXPECT_NE(html.find("\"self-attention\""), std::string::npos);
  EXPECT_NE(html.find("GPT attention over"), std::string::npos);
}

TEST_F(CliModelTest, VizGptTakesExactlyOneOutput) {
  const std::string viz = "viz gpt --model m.safetensors --prompt x";
  for (const std::string& args :
       {viz, viz + " --out a.png --html a.html", viz + " --html a.html --layer 0",
        viz + " --html a.html --average-heads"}) {
    const CliRun r = run(args);
    EXPECT_EQ(r.status, kExitUsage) << args;
    EXPECT_TRUE(is_one_error_line(r.err)) << r.err;
  }
}

}  // namespace
}  // namespace attn::cli_testing
